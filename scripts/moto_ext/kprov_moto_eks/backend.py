"""The emulated EKS operations moto lacks, and fixes to the ones it has, as functions over moto's
own `EKSBackend` (one per account and region, so state stays isolated exactly as moto's is).

State kprov adds lives on moto's `Cluster` objects (`cluster._kprov`), so deleting a cluster or
resetting moto (`POST /moto-api/reset`) drops it along with the cluster, as on AWS.

Everything completes at once (no CREATING / UPDATING states), like the rest of moto; updates are
recorded with status `Successful` so DescribeUpdate / ListUpdates answer as AWS does afterwards.
Error codes and HTTP statuses are AWS's; messages follow AWS's wording where it is known.
"""

import json
import re
import uuid

from moto.core.utils import utcnow
from moto.eks.exceptions import (
    InvalidParameterException,
    InvalidRequestException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from moto.moto_api._internal import mock_random as random

from . import catalog

ROLE_ARN = re.compile(r"^arn:(?P<partition>[^:]+):iam::(?P<account>[0-9]{12}):role/(?P<name>.+)$")
PRINCIPAL_ARN = re.compile(r"^arn:(?P<partition>[^:]+):iam::(?P<account>[0-9]{12}):(?P<kind>role|user)/(?P<name>.+)$")


def not_found(message):
    return ResourceNotFoundException(
        clusterName=None, nodegroupName=None, fargateProfileName=None, addonName=None, message=message
    )


def in_use(message):
    return ResourceInUseException(clusterName=None, nodegroupName=None, addonName=None, message=message)


def invalid(message):
    return InvalidParameterException(message=message)


def bad_request(message):
    return InvalidRequestException(message=message)


class Ext:
    """What the extension keeps per cluster."""

    def __init__(self):
        self.addons = {}  # addon name -> Addon dict
        self.pod_identity = {}  # association id -> PodIdentityAssociation dict
        self.access_entries = {}  # principal ARN -> AccessEntry dict
        self.access_policies = {}  # principal ARN -> {policy ARN -> AssociatedAccessPolicy dict}
        self.updates = {}  # update id -> (nodegroup name | None, addon name | None, Update dict)
        self.update_order = []


def ext(cluster):
    if not hasattr(cluster, "_kprov"):
        cluster._kprov = Ext()
    return cluster._kprov


def get_cluster(backend, name):
    cluster = backend.clusters.get(name)
    if cluster is None:
        raise not_found(f"No cluster found for name: {name}.")
    return cluster


def get_nodegroup(cluster, name):
    ng = cluster.nodegroups.get(name)
    if ng is None:
        raise not_found(f"No node group found for name: {name}.")
    return ng


def check_role_arn(arn, what="roleArn"):
    if not arn or not ROLE_ARN.match(arn):
        raise invalid(f"Invalid {what}: '{arn}'")


def check_version(version):
    if version is not None and not catalog.version_known(version):
        raise invalid(f"unsupported Kubernetes version {version}")


def paginate(items, max_results, next_token):
    """AWS-style pagination over a sorted list: the token is the index to resume from."""
    max_results = int(max_results or 100)
    start = int(next_token) if next_token else 0
    page = items[start : start + max_results]
    nxt = str(start + max_results) if start + max_results < len(items) else None
    return page, nxt


# --- updates --------------------------------------------------------------------------------


def record_update(cluster, update_type, params, nodegroup=None, addon=None):
    update = {
        "id": str(uuid.uuid4()),
        "status": "Successful",
        "type": update_type,
        "params": [{"type": t, "value": v if isinstance(v, str) else json.dumps(v)} for t, v in params],
        "createdAt": utcnow(),
        "errors": [],
    }
    e = ext(cluster)
    e.updates[update["id"]] = (nodegroup, addon, update)
    e.update_order.append(update["id"])
    return update


def describe_update(backend, name, update_id, nodegroup=None, addon=None):
    cluster = get_cluster(backend, name)
    found = ext(cluster).updates.get(update_id)
    if found is None or found[0] != (nodegroup or None) or found[1] != (addon or None):
        raise not_found(f"No update found for ID: {update_id}")
    return found[2]


def list_updates(backend, name, nodegroup=None, addon=None, max_results=None, next_token=None):
    cluster = get_cluster(backend, name)
    if nodegroup:
        get_nodegroup(cluster, nodegroup)
    if addon:
        get_addon(cluster, addon)
    e = ext(cluster)
    ids = [i for i in e.update_order if e.updates[i][0] == (nodegroup or None) and e.updates[i][1] == (addon or None)]
    return paginate(ids, max_results, next_token)


# --- clusters -------------------------------------------------------------------------------


def validate_create_cluster(params):
    check_version(params.get("version"))
    access = params.get("accessConfig") or {}
    mode = access.get("authenticationMode")
    if mode is not None and mode not in catalog.AUTH_MODES:
        raise invalid(f"Unsupported authentication mode: {mode}")
    for setup in (params.get("logging") or {}).get("clusterLogging", []):
        for t in setup.get("types", []):
            if t not in catalog.LOG_TYPES:
                raise invalid(f"Unknown log type: {t}")


def finish_cluster(backend, cluster, params):
    """Fill in what moto leaves out of a new cluster: AWS's defaults for the VPC config and the
    access config, the VPC id, the cluster security group (a real one in moto's EC2, removed with
    the cluster as on AWS), the full logging block, a realistic version and platform version."""
    cluster.version = params.get("version") or catalog.DEFAULT_VERSION
    cluster.platformVersion = catalog.PLATFORM_VERSION
    access = params.get("accessConfig") or {}
    cluster.access_config = {
        "authenticationMode": access.get("authenticationMode") or "CONFIG_MAP",
        "bootstrapClusterCreatorAdminPermissions": access.get("bootstrapClusterCreatorAdminPermissions", True),
    }
    vpc = dict(cluster.resources_vpc_config or {})
    vpc.setdefault("subnetIds", [])
    vpc.setdefault("securityGroupIds", [])
    vpc.setdefault("endpointPublicAccess", True)
    vpc.setdefault("endpointPrivateAccess", False)
    # AWS reports the default CIDR list even for a private-only endpoint.
    vpc.setdefault("publicAccessCidrs", ["0.0.0.0/0"])
    vpc_id, sg_id = _cluster_security_group(backend, cluster, vpc["subnetIds"])
    vpc["vpcId"] = vpc_id
    vpc["clusterSecurityGroupId"] = sg_id
    cluster.resources_vpc_config = vpc
    cluster.logging = {"clusterLogging": _logging_blocks(_enabled_log_types(cluster.logging))}
    cluster.health = {"issues": []}
    ext(cluster)


def _cluster_security_group(backend, cluster, subnet_ids):
    try:
        from moto.ec2.models import ec2_backends

        ec2 = ec2_backends[backend.account_id][backend.region_name]
        subnet = ec2.get_subnet(subnet_ids[0])
        sg = ec2.create_security_group(
            name=f"eks-cluster-sg-{cluster.name}-{random.get_random_string(10).lower()}",
            description="EKS created security group applied to ENI that is attached to EKS Control Plane "
            "master nodes, as well as any managed workloads.",
            vpc_id=subnet.vpc_id,
            tags={"aws:eks:cluster-name": cluster.name, f"kubernetes.io/cluster/{cluster.name}": "owned"},
        )
        return subnet.vpc_id, sg.id
    except Exception:  # noqa: BLE001 - subnets unknown to EC2: still answer, as AWS would have
        return "vpc-" + random.get_random_string(17).lower(), "sg-" + random.get_random_string(17).lower()


def delete_cluster_extras(backend, cluster):
    sg_id = (cluster.resources_vpc_config or {}).get("clusterSecurityGroupId")
    if not sg_id:
        return
    try:
        from moto.ec2.models import ec2_backends

        ec2_backends[backend.account_id][backend.region_name].delete_security_group(group_id=sg_id)
    except Exception:  # noqa: BLE001 - already gone, or never created in EC2
        pass


def _enabled_log_types(logging):
    enabled = set()
    for setup in (logging or {}).get("clusterLogging", []):
        if setup.get("enabled"):
            enabled.update(setup.get("types", []))
    return enabled


def _logging_blocks(enabled):
    on = [t for t in catalog.LOG_TYPES if t in enabled]
    off = [t for t in catalog.LOG_TYPES if t not in enabled]
    blocks = []
    if on:
        blocks.append({"types": on, "enabled": True})
    if off:
        blocks.append({"types": off, "enabled": False})
    return blocks


UPDATE_KINDS = [
    "logging",
    "resourcesVpcConfig",
    "accessConfig",
    "upgradePolicy",
    "zonalShiftConfig",
    "computeConfig",
    "kubernetesNetworkConfig",
    "storageConfig",
    "remoteNetworkConfig",
    "deletionProtection",
]


def update_cluster_config(backend, name, params):
    """UpdateClusterConfig as AWS does it: one kind of change per call, fields not sent are left
    as they are (moto replaces the whole VPC config and drops accessConfig), a call that changes
    nothing is refused, and the answer is an `update` to follow with DescribeUpdate."""
    cluster = get_cluster(backend, name)
    kinds = [k for k in UPDATE_KINDS if params.get(k) is not None]
    if len(kinds) != 1:
        raise invalid("Only one type of update can be allowed." if kinds else "No update parameters given.")
    kind = kinds[0]
    if kind == "logging":
        current = _enabled_log_types(cluster.logging)
        wanted = set(current)
        changes = []
        for setup in params["logging"].get("clusterLogging", []):
            for t in setup.get("types", []):
                if t not in catalog.LOG_TYPES:
                    raise invalid(f"Unknown log type: {t}")
                (wanted.add if setup.get("enabled") else wanted.discard)(t)
        if wanted == current:
            raise invalid("No changes needed for the logging config provided")
        cluster.logging = {"clusterLogging": _logging_blocks(wanted)}
        changes.append(("ClusterLogging", cluster.logging["clusterLogging"]))
        return record_update(cluster, "LoggingUpdate", changes)
    if kind == "resourcesVpcConfig":
        req = params["resourcesVpcConfig"]
        vpc = dict(cluster.resources_vpc_config)
        endpoint_keys = ["endpointPublicAccess", "endpointPrivateAccess", "publicAccessCidrs"]
        network_keys = ["subnetIds", "securityGroupIds"]
        if any(k in req for k in endpoint_keys) and any(k in req for k in network_keys):
            raise invalid("Only one type of update can be allowed.")
        if any(k in req for k in network_keys):
            subnets = req.get("subnetIds", vpc["subnetIds"])
            if len(subnets) < 2:
                raise invalid("Provided subnets must be in at least two different availability zones.")
            before = (list(vpc["subnetIds"]), list(vpc["securityGroupIds"]))
            vpc["subnetIds"] = list(subnets)
            vpc["securityGroupIds"] = list(req.get("securityGroupIds", vpc["securityGroupIds"]))
            if (vpc["subnetIds"], vpc["securityGroupIds"]) == before:
                raise invalid("Cluster is already at the desired configuration with subnets and security groups")
            cluster.resources_vpc_config = vpc
            return record_update(
                cluster, "VpcConfigUpdate", [("Subnets", vpc["subnetIds"]), ("SecurityGroups", vpc["securityGroupIds"])]
            )
        before = {k: vpc.get(k) for k in endpoint_keys}
        for k in endpoint_keys:
            if k in req:
                vpc[k] = req[k]
        if not vpc["endpointPublicAccess"] and not vpc["endpointPrivateAccess"]:
            raise invalid("Cluster must have either public or private API server endpoint access enabled.")
        if vpc["endpointPublicAccess"] and not vpc.get("publicAccessCidrs"):
            vpc["publicAccessCidrs"] = ["0.0.0.0/0"]
        if {k: vpc.get(k) for k in endpoint_keys} == before:
            raise invalid(
                "Cluster is already at the desired configuration with endpointPrivateAccess: "
                f"{str(vpc['endpointPrivateAccess']).lower()} , endpointPublicAccess: "
                f"{str(vpc['endpointPublicAccess']).lower()}, and Public Endpoint Restrictions: "
                f"{vpc.get('publicAccessCidrs')}"
            )
        cluster.resources_vpc_config = vpc
        return record_update(
            cluster,
            "EndpointAccessUpdate",
            [
                ("EndpointPublicAccess", str(vpc["endpointPublicAccess"]).lower()),
                ("EndpointPrivateAccess", str(vpc["endpointPrivateAccess"]).lower()),
                ("PublicAccessCidrs", vpc.get("publicAccessCidrs", [])),
            ],
        )
    if kind == "accessConfig":
        mode = params["accessConfig"].get("authenticationMode")
        current = cluster.access_config["authenticationMode"]
        if mode not in catalog.AUTH_MODES:
            raise invalid(f"Unsupported authentication mode: {mode}")
        if mode == current:
            raise invalid(f"Cluster already has authentication mode {mode}")
        if (current, mode) not in catalog.AUTH_MODE_UPGRADES:
            raise invalid(f"Unsupported authentication mode update from {current} to {mode}")
        cluster.access_config = dict(cluster.access_config, authenticationMode=mode)
        return record_update(cluster, "AccessConfigUpdate", [("AuthenticationMode", mode)])
    # Other kinds: accepted and recorded, not modelled further.
    return record_update(cluster, "ConfigUpdate", [])


def update_cluster_version(backend, name, version):
    """UpdateClusterVersion: exactly one minor version up, as AWS allows."""
    cluster = get_cluster(backend, name)
    check_version(version)
    if version == cluster.version:
        raise invalid(f"Cluster is already at the desired version {version}")
    if catalog.minor(version) != catalog.minor(cluster.version) + 1:
        raise invalid(f"Unsupported Kubernetes minor version update from {cluster.version} to {version}")
    cluster.version = version
    cluster.platformVersion = "eks.1"
    return record_update(cluster, "VersionUpdate", [("Version", version), ("PlatformVersion", "eks.1")])


# --- node groups ----------------------------------------------------------------------------


def validate_create_nodegroup(backend, name, params):
    cluster = get_cluster(backend, name)
    version = params.get("version")
    check_version(version)
    if version and catalog.minor(version) > catalog.minor(cluster.version):
        raise invalid(f"Requested Nodegroup release version {version} is newer than the cluster version")
    ami_type = params.get("amiType")
    if ami_type is not None and ami_type not in catalog.ami_types():
        raise invalid(f"Unsupported AMI type: {ami_type}")
    if ami_type and ami_type != "CUSTOM":
        for it in params.get("instanceTypes") or []:
            if catalog.instance_arch(it) != catalog.ami_arch(ami_type):
                raise invalid(f"[{it}] is not a valid instance type for requested amiType {ami_type}")
    check_scaling(params.get("scalingConfig") or {})


def check_scaling(sc):
    lo, hi, want = sc.get("minSize"), sc.get("maxSize"), sc.get("desiredSize")
    if lo is not None and hi is not None and lo > hi:
        raise invalid(f"Minimum capacity {lo} can't be greater than maximum capacity {hi}")
    if want is not None and lo is not None and want < lo:
        raise invalid(f"Desired capacity {want} can't be less than minimum capacity {lo}")
    if want is not None and hi is not None and want > hi:
        raise invalid(f"Desired capacity {want} can't be greater than maximum capacity {hi}")
    if hi is not None and hi < 1:
        raise invalid("Maximum capacity must be at least 1")


def finish_nodegroup(backend, name, nodegroup, ami_given):
    cluster = get_cluster(backend, name)
    if not nodegroup.version or nodegroup.version == "1.19":
        nodegroup.version = cluster.version
    nodegroup.release_version = _release_version(nodegroup.version)
    nodegroup.disk_size = int(nodegroup.disk_size or 20)
    nodegroup.update_config = nodegroup.update_config or {"maxUnavailable": 1}
    nodegroup.health = {"issues": []}
    # moto shares one default dict between node groups; give each its own.
    nodegroup.scaling_config = dict(nodegroup.scaling_config)
    if not ami_given:
        # AWS's default since Kubernetes 1.30: AL2023, for the instance types' architecture.
        arm = any(catalog.instance_arch(t) == "arm64" for t in nodegroup.instance_types)
        nodegroup.ami_type = "AL2023_ARM_64_STANDARD" if arm else "AL2023_x86_64_STANDARD"


def _release_version(version):
    return f"{version}.3-20250101"


def record_nodegroup_update(backend, name, nodegroup_name, update):
    """Record moto's answer to UpdateNodegroupConfig so DescribeUpdate / ListUpdates find it."""
    e = ext(get_cluster(backend, name))
    e.updates[update["id"]] = (nodegroup_name, None, update)
    e.update_order.append(update["id"])
    return update


def check_nodegroup_config(backend, name, nodegroup_name, params):
    cluster = get_cluster(backend, name)
    ng = get_nodegroup(cluster, nodegroup_name)
    merged = dict(ng.scaling_config or {})
    merged.update(params.get("scalingConfig") or {})
    check_scaling(merged)
    uc = params.get("updateConfig") or {}
    if "maxUnavailable" in uc and "maxUnavailablePercentage" in uc:
        raise invalid("Only one of maxUnavailable and maxUnavailablePercentage may be given")


def update_nodegroup_version(backend, name, nodegroup_name, version=None, release_version=None):
    """UpdateNodegroupVersion: to the cluster's version unless told otherwise, never above it,
    never down."""
    cluster = get_cluster(backend, name)
    ng = get_nodegroup(cluster, nodegroup_name)
    target = version or cluster.version
    check_version(target)
    if catalog.minor(target) > catalog.minor(cluster.version):
        raise invalid(f"Requested Nodegroup version {target} is newer than the cluster version {cluster.version}")
    if catalog.minor(target) < catalog.minor(ng.version):
        raise invalid(f"Requested Nodegroup version {target} is older than the current version {ng.version}")
    new_release = release_version or _release_version(target)
    if target == ng.version and new_release == ng.release_version:
        raise invalid(f"Nodegroup {nodegroup_name} is already at version {target} ({new_release})")
    ng.version = target
    ng.release_version = new_release
    ng.modified_at = utcnow()
    return record_update(
        cluster, "VersionUpdate", [("Version", target), ("ReleaseVersion", new_release)], nodegroup=nodegroup_name
    )


# --- add-ons --------------------------------------------------------------------------------


def get_addon(cluster, name):
    addon = ext(cluster).addons.get(name)
    if addon is None:
        raise not_found(f"No addon: {name} found in cluster: {cluster.name}")
    return addon


def _check_addon_version(name, version, k8s):
    if name not in catalog.ADDONS:
        raise invalid(f"Addon {name} specified is not supported in {k8s} cluster version")
    if version is None:
        found = catalog.default_addon_version(name, k8s)
        if found is None:
            raise invalid(f"Addon {name} specified is not supported in {k8s} cluster version")
        return found
    if version not in catalog.compatible_versions(name, k8s):
        raise invalid(f"Addon version specified is not supported: {version} for {name} on Kubernetes {k8s}")
    return version


def _check_configuration_values(values):
    if values is None:
        return
    try:
        doc = json.loads(values)
    except ValueError as e:
        raise invalid(f"ConfigurationValue provided in request is not supported: Json schema validation failed ({e})")
    if not isinstance(doc, dict):
        raise invalid("ConfigurationValue provided in request is not supported: expected a JSON object")


def create_addon(backend, name, params):
    cluster = get_cluster(backend, name)
    e = ext(cluster)
    addon_name = params.get("addonName")
    if addon_name in e.addons:
        existing = e.addons[addon_name]
        token = params.get("clientRequestToken")
        if token and existing.get("_token") == token:
            return existing
        raise in_use("Addon already exists.")
    version = _check_addon_version(addon_name, params.get("addonVersion"), cluster.version)
    _check_configuration_values(params.get("configurationValues"))
    if params.get("serviceAccountRoleArn"):
        check_role_arn(params["serviceAccountRoleArn"], "serviceAccountRoleArn")
    now = utcnow()
    addon = {
        "addonName": addon_name,
        "clusterName": name,
        "status": "ACTIVE",
        "addonVersion": version,
        "health": {"issues": []},
        "addonArn": f"arn:{backend.partition}:eks:{backend.region_name}:{backend.account_id}:addon/{name}/"
        f"{addon_name}/{uuid.uuid4()}",
        "createdAt": now,
        "modifiedAt": now,
        "tags": dict(params.get("tags") or {}),
        "publisher": "eks",
        "owner": "aws",
        "podIdentityAssociations": [],
        "_token": params.get("clientRequestToken"),
    }
    if params.get("serviceAccountRoleArn"):
        addon["serviceAccountRoleArn"] = params["serviceAccountRoleArn"]
    if params.get("configurationValues") is not None:
        addon["configurationValues"] = params["configurationValues"]
    addon["podIdentityAssociations"] = _addon_associations(backend, cluster, addon, params.get("podIdentityAssociations"))
    e.addons[addon_name] = addon
    return addon


def _addon_associations(backend, cluster, addon, wanted):
    """Create the pod identity associations an add-on asks for (owned by the add-on, in its
    namespace) and return their ARNs; the add-on's previous ones are removed first."""
    e = ext(cluster)
    for aid in [a for a, v in e.pod_identity.items() if v.get("ownerArn") == addon["addonArn"]]:
        del e.pod_identity[aid]
    arns = []
    for pia in wanted or []:
        check_role_arn(pia.get("roleArn"))
        assoc = _new_association(
            backend,
            cluster,
            catalog.addon_namespace(addon["addonName"]),
            pia.get("serviceAccount"),
            pia.get("roleArn"),
            {},
            owner=addon["addonArn"],
        )
        arns.append(assoc["associationArn"])
    return arns


def update_addon(backend, name, addon_name, params):
    cluster = get_cluster(backend, name)
    addon = get_addon(cluster, addon_name)
    changes = []
    if params.get("addonVersion") and params["addonVersion"] != addon["addonVersion"]:
        addon["addonVersion"] = _check_addon_version(addon_name, params["addonVersion"], cluster.version)
        changes.append(("AddonVersion", addon["addonVersion"]))
    if params.get("serviceAccountRoleArn") is not None:
        if params["serviceAccountRoleArn"]:
            check_role_arn(params["serviceAccountRoleArn"], "serviceAccountRoleArn")
            addon["serviceAccountRoleArn"] = params["serviceAccountRoleArn"]
        else:
            addon.pop("serviceAccountRoleArn", None)
        changes.append(("ServiceAccountRoleArn", params["serviceAccountRoleArn"]))
    if params.get("configurationValues") is not None:
        _check_configuration_values(params["configurationValues"] or None)
        if params["configurationValues"]:
            addon["configurationValues"] = params["configurationValues"]
        else:
            addon.pop("configurationValues", None)
        changes.append(("ConfigurationValues", params["configurationValues"]))
    if params.get("podIdentityAssociations") is not None:
        addon["podIdentityAssociations"] = _addon_associations(
            backend, cluster, addon, params["podIdentityAssociations"]
        )
        changes.append(("PodIdentityAssociations", addon["podIdentityAssociations"]))
    if params.get("resolveConflicts"):
        changes.append(("ResolveConflicts", params["resolveConflicts"]))
    addon["modifiedAt"] = utcnow()
    return record_update(cluster, "AddonUpdate", changes, addon=addon_name)


def delete_addon(backend, name, addon_name):
    cluster = get_cluster(backend, name)
    addon = get_addon(cluster, addon_name)
    _addon_associations(backend, cluster, addon, [])
    del ext(cluster).addons[addon_name]
    return dict(addon, status="DELETING")


def list_addons(backend, name, max_results=None, next_token=None):
    cluster = get_cluster(backend, name)
    return paginate(sorted(ext(cluster).addons), max_results, next_token)


def describe_cluster_versions(max_results=None, next_token=None):
    """DescribeClusterVersions: the Kubernetes versions the emulated EKS accepts (all in standard
    support here; kprov only reads `clusterVersion`)."""
    infos = [
        {
            "clusterVersion": v,
            "clusterType": "eks",
            "defaultPlatformVersion": catalog.PLATFORM_VERSION,
            "defaultVersion": v == catalog.DEFAULT_VERSION,
            "versionStatus": "STANDARD_SUPPORT",
        }
        for v in catalog.SUPPORTED_VERSIONS
    ]
    return paginate(infos, max_results, next_token)


def describe_addon_versions(k8s_version=None, addon_name=None, max_results=None, next_token=None):
    names = sorted(catalog.ADDONS)
    if addon_name:
        names = [n for n in names if n == addon_name]
    infos = [catalog.addon_info(n, k8s_version) for n in names]
    infos = [i for i in infos if i["addonVersions"]]
    return paginate(infos, max_results, next_token)


# --- pod identity associations -------------------------------------------------------------


def _new_association(backend, cluster, namespace, service_account, role_arn, tags, owner=None, token=None):
    e = ext(cluster)
    if not namespace or not service_account:
        raise invalid("namespace and serviceAccount are required")
    for existing in e.pod_identity.values():
        if existing["namespace"] == namespace and existing["serviceAccount"] == service_account:
            if token and existing.get("_token") == token:
                return existing
            raise in_use(f"Association already exists: {existing['associationId']}")
    aid = "a-" + random.get_random_string(17).lower()
    now = utcnow()
    assoc = {
        "clusterName": cluster.name,
        "namespace": namespace,
        "serviceAccount": service_account,
        "roleArn": role_arn,
        "associationArn": f"arn:{backend.partition}:eks:{backend.region_name}:{backend.account_id}:"
        f"podidentityassociation/{cluster.name}/{aid}",
        "associationId": aid,
        "tags": dict(tags or {}),
        "createdAt": now,
        "modifiedAt": now,
        "disableSessionTags": False,
        "_token": token,
    }
    if owner:
        assoc["ownerArn"] = owner
    e.pod_identity[aid] = assoc
    return assoc


def create_pod_identity_association(backend, name, params):
    cluster = get_cluster(backend, name)
    check_role_arn(params.get("roleArn"))
    return _new_association(
        backend,
        cluster,
        params.get("namespace"),
        params.get("serviceAccount"),
        params.get("roleArn"),
        params.get("tags"),
        token=params.get("clientRequestToken"),
    )


def get_association(cluster, aid):
    assoc = ext(cluster).pod_identity.get(aid)
    if assoc is None:
        raise not_found(f"No Pod Identity Association found for id: {aid}")
    return assoc


def update_pod_identity_association(backend, name, aid, params):
    cluster = get_cluster(backend, name)
    assoc = get_association(cluster, aid)
    if assoc.get("ownerArn"):
        raise bad_request(f"Pod Identity Association {aid} is owned by {assoc['ownerArn']}; update it through its owner")
    if params.get("roleArn"):
        check_role_arn(params["roleArn"])
        assoc["roleArn"] = params["roleArn"]
    if params.get("disableSessionTags") is not None:
        assoc["disableSessionTags"] = params["disableSessionTags"]
    assoc["modifiedAt"] = utcnow()
    return assoc


def delete_pod_identity_association(backend, name, aid):
    cluster = get_cluster(backend, name)
    assoc = get_association(cluster, aid)
    if assoc.get("ownerArn"):
        raise bad_request(f"Pod Identity Association {aid} is owned by {assoc['ownerArn']}; delete it through its owner")
    del ext(cluster).pod_identity[aid]
    return assoc


def list_pod_identity_associations(backend, name, namespace=None, service_account=None, max_results=None, token=None):
    cluster = get_cluster(backend, name)
    items = [
        {k: a[k] for k in ("clusterName", "namespace", "serviceAccount", "associationArn", "associationId", "ownerArn") if k in a}
        for a in sorted(ext(cluster).pod_identity.values(), key=lambda a: a["associationId"])
        if (not namespace or a["namespace"] == namespace) and (not service_account or a["serviceAccount"] == service_account)
    ]
    return paginate(items, max_results, token)


# --- access entries -------------------------------------------------------------------------


def _require_api_mode(cluster):
    if cluster.access_config.get("authenticationMode") not in ("API", "API_AND_CONFIG_MAP"):
        raise bad_request(
            "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation."
        )


def get_access_entry(cluster, principal):
    entry = ext(cluster).access_entries.get(principal)
    if entry is None:
        raise not_found(
            "The specified principalArn could not be found. You can view your available access entries with "
            "'list-access-entries'."
        )
    return entry


def create_access_entry(backend, name, params):
    cluster = get_cluster(backend, name)
    _require_api_mode(cluster)
    principal = params.get("principalArn") or ""
    m = PRINCIPAL_ARN.match(principal)
    if not m:
        raise invalid(f"The specified principalArn is invalid: {principal}")
    e = ext(cluster)
    if principal in e.access_entries:
        existing = e.access_entries[principal]
        if params.get("clientRequestToken") and existing.get("_token") == params["clientRequestToken"]:
            return existing
        raise in_use("The specified access entry resource is already in use on this cluster.")
    entry_type = params.get("type") or "STANDARD"
    if entry_type not in catalog.ACCESS_ENTRY_TYPES:
        raise invalid(f"The specified type is invalid: {entry_type}")
    groups = params.get("kubernetesGroups") or []
    if entry_type != "STANDARD" and (groups or params.get("username")):
        raise invalid(f"kubernetesGroups and username cannot be specified for an access entry of type {entry_type}")
    for g in groups:
        if g.startswith("system:"):
            raise invalid(f"The kubernetes group name {g} is invalid, it cannot start with system:")
    if m.group("kind") == "role":
        default_user = f"arn:{m.group('partition')}:sts::{m.group('account')}:assumed-role/{m.group('name').split('/')[-1]}/{{{{SessionName}}}}"
    else:
        default_user = principal
    if entry_type.startswith("EC2"):
        default_user = "system:node:{{EC2PrivateDNSName}}"
    now = utcnow()
    entry = {
        "clusterName": name,
        "principalArn": principal,
        "kubernetesGroups": list(groups),
        "accessEntryArn": f"arn:{backend.partition}:eks:{backend.region_name}:{backend.account_id}:access-entry/"
        f"{name}/{m.group('kind')}/{m.group('account')}/{m.group('name').split('/')[-1]}/{uuid.uuid4()}",
        "createdAt": now,
        "modifiedAt": now,
        "tags": dict(params.get("tags") or {}),
        "username": params.get("username") or default_user,
        "type": entry_type,
        "_token": params.get("clientRequestToken"),
    }
    e.access_entries[principal] = entry
    return entry


def update_access_entry(backend, name, principal, params):
    cluster = get_cluster(backend, name)
    entry = get_access_entry(cluster, principal)
    if params.get("kubernetesGroups") is not None:
        if entry["type"] != "STANDARD":
            raise invalid(f"kubernetesGroups cannot be specified for an access entry of type {entry['type']}")
        entry["kubernetesGroups"] = list(params["kubernetesGroups"])
    if params.get("username"):
        entry["username"] = params["username"]
    entry["modifiedAt"] = utcnow()
    return entry


def delete_access_entry(backend, name, principal):
    cluster = get_cluster(backend, name)
    get_access_entry(cluster, principal)
    e = ext(cluster)
    del e.access_entries[principal]
    e.access_policies.pop(principal, None)


def list_access_entries(backend, name, policy_arn=None, max_results=None, token=None):
    cluster = get_cluster(backend, name)
    _require_api_mode(cluster)
    e = ext(cluster)
    items = sorted(p for p in e.access_entries if not policy_arn or policy_arn in e.access_policies.get(p, {}))
    return paginate(items, max_results, token)


def _check_scope(scope):
    scope = scope or {}
    stype = scope.get("type")
    namespaces = scope.get("namespaces") or []
    if stype not in ("cluster", "namespace"):
        raise invalid(f"The specified access scope type is invalid: {stype}")
    if stype == "namespace" and not namespaces:
        raise invalid("At least one namespace is required when the access scope type is namespace")
    if stype == "cluster" and namespaces:
        raise invalid("Namespaces cannot be specified when the access scope type is cluster")
    return {"type": stype, "namespaces": list(namespaces)}


def associate_access_policy(backend, name, principal, params):
    cluster = get_cluster(backend, name)
    entry = get_access_entry(cluster, principal)
    if entry["type"] != "STANDARD":
        raise bad_request(f"Access policies can only be associated with access entries of type STANDARD, not {entry['type']}")
    policy = params.get("policyArn")
    known = [catalog.access_policy_arn(backend.partition, n) for n in catalog.CLUSTER_ACCESS_POLICIES]
    if policy not in known:
        raise not_found(f"The specified policyArn could not be found: {policy}")
    scope = _check_scope(params.get("accessScope"))
    policies = ext(cluster).access_policies.setdefault(principal, {})
    now = utcnow()
    assoc = policies.get(policy)
    if assoc is None:
        assoc = {"policyArn": policy, "associatedAt": now}
        policies[policy] = assoc
    assoc["accessScope"] = scope
    assoc["modifiedAt"] = now
    return assoc


def list_associated_access_policies(backend, name, principal, max_results=None, token=None):
    cluster = get_cluster(backend, name)
    get_access_entry(cluster, principal)
    items = sorted(ext(cluster).access_policies.get(principal, {}).values(), key=lambda a: a["policyArn"])
    return paginate(items, max_results, token)


def disassociate_access_policy(backend, name, principal, policy):
    cluster = get_cluster(backend, name)
    get_access_entry(cluster, principal)
    policies = ext(cluster).access_policies.get(principal, {})
    if policy not in policies:
        raise not_found(f"The specified policyArn {policy} is not associated with the principal {principal}")
    del policies[policy]


def list_access_policies(backend, max_results=None, token=None):
    items = [
        {"name": n, "arn": catalog.access_policy_arn(backend.partition, n)} for n in catalog.CLUSTER_ACCESS_POLICIES
    ]
    return paginate(items, max_results, token)


# --- tags on every taggable EKS resource ----------------------------------------------------


def tagged(backend, arn):
    """The tags dict of the EKS resource `arn` (a live reference), whatever its kind: moto only
    knows cluster ARNs."""
    for cluster in backend.clusters.values():
        if cluster.arn == arn:
            return cluster.tags
        for ng in cluster.nodegroups.values():
            if ng.arn == arn:
                return ng.tags
        for fp in cluster.fargate_profiles.values():
            if fp.fargate_profile_arn == arn:
                return fp.tags
        e = ext(cluster)
        for addon in e.addons.values():
            if addon["addonArn"] == arn:
                return addon["tags"]
        for assoc in e.pod_identity.values():
            if assoc["associationArn"] == arn:
                return assoc["tags"]
        for entry in e.access_entries.values():
            if entry["accessEntryArn"] == arn:
                return entry["tags"]
    raise not_found(f"Resource was not found: {arn}")
