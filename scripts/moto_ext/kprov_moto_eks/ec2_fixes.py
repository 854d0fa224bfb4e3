"""Fixes to moto's EC2, where moto 5.2.5 differs from AWS in ways kprov's tests meet.

1. NAT gateways. AWS: once a NAT gateway is `deleted`, its Elastic IP is disassociated and can be
   given to a new gateway. moto marks the gateway `deleted` at once but leaves the address
   associated with the gateway's network interface for ever, so re-creating a NAT gateway with the
   same Elastic IP fails with `Resource.AlreadyAssociated` — which the kill -9 soak met: a destroy
   killed after deleting a gateway but before releasing its address, then an apply that re-creates
   the gateway. Fixed: deleting a gateway disassociates its addresses and removes its network
   interface, as AWS does when the deletion completes (the realistic mode keeps the subnet busy
   while the gateway is `deleting`).
2. Filters with several values. AWS: "If you specify multiple values for a filter, the values are
   joined with an OR, and the request returns all results that match any of the specified values";
   several filters are joined with an AND (API reference, Filter:
   https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Filter.html). For an attribute with
   several values (a route table's `association.subnet-id`, `route.nat-gateway-id`, ...) moto
   matched only when the resource's values were a subset or a superset of the filter's, so a table
   associated with subnets A and B was not found by `association.subnet-id = [A, C]`, and wildcards
   worked only with a single filter value. Fixed: such an attribute matches when any of its values
   matches any of the filter's values (with `*` / `?` wildcards). Single-valued attributes, tags
   and instances were already "any of" and are left to moto.
3. DeleteSubnet. AWS removes a subnet's route-table associations with the subnet (an association
   has no existence apart from its subnet; DeleteSubnet's only precondition is that no network
   interfaces remain: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSubnet.html,
   and the usual teardown order — subnets, then their route tables — relies on it, as DeleteRouteTable
   refuses a table that still has associations). moto left the association in the route table,
   pointing at the deleted subnet, so DescribeRouteTables kept listing it. Fixed: deleting a subnet
   removes its associations from every route table.
"""

import fnmatch

from moto.ec2 import utils as ec2_utils
from moto.ec2.models.nat_gateways import NatGatewayBackend
from moto.ec2.models.subnets import SubnetBackend

_patched = False
_original_delete_nat_gateway = NatGatewayBackend.delete_nat_gateway
_original_is_filter_matching = ec2_utils.is_filter_matching
_original_delete_subnet = SubnetBackend.delete_subnet


def _delete_nat_gateway(self, nat_gateway_id):
    nat_gw = _original_delete_nat_gateway(self, nat_gateway_id)
    for address in getattr(nat_gw, "address_set", []):
        allocation_id = address.get("allocationId")
        if not allocation_id:
            continue
        for eip in self.address_by_allocation([allocation_id]):
            if eip.association_id:
                self.disassociate_address(association_id=eip.association_id)
    # The gateway's network interface goes with it (moto kept it, so its subnet could never be
    # deleted once DeleteSubnet checks for interfaces, as the realistic mode does).
    eni = getattr(nat_gw, "_eni", None)
    if eni is not None:
        self.enis.pop(eni.id, None)
    return nat_gw


def _value_matches(value, pattern):
    return value == pattern or (isinstance(value, str) and fnmatch.fnmatchcase(value, pattern))


def _is_filter_matching(obj, _filter, filter_value):
    """moto's `is_filter_matching`, with "any of" for attributes holding several values."""
    value = obj.get_filter_value(_filter)
    several = isinstance(value, (list, set, frozenset, tuple, type({}.keys()), type({}.values())))
    if not several or filter_value is None:
        return _original_is_filter_matching(obj, _filter, filter_value)
    patterns = filter_value if isinstance(filter_value, list) else [filter_value]
    return any(_value_matches(v, p) for v in value for p in patterns)


def _delete_subnet(self, subnet_id):
    subnet = _original_delete_subnet(self, subnet_id)
    for route_table in self.route_tables.values():
        for association_id, target in list(route_table._associations.items()):
            if target == subnet_id:
                del route_table._associations[association_id]
    return subnet


def install():
    """Idempotent. `generic_filter` looks `is_filter_matching` up in `moto.ec2.utils` at each
    call (no module imports it by name), so replacing it there reaches every EC2 Describe* that
    filters through it."""
    global _patched
    if not _patched:
        NatGatewayBackend.delete_nat_gateway = _delete_nat_gateway
        ec2_utils.is_filter_matching = _is_filter_matching
        SubnetBackend.delete_subnet = _delete_subnet
        _patched = True
