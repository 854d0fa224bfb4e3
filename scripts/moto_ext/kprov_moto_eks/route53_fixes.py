"""Fixes to moto's Route 53, where moto 5.2.5 differs from AWS in ways kprov's soak meets.

1. ChangeResourceRecordSets, action CREATE. AWS refuses a CREATE exactly when the zone already
   holds a record set with the same name, type (and set identifier), with InvalidChangeBatch
   "Tried to create resource record set ... but it already exists"; changes of one batch apply in
   order, all or none (API reference, ChangeResourceRecordSets:
   https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html).
   moto decides it differently: only a CREATE identical to one in its change journal is checked,
   and then against `get_record_sets(type, name)` — a *listing from* that name and type onwards,
   not a lookup — so an apex record (followed by the zone's NS and SOA) can never be created again
   after its deletion, while a CREATE with other values for an existing name and type adds a
   second record set. Fixed: the exact AWS rule, checked for the whole batch before any change.
2. CreateHostedZone. AWS: "You must use a unique CallerReference string every time you submit a
   CreateHostedZone request", and HostedZoneAlreadyExists is returned "when a hosted zone has
   already been created with the specified CallerReference" (API reference, CreateHostedZone:
   https://docs.aws.amazon.com/Route53/latest/APIReference/API_CreateHostedZone.html). moto
   ignored the reference and made a second zone. Fixed: every reference used by this account's
   backend is remembered (until a `/moto-api/reset`), and a second use is refused with
   HostedZoneAlreadyExists (HTTP 409, from botocore's model).
"""

import copy

from moto.route53.exceptions import (
    InvalidActionValue,
    InvalidInput,
    ResourceRecordAlreadyExists,
    Route53ClientError,
    DnsNameInvalidForZone,
)
from moto.route53.models import Route53Backend
from moto.route53.utils import validate_domain_name

_patched = False
_original_create_hosted_zone = Route53Backend.create_hosted_zone


class HostedZoneAlreadyExists(Route53ClientError):
    def __init__(self, name, caller_reference):
        super().__init__(
            "HostedZoneAlreadyExists",
            f"A hosted zone has already been created with the specified caller reference "
            f"{caller_reference!r} (creating {name}).",
        )


def _record_key(record_set):
    """A record set's identity in its zone: name (case-insensitive, no trailing dot), type and
    set identifier."""
    name = record_set.get("Name", "").rstrip(".").lower()
    return (name, record_set.get("Type"), record_set.get("SetIdentifier"))


def _refuse_existing_creates(zone, change_list):
    """AWS's CREATE rule over the batch in order: a DELETE frees its key, CREATE and UPSERT take
    one; a CREATE of a key that is taken is refused before anything changes."""
    present = {(r.name.rstrip(".").lower(), r.type, r.set_identifier) for r in zone.rrsets}
    for change in change_list:
        record_set = change["ResourceRecordSet"]
        key = _record_key(record_set)
        action = change["Action"]
        if action == "CREATE":
            if key in present:
                name = record_set["Name"].rstrip(".") + "."
                raise ResourceRecordAlreadyExists(name=name, _type=record_set["Type"])
            present.add(key)
        elif action == "UPSERT":
            present.add(key)
        elif action == "DELETE":
            present.discard(key)


def _change_resource_record_sets(self, zoneid, change_list):
    """moto's `change_resource_record_sets` with its duplicate test replaced by
    `_refuse_existing_creates`; the rest (DELETE values check, apply loop, journal) is moto's."""
    the_zone = self.get_hosted_zone(zoneid)
    for value in change_list:
        validate_domain_name(value["ResourceRecordSet"]["Name"], code="InvalidChangeBatch")
    _refuse_existing_creates(the_zone, change_list)

    for value in change_list:
        if value["Action"] == "DELETE":
            # AWS: to delete a record set, all the values it was created with must be given.
            if not the_zone.rr_changes.has_insert_or_update(value["ResourceRecordSet"]):
                record_set = value["ResourceRecordSet"]
                raise InvalidInput(
                    "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and "
                    "ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with "
                    f"[Action=DELETE, Name={record_set['Name']}, Type={record_set['Type']}, "
                    f"SetIdentifier={record_set.get('SetIdentifier', 'null')}]"
                )

    for value in change_list:
        original_change = copy.deepcopy(value)
        action = value["Action"]
        if action not in ("CREATE", "UPSERT", "DELETE"):
            raise InvalidActionValue(action)
        record_set = value["ResourceRecordSet"]
        if not record_set["Name"].strip(".").endswith(the_zone.name.strip(".")):
            raise DnsNameInvalidForZone(name=record_set["Name"], zone_name=the_zone.name)
        if not record_set["Name"].endswith("."):
            record_set["Name"] += "."
        if action in ("CREATE", "UPSERT"):
            if "ResourceRecords" in record_set:
                record_set["ResourceRecords"] = [x["Value"] for x in record_set["ResourceRecords"]]
            if action == "CREATE":
                the_zone.add_rrset(record_set)
            else:
                the_zone.upsert_rrset(record_set)
        elif "SetIdentifier" in record_set:
            the_zone.delete_rrset_by_id(record_set["SetIdentifier"])
        else:
            the_zone.delete_rrset(record_set)
        the_zone.rr_changes.append(original_change)


def _create_hosted_zone(self, name, private_zone, caller_reference=None, *args, **kwargs):
    used = self.__dict__.setdefault("_kprov_caller_references", set())
    if caller_reference is not None and caller_reference in used:
        raise HostedZoneAlreadyExists(name, caller_reference)
    zone = _original_create_hosted_zone(self, name, private_zone, caller_reference, *args, **kwargs)
    used.add(zone.caller_reference)
    return zone


def install():
    """Idempotent."""
    global _patched
    if not _patched:
        Route53Backend.change_resource_record_sets = _change_resource_record_sets
        Route53Backend.create_hosted_zone = _create_hosted_zone
        _patched = True
