"""Static EKS data the emulator answers from: Kubernetes versions, the add-on catalog, the
cluster access policies, AMI types and instance architectures.

The values approximate what AWS offered when this was written (2025). They only need to be
realistic in *shape* and in the rules they enforce (an add-on version must exist and be
compatible with the cluster's Kubernetes version, a policy ARN must be a known cluster access
policy, an ARM AMI type needs a Graviton instance type); kprov never relies on a particular
version string.
"""

from botocore.session import get_session

# Kubernetes minor versions the emulated EKS accepts, oldest first.
SUPPORTED_VERSIONS = [f"1.{m}" for m in range(24, 35)]
# What CreateCluster uses when no version is given.
DEFAULT_VERSION = "1.33"
PLATFORM_VERSION = "eks.12"

LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

AUTH_MODES = ["CONFIG_MAP", "API_AND_CONFIG_MAP", "API"]
# Allowed authentication-mode changes: only ever towards access entries, never back.
AUTH_MODE_UPGRADES = {("CONFIG_MAP", "API_AND_CONFIG_MAP"), ("CONFIG_MAP", "API"), ("API_AND_CONFIG_MAP", "API")}

ACCESS_ENTRY_TYPES = ["STANDARD", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "EC2", "HYBRID_LINUX", "HYPERPOD_LINUX"]

CLUSTER_ACCESS_POLICIES = [
    "AmazonEKSAdminPolicy",
    "AmazonEKSAdminViewPolicy",
    "AmazonEKSClusterAdminPolicy",
    "AmazonEKSEditPolicy",
    "AmazonEKSViewPolicy",
]


def access_policy_arn(partition, name):
    return f"arn:{partition}:eks::aws:cluster-access-policy/{name}"


def ami_types():
    """Every AMI type of the EKS API model botocore ships (the same list the SDK has)."""
    return list(get_session().get_service_model("eks").shape_for("AMITypes").enum)


def ami_arch(ami_type):
    return "arm64" if "ARM_64" in ami_type else "x86_64"


def instance_arch(instance_type):
    """`arm64` for Graviton families (a `g` right after the generation digit: t4g, m7g, c6gn),
    `x86_64` for the others (g5 and g4dn are x86 GPU instances: the `g` there is the class)."""
    family = instance_type.split(".", 1)[0]
    i = 0
    while i < len(family) and family[i].isalpha():
        i += 1
    while i < len(family) and family[i].isdigit():
        i += 1
    return "arm64" if family[i:].startswith("g") else "x86_64"


def _minor(v):
    return int(v.split(".")[1])


def _range(lo, hi):
    return [f"1.{m}" for m in range(lo, hi + 1)]


# name -> (namespace its service accounts live in, [(version, compatible k8s versions)]),
# versions oldest first; the default for a Kubernetes version is the newest compatible one.
ADDONS = {
    "vpc-cni": (
        "kube-system",
        [
            ("v1.18.6-eksbuild.1", _range(24, 31)),
            ("v1.19.2-eksbuild.1", _range(25, 34)),
            ("v1.20.4-eksbuild.2", _range(27, 34)),
        ],
    ),
    "coredns": (
        "kube-system",
        [
            ("v1.10.1-eksbuild.13", _range(24, 28)),
            ("v1.11.1-eksbuild.9", _range(29, 29)),
            ("v1.11.3-eksbuild.1", _range(29, 31)),
            ("v1.11.4-eksbuild.2", _range(30, 32)),
            ("v1.12.1-eksbuild.2", _range(33, 34)),
        ],
    ),
    "kube-proxy": ("kube-system", [(f"v1.{m}.0-eksbuild.3", [f"1.{m}"]) for m in range(24, 35)]),
    "aws-ebs-csi-driver": (
        "kube-system",
        [
            ("v1.35.0-eksbuild.1", _range(24, 31)),
            ("v1.37.0-eksbuild.1", _range(25, 34)),
            ("v1.44.0-eksbuild.1", _range(28, 34)),
        ],
    ),
    "aws-efs-csi-driver": (
        "kube-system",
        [("v2.0.7-eksbuild.1", _range(24, 31)), ("v2.1.4-eksbuild.1", _range(26, 34))],
    ),
    "eks-pod-identity-agent": (
        "kube-system",
        [("v1.3.2-eksbuild.2", _range(24, 31)), ("v1.3.4-eksbuild.1", _range(25, 34))],
    ),
    "amazon-cloudwatch-observability": (
        "amazon-cloudwatch",
        [("v2.1.2-eksbuild.1", _range(24, 31)), ("v2.6.0-eksbuild.1", _range(25, 34))],
    ),
}


def addon_namespace(name):
    return ADDONS[name][0]


def compatible_versions(name, k8s_version):
    return [v for v, ks in ADDONS[name][1] if k8s_version in ks]


def default_addon_version(name, k8s_version):
    vs = compatible_versions(name, k8s_version)
    return vs[-1] if vs else None


def addon_info(name, k8s_version=None):
    """One `AddonInfo` of DescribeAddonVersions, restricted to `k8s_version` when given."""
    versions = []
    for version, ks in reversed(ADDONS[name][1]):
        if k8s_version and k8s_version not in ks:
            continue
        shown = [k8s_version] if k8s_version else ks
        versions.append(
            {
                "addonVersion": version,
                "architecture": ["amd64", "arm64"],
                "computeTypes": ["ec2"],
                "compatibilities": [
                    {
                        "clusterVersion": k,
                        "platformVersions": ["*"],
                        "defaultVersion": default_addon_version(name, k) == version,
                    }
                    for k in shown
                ],
                "requiresConfiguration": False,
                "requiresIamPermissions": name in ("vpc-cni", "aws-ebs-csi-driver", "aws-efs-csi-driver"),
            }
        )
    return {
        "addonName": name,
        "type": _addon_type(name),
        "addonVersions": versions,
        "publisher": "eks",
        "owner": "aws",
    }


def _addon_type(name):
    if name in ("vpc-cni", "coredns", "kube-proxy"):
        return "networking"
    if name.endswith("csi-driver"):
        return "storage"
    if "cloudwatch" in name:
        return "observability"
    return "security"


def version_known(v):
    return v in SUPPORTED_VERSIONS


def minor(v):
    return _minor(v)
