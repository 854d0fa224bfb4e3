"""Realistic mode: moto made to behave like AWS in time — eventual consistency, leftovers, waits.

moto answers at once and consistently; AWS does not (issue 13, item 4). In realistic mode, per
region, the emulator answers like AWS does in the seconds after a change: a fresh IAM role cannot
be used yet, a fresh subnet is not found yet, a deleted load balancer's network interfaces still
block its subnets, a cluster stays CREATING. Each behaviour is one row of `RULES` (service,
actions, condition, the error code and message AWS sends, a window in real-AWS seconds, the source
it models); docs/testing.md has the same table.

Flow:
- `install()` wraps moto's WSGI application (`DomainDispatcherApplication.__call__`) with
  `_middleware`, and turns a few model attributes (NAT gateway `state`, load balancer `state`,
  EKS cluster / node group `status`) into properties that show the pending state while the
  resource is young.
- `POST /kprov-api/realistic` with JSON `{"region": R, "scale": 0.01, "seed": 7}` enables the
  mode for region R (`{"region": R, "enabled": false}` disables it); an optional `"account"`
  (12 digits, moto's `x-moto-account-id`) narrows it to that account's requests in R, so tests can
  each run their own scale in one region; `GET` answers the enabled
  regions and the rule table with each window already scaled. `/moto-api/reset` forgets
  everything the mode recorded (the enabled regions too).
- Every request in an enabled region is parsed (service and region from the SigV4 credential
  scope, action from the query / JSON target / REST path). Before moto sees it, the pre-rules may
  answer an AWS error instead; after moto answered successfully, the post-hooks record "born at"
  instants of what was created (keyed by account and id), leave ENIs behind deletes, schedule the
  control-plane log group, and rewrite statuses of young resources.
- Regions where the mode is not enabled are untouched: their requests go straight to moto, body
  unread, except IAM's, whose CreateRole is recorded (IAM is global: a role made through any
  region's endpoint must be known when an enabled region uses it); no answer is changed there.

Time: a window of W real-AWS seconds lasts W × scale here (`scale` = fraction of AWS's time, the
same number the simulated cloud uses for the durations of `src/engine/aws_model.toml`). Each
window is also shortened by a deterministic factor in [0.8, 1.0] drawn from (seed, rule, resource):
resources with the same ids see the same windows under the same seed (moto's ids are random
unless `POST /moto-api/seed?a=N` seeds them too), and no two resources age in lock step. Tests assert
the error at once (before 0.8 W) and success after W.
"""

import hashlib
import io
import json
import os
import re
import threading
import time
import tomllib
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

CONTROL_PATH = "/kprov-api/realistic"
DEFAULT_ACCOUNT = "123456789012"

_MODEL = os.path.join(os.path.dirname(__file__), "..", "..", "..", "src", "engine", "aws_model.toml")


def _durations():
    """The create / delete durations of kprov's AWS model (the simulated cloud's too)."""
    try:
        with open(_MODEL, "rb") as f:
            model = tomllib.load(f)
        return model.get("durations", {}).get("create", {}), model.get("durations", {}).get("delete", {})
    except OSError:
        return {}, {}


_CREATE, _DELETE = _durations()


def _create_s(kind, fallback):
    return float(_CREATE.get(kind, fallback))


def _delete_s(kind, fallback):
    return float(_DELETE.get(kind, _DELETE.get("default", fallback)))


TF = "terraform-provider-aws"
# Late control-plane logs re-create a deleted `/aws/eks/<cluster>/cluster` this long (real-AWS
# seconds) after its DeleteLogGroup.
LATE_LOG_DELAY_S = 10


@dataclass(frozen=True)
class Rule:
    name: str
    service: str
    actions: tuple
    condition: str
    code: str
    message: str
    window_s: float  # in real-AWS seconds; × scale here
    source: str


# The rule table. `window_s` is what AWS typically takes (observed), never the retry budget of
# terraform-provider-aws (which is much longer: it bounds the wait, it does not describe it).
RULES = {
    r.name: r
    for r in [
        # IAM is eventually consistent: "a change ... can take some time to become visible from all
        # services"; terraform-provider-aws retries EKS CreateCluster / CreateNodegroup on
        # InvalidParameterException "does not exist", "Error in role params", "Role could not be
        # assumed because the trusted entity is not correct" for propagationTimeout (2 min,
        # internal/service/eks/cluster.go, node_group.go).
        Rule(
            "iam-role-eks",
            "eks",
            ("CreateCluster", "CreateNodegroup", "CreateAccessEntry"),
            "the role (roleArn / nodeRole / principalArn) was created less than the window ago",
            "InvalidParameterException",
            "Role with arn: {arn}, could not be assumed because it does not exist or the trusted entity is not correct",
            10,
            "IAM User Guide, troubleshoot_general.html#troubleshoot_general_eventual-consistency; "
            f"{TF} internal/service/eks/cluster.go (retry on InvalidParameterException, propagationTimeout 2 min)",
        ),
        # KMS: "MalformedPolicyDocumentException ... if the principal was created recently";
        # terraform-provider-aws waitIAMPropagation retries CreateKey / PutKeyPolicy on
        # MalformedPolicyDocumentException for iamPropagationTimeout (2 min, internal/service/kms/wait.go).
        Rule(
            "iam-role-kms-policy",
            "kms",
            ("CreateKey", "PutKeyPolicy"),
            "the key policy names as AWS principal a role created less than the window ago",
            "MalformedPolicyDocumentException",
            "Policy contains a statement with one or more invalid principals.",
            10,
            f"KMS Developer Guide, programming-eventual-consistency.html; {TF} internal/service/kms/wait.go "
            "(waitIAMPropagation: RetryWhenIsA MalformedPolicyDocumentException, iamPropagationTimeout 2 min)",
        ),
        Rule(
            "iam-role-trust-principal",
            "iam",
            ("CreateRole", "UpdateAssumeRolePolicy"),
            "the trust policy names as AWS principal a role created less than the window ago",
            "MalformedPolicyDocument",
            'Invalid principal in policy: "AWS":"{arn}"',
            10,
            f"IAM User Guide, eventual consistency; {TF} internal/service/iam/role.go "
            "(CreateRole retried on MalformedPolicyDocument \"Invalid principal in policy\", propagationTimeout 2 min)",
        ),
        # EC2: "Eventual consistency ... a resource you just created might not be found by a
        # subsequent call" (EC2 API reference, eventual-consistency.html); terraform-provider-aws
        # retries the follow-up calls on the NotFound codes (ec2 propagation timeouts, 2–5 min).
        Rule(
            "ec2-describe-new",
            "ec2",
            ("DescribeVpcs", "DescribeSubnets", "DescribeRouteTables", "DescribeInternetGateways",
             "DescribeSecurityGroups", "DescribeNatGateways"),
            "an id asked for by id was created less than the window ago",
            "Invalid<X>ID.NotFound (NatGatewayNotFound for NAT gateways)",
            "The {kind} ID '{id}' does not exist",
            5,
            f"EC2 API reference, eventual-consistency.html; {TF} internal/service/ec2 "
            "(tfresource.RetryWhenNotFound on the Find* after create, ec2PropagationTimeout 2 min)",
        ),
        Rule(
            "ec2-list-new",
            "ec2",
            ("DescribeVpcs", "DescribeSubnets", "DescribeRouteTables", "DescribeInternetGateways",
             "DescribeSecurityGroups", "DescribeNatGateways"),
            "no id asked for (filters, e.g. by tag): the resources created less than the window ago are left out",
            "(none: not listed)",
            "",
            5,
            "EC2 API reference, eventual-consistency.html (a new resource may not appear in Describe* results); "
            f"{TF} internal/service/ec2 (find-by-filter after create retried while empty: tfresource.RetryWhenNotFound)",
        ),
        Rule(
            "ec2-modify-new",
            "ec2",
            ("ModifySubnetAttribute", "AttachInternetGateway", "AssociateRouteTable", "CreateRoute",
             "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "CreateNatGateway"),
            "a resource the call names was created less than the window ago",
            "Invalid<X>ID.NotFound / InvalidGatewayID.NotFound",
            "The {kind} ID '{id}' does not exist",
            5,
            f"EC2 API reference, eventual-consistency.html; {TF} internal/service/ec2 vpc_subnet.go, "
            "vpc_internet_gateway.go, vpc_route_table.go, vpc_route.go (RetryWhenAWSErrCodeEquals on the .NotFound codes)",
        ),
        Rule(
            "ec2-vpc-attribute-stale",
            "ec2",
            ("DescribeVpcAttribute",),
            "ModifyVpcAttribute of this VPC and attribute less than the window ago",
            "(none: the old value is answered)",
            "",
            5,
            f"EC2 API reference, eventual-consistency.html; {TF} internal/service/ec2/vpc_.go "
            "(waitVPCAttributeUpdated polls DescribeVpcAttribute until the new value, vpcAttributePropagationTimeout 5 min)",
        ),
        Rule(
            "kms-new-key",
            "kms",
            ("EnableKeyRotation", "CreateAlias"),
            "the key was created less than the window ago",
            "NotFoundException",
            "Key '{arn}' does not exist",
            10,
            f"KMS Developer Guide, programming-eventual-consistency.html; {TF} internal/service/kms/key.go, "
            "alias.go (retry NotFoundException: keyRotationUpdatedTimeout 10 min, PropagationTimeout 2 min)",
        ),
        Rule(
            "elb-eni-leftover",
            "elbv2",
            ("DeleteLoadBalancer",),
            "leaves one ENI 'ELB app/<name>/<id>' per subnet, in the balancer's groups, for the window;"
            " DeleteSubnet / DeleteSecurityGroup answer DependencyViolation while an ENI uses them",
            "DependencyViolation",
            "The subnet '{id}' has dependencies and cannot be deleted. / resource {id} has a dependent object",
            120,
            f"{TF} internal/service/elbv2/load_balancer.go (cleanupALBNetworkInterfaces, waitForNLBNetworkInterfacesToDetach: "
            "'the cleanup is asynchronous and may take time which then blocks IGW, SG or VPC on deletion'); observed 1–5 min",
        ),
        Rule(
            "eks-eni-leftover",
            "eks",
            ("DeleteCluster",),
            "leaves one ENI 'Amazon EKS <cluster>' per subnet, in the cluster's groups, for the window",
            "DependencyViolation",
            "The subnet '{id}' has dependencies and cannot be deleted. / resource {id} has a dependent object",
            _delete_s("eks_cluster", 240) + 60,
            "EKS User Guide, network-reqs (cross-account ENIs in the cluster subnets, deleted by EKS after "
            "the cluster); observed after DELETING ends",
        ),
        Rule(
            "eks-log-group-recreated",
            "eks",
            ("DeleteCluster", "DeleteLogGroup"),
            "the cluster had control-plane logging on: /aws/eks/<cluster>/cluster is there (untagged) once "
            "the deletion ends, and a DeleteLogGroup of it within the window (late logs) is undone "
            f"{LATE_LOG_DELAY_S:g} s later, once",
            "(none: a log group appears)",
            "",
            _delete_s("eks_cluster", 240) + 120,
            "EKS User Guide, control-plane-logs ('/aws/eks/<cluster-name>/cluster'); "
            f"{TF} website/docs/r/eks_cluster.html.markdown ('EKS automatically creating the log group first'): "
            "EKS makes the group itself while logging is on, so late logs re-create it after a destroy (issue 13)",
        ),
        Rule(
            "elb-certificate-not-found",
            "elbv2",
            ("CreateListener", "ModifyListener", "AddListenerCertificates"),
            "an ACM certificate named became ISSUED less than the window ago (or is not issued yet)",
            "CertificateNotFound",
            "Certificate '{arn}' not found",
            30,
            f"{TF} internal/service/elbv2/listener.go (CreateListener retried on CertificateNotFound), "
            "listener_certificate.go (\"Retry for IAM Server Certificate eventual consistency\")",
        ),
        Rule(
            "route53-no-such-change",
            "route53",
            ("GetChange",),
            "the first GetChange of a change made by ChangeResourceRecordSets",
            "NoSuchChange",
            "A change with the specified change ID does not exist.",
            0,
            "Route 53 API reference, GetChange (NoSuchChange); observed right after ChangeResourceRecordSets",
        ),
        Rule(
            "route53-change-pending",
            "route53",
            ("GetChange",),
            "the change was made less than the window ago: Status PENDING",
            "(none: PENDING)",
            "",
            _create_s("route53_record", 60),
            "Route 53 API reference, GetChange ('INSYNC ... within 60 seconds'); kprov aws_model.toml route53_record",
        ),
        Rule(
            "eks-cluster-creating",
            "eks",
            ("DescribeCluster", "ListClusters"),
            "status CREATING while younger than the window (moto: ACTIVE at once)",
            "(none: CREATING)",
            "",
            _create_s("eks_cluster", 600),
            "EKS User Guide, create-cluster ('typically 10 to 15 minutes'); kprov aws_model.toml eks_cluster",
        ),
        Rule(
            "eks-cluster-deleting",
            "eks",
            ("DescribeCluster",),
            "after DeleteCluster: DELETING for the window, CreateCluster of the name ResourceInUseException",
            "(none: DELETING)",
            "",
            _delete_s("eks_cluster", 240),
            "kprov aws_model.toml durations.delete.eks_cluster (observed 1–9 min)",
        ),
        Rule(
            "eks-nodegroup-creating",
            "eks",
            ("DescribeNodegroup",),
            "status CREATING while younger than the window",
            "(none: CREATING)",
            "",
            _create_s("eks_nodegroup", 150),
            "kprov aws_model.toml eks_nodegroup (observed 1–4 min)",
        ),
        Rule(
            "eks-nodegroup-deleting",
            "eks",
            ("DescribeNodegroup", "DeleteCluster"),
            "after DeleteNodegroup: DELETING for the window; DeleteCluster meanwhile ResourceInUseException",
            "ResourceInUseException",
            "Cluster has nodegroups attached",
            _delete_s("eks_nodegroup", 240),
            "kprov aws_model.toml durations.delete.eks_nodegroup; EKS API reference, DeleteCluster "
            "('If you have managed node groups ... you must delete them first')",
        ),
        Rule(
            "eks-addon-creating",
            "eks",
            ("DescribeAddon",),
            "status CREATING while younger than the window",
            "(none: CREATING)",
            "",
            _create_s("eks_addon", 40),
            "kprov aws_model.toml eks_addon (observed 15–55 s)",
        ),
        Rule(
            "eks-addon-deleting",
            "eks",
            ("DescribeAddon",),
            "after DeleteAddon: DELETING for the window",
            "(none: DELETING)",
            "",
            _delete_s("eks_addon", 30),
            "kprov aws_model.toml durations.delete.eks_addon",
        ),
        Rule(
            "nat-pending",
            "ec2",
            ("DescribeNatGateways",),
            "state pending while younger than the window, deleting for the delete window",
            "(none: pending / deleting)",
            "",
            _create_s("ec2_nat_gateway", 105),
            "kprov aws_model.toml ec2_nat_gateway (observed 85–125 s; delete 40–90 s)",
        ),
        Rule(
            "lb-provisioning",
            "elbv2",
            ("DescribeLoadBalancers",),
            "state provisioning while younger than the window",
            "(none: provisioning)",
            "",
            _create_s("elbv2_load_balancer", 150),
            "kprov aws_model.toml elbv2_load_balancer (observed 2–3 min until active)",
        ),
    ]
}

NAT_DELETE_S = _delete_s("ec2_nat_gateway", 60)


# --- state ---------------------------------------------------------------------------------


class _State:
    def __init__(self):
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        self.regions = {}  # (region, account or None) -> {"scale": float, "seed": int}
        self.born = {}  # (account, kind, id) -> monotonic instant of the create
        self.vpc_attr = {}  # (account, region, vpc, attribute) -> (old value, instant)
        self.unseen_changes = set()  # Route 53 change ids not yet asked for
        self.ghosts = {}  # (account, region, kind, name...) -> (json body, until)
        self.due = []  # (instant, callable): ENIs to remove, log groups to create
        self.late_logs = {}  # (account, region, log group) -> until when late logs re-create it


STATE = _State()


def _now():
    return time.monotonic()


_CURRENT = threading.local()


def enabled(region, account=None):
    """The mode's settings for `region` (and the account of the request being answered, when the
    mode was enabled for that account only), or None."""
    account = account or getattr(_CURRENT, "account", None)
    return STATE.regions.get((region, account)) or STATE.regions.get((region, None))


def window(rule_name, region, key="", account=None):
    """The rule's window in this region, in seconds here (scaled and jittered), or None."""
    cfg = enabled(region, account)
    if cfg is None:
        return None
    rule = RULES[rule_name]
    digest = hashlib.sha256(f"{cfg['seed']}|{rule_name}|{key}".encode()).digest()
    jitter = 0.8 + 0.2 * (int.from_bytes(digest[:4], "big") / 0xFFFFFFFF)
    return rule.window_s * cfg["scale"] * jitter


def young(rule_name, region, born_key, key=""):
    """Whether the resource recorded under `born_key` is younger than the rule's window."""
    w = window(rule_name, region, key or str(born_key))
    born = STATE.born.get(born_key)
    return w is not None and born is not None and _now() - born < w


# --- requests and answers ------------------------------------------------------------------


def _account_of_key(auth):
    """The account of the request's access key, as moto decides it: a key created by IAM
    CreateAccessKey in another account belongs to that account (so a client that cannot send
    `x-moto-account-id`, such as kprov, runs in an account of its own)."""
    m = re.search(r"Credential=([^/]+)/", auth)
    if not m:
        return DEFAULT_ACCOUNT
    from moto.iam.models import get_account_id_from

    return get_account_id_from(m.group(1))


class Req:
    def __init__(self, environ, body):
        self.environ = environ
        self.body = body
        self.method = environ.get("REQUEST_METHOD", "GET")
        self.path = unquote(environ.get("PATH_INFO", ""))
        auth = environ.get("HTTP_AUTHORIZATION", "")
        m = re.search(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/", auth)
        self.region, self.service = (m.group(1), m.group(2)) if m else ("us-east-1", "")
        self.account = environ.get("HTTP_X_MOTO_ACCOUNT_ID") or _account_of_key(auth)
        self.form = {}
        self.json = {}
        self.action = ""
        content_type = environ.get("CONTENT_TYPE", "")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target:
            self.action = target.split(".")[-1]
            self.json = _loads(body)
        elif "x-www-form-urlencoded" in content_type or (self.method == "GET" and environ.get("QUERY_STRING")):
            raw = body.decode("utf-8", "replace") if body else environ.get("QUERY_STRING", "")
            self.form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            self.action = self.form.get("Action", "")
        if not self.action:
            self.action = _rest_action(self.service, self.method, self.path)
            if self.action:
                self.json = _loads(body)

    def values(self, prefix):
        """`prefix` and its list members (`prefix.1`, `prefix.member.1`, ...)."""
        out = []
        for k, v in self.form.items():
            if k == prefix or re.fullmatch(re.escape(prefix) + r"(\.member)?\.\d+", k):
                out.append(v)
        return out


def _loads(body):
    try:
        value = json.loads(body or b"{}")
        return value if isinstance(value, dict) else {}
    except ValueError:
        return {}


_EKS_ROUTES = [
    ("POST", r"/clusters", "CreateCluster"),
    ("GET", r"/clusters", "ListClusters"),
    ("GET", r"/clusters/[^/]+", "DescribeCluster"),
    ("DELETE", r"/clusters/[^/]+", "DeleteCluster"),
    ("POST", r"/clusters/[^/]+/node-groups", "CreateNodegroup"),
    ("GET", r"/clusters/[^/]+/node-groups/[^/]+", "DescribeNodegroup"),
    ("DELETE", r"/clusters/[^/]+/node-groups/[^/]+", "DeleteNodegroup"),
    ("POST", r"/clusters/[^/]+/addons", "CreateAddon"),
    ("GET", r"/clusters/[^/]+/addons/[^/]+", "DescribeAddon"),
    ("DELETE", r"/clusters/[^/]+/addons/[^/]+", "DeleteAddon"),
    ("POST", r"/clusters/[^/]+/access-entries", "CreateAccessEntry"),
]


def _rest_action(service, method, path):
    if service == "eks":
        for m, pattern, action in _EKS_ROUTES:
            if m == method and re.fullmatch(pattern + "/?", path):
                return action
    if service == "route53":
        if method == "POST" and re.search(r"/hostedzone/[^/]+/rrset/?$", path):
            return "ChangeResourceRecordSets"
        if method == "GET" and re.search(r"/change/[^/]+$", path):
            return "GetChange"
    return ""


def _path_part(req, index):
    parts = [p for p in req.path.split("/") if p]
    return parts[index] if len(parts) > index else ""


class Answer(Exception):
    """An AWS error answered instead of moto's."""

    def __init__(self, status, headers, body):
        super().__init__(status)
        self.status, self.headers, self.body = status, headers, body


def _rid():
    return str(uuid.uuid4())


def _x(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def ec2_error(code, message):
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code>'
        f"<Message>{_x(message)}</Message></Error></Errors><RequestID>{_rid()}</RequestID></Response>"
    )
    return Answer("400 Bad Request", [("Content-Type", "text/xml")], body.encode())


def query_error(service, code, message, status="400 Bad Request"):
    ns = {
        "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
        "elasticloadbalancing": "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
        "route53": "https://route53.amazonaws.com/doc/2013-04-01/",
    }.get(service, "")
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><ErrorResponse xmlns="{ns}"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{_x(message)}</Message></Error><RequestId>{_rid()}</RequestId></ErrorResponse>"
    )
    return Answer(status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", _rid())], body.encode())


def json_error(code, message):
    body = json.dumps({"__type": code, "message": message}).encode()
    return Answer("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", _rid())], body)


def rest_json_error(code, message, status="400 Bad Request"):
    body = json.dumps({"message": message}).encode()
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", code), ("x-amzn-RequestId", _rid())]
    return Answer(status, headers, body)


# --- backends (moto's own state) -----------------------------------------------------------


def _ec2(req):
    from moto.ec2.models import ec2_backends

    return ec2_backends[req.account][req.region]


def _remove_eni(account, region, eni_id):
    from moto.ec2.models import ec2_backends

    ec2_backends[account][region].enis.pop(eni_id, None)


def _leave_enis(req, subnet_ids, group_ids, description, rule_name):
    """Real moto ENIs (so DescribeNetworkInterfaces shows them) that go away after the window."""
    w = window(rule_name, req.region, description)
    if not w:
        return
    ec2 = _ec2(req)
    groups = [g for g in group_ids if ec2.get_security_group_from_id(g) is not None]
    for subnet_id in subnet_ids:
        try:
            subnet = ec2.get_subnet(subnet_id)
        except Exception:  # noqa: BLE001 - a subnet moto does not know: nothing to leave there
            continue
        eni = ec2.create_network_interface(subnet, None, group_ids=groups, description=description)
        account, region, eni_id = req.account, req.region, eni.id
        STATE.due.append((_now() + w, lambda a=account, r=region, e=eni_id: _remove_eni(a, r, e)))


def _enis_using(req, subnet_id=None, group_id=None):
    out = []
    for eni in list(_ec2(req).enis.values()):
        if subnet_id and getattr(eni.subnet, "id", None) == subnet_id:
            out.append(eni.id)
        if group_id and any(getattr(g, "id", g) == group_id for g in getattr(eni, "group_set", [])):
            out.append(eni.id)
    return out


def _tick():
    """Runs what has come due (ENIs removed, log groups created)."""
    now = _now()
    due = [d for d in STATE.due if d[0] <= now]
    if due:
        STATE.due = [d for d in STATE.due if d[0] > now]
        for _, action in due:
            try:
                action()
            except Exception:  # noqa: BLE001 - the resource went another way (deleted, reset)
                pass


# --- pre-rules: an AWS error instead of moto's answer --------------------------------------

_EC2_KINDS = {
    "vpc": ("InvalidVpcID.NotFound", "The vpc ID '{id}' does not exist"),
    "subnet": ("InvalidSubnetID.NotFound", "The subnet ID '{id}' does not exist"),
    "rtb": ("InvalidRouteTableID.NotFound", "The routeTable ID '{id}' does not exist"),
    "igw": ("InvalidInternetGatewayID.NotFound", "The internetGateway ID '{id}' does not exist"),
    "sg": ("InvalidGroup.NotFound", "The security group '{id}' does not exist"),
    "nat": ("NatGatewayNotFound", "The Nat Gateway {id} was not found"),
}
_EC2_CREATES = {
    "CreateVpc": "vpcId",
    "CreateSubnet": "subnetId",
    "CreateRouteTable": "routeTableId",
    "CreateInternetGateway": "internetGatewayId",
    "CreateSecurityGroup": "groupId",
    "CreateNatGateway": "natGatewayId",
}
_EC2_DESCRIBE = {
    "DescribeVpcs": "VpcId",
    "DescribeSubnets": "SubnetId",
    "DescribeRouteTables": "RouteTableId",
    "DescribeInternetGateways": "InternetGatewayId",
    "DescribeSecurityGroups": "GroupId",
    "DescribeNatGateways": "NatGatewayId",
}
_EC2_MODIFY = {
    "ModifySubnetAttribute": ["SubnetId"],
    "AttachInternetGateway": ["InternetGatewayId", "VpcId"],
    "AssociateRouteTable": ["RouteTableId", "SubnetId", "GatewayId"],
    "CreateRoute": ["RouteTableId", "GatewayId"],
    "AuthorizeSecurityGroupIngress": ["GroupId"],
    "AuthorizeSecurityGroupEgress": ["GroupId"],
    "CreateNatGateway": ["SubnetId"],
}


def _ec2_not_found(req, ids, rule_name, gateway_param=False):
    for rid in ids:
        kind = rid.split("-")[0]
        if kind in _EC2_KINDS and young(rule_name, req.region, (req.account, "ec2", rid), rid):
            code, message = _EC2_KINDS[kind]
            if gateway_param and kind == "igw":
                code, message = "InvalidGatewayID.NotFound", "The gateway ID '{id}' does not exist"
            raise ec2_error(code, message.format(id=rid))


def _pre_ec2(req):
    a = req.action
    if a in _EC2_DESCRIBE:
        _ec2_not_found(req, req.values(_EC2_DESCRIBE[a]), "ec2-describe-new")
    elif a in _EC2_MODIFY:
        for param in _EC2_MODIFY[a]:
            _ec2_not_found(req, req.values(param), "ec2-modify-new", gateway_param=param == "GatewayId")
    elif a == "ModifyVpcAttribute":
        vpc_id = req.form.get("VpcId", "")
        for attr in ("EnableDnsSupport", "EnableDnsHostnames", "EnableNetworkAddressUsageMetrics"):
            if f"{attr}.Value" in req.form:
                snake = re.sub(r"(?<!^)([A-Z])", r"_\1", attr).lower()
                try:
                    old = _ec2(req).describe_vpc_attribute(vpc_id, snake)
                except Exception:  # noqa: BLE001 - moto answers the error itself
                    continue
                req.vpc_attr = (attr[0].lower() + attr[1:], old)
    elif a == "DeleteSubnet":
        subnet_id = req.form.get("SubnetId", "")
        busy_nat = any(
            n.subnet_id == subnet_id and n.state in ("pending", "available", "deleting")
            for n in _ec2(req).nat_gateways.values()
        )
        if busy_nat or _enis_using(req, subnet_id=subnet_id):
            raise ec2_error("DependencyViolation", f"The subnet '{subnet_id}' has dependencies and cannot be deleted.")
    elif a == "DeleteSecurityGroup":
        group_id = req.form.get("GroupId", "")
        if group_id and _enis_using(req, group_id=group_id):
            raise ec2_error("DependencyViolation", f"resource {group_id} has a dependent object")


def _principals(document):
    """The AWS principals (ARNs) named by a policy document (JSON text)."""
    try:
        policy = json.loads(document) if isinstance(document, str) else document
    except ValueError:
        return []
    statements = policy.get("Statement", []) if isinstance(policy, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    out = []
    for st in statements:
        principal = st.get("Principal") if isinstance(st, dict) else None
        if isinstance(principal, dict):
            aws = principal.get("AWS", [])
            out.extend([aws] if isinstance(aws, str) else aws)
    return out


def _fresh_role(req, arn, rule_name):
    return young(rule_name, req.region, (req.account, "role", arn), arn)


def _pre_iam(req):
    doc = req.form.get("AssumeRolePolicyDocument") or req.form.get("PolicyDocument")
    if req.action in RULES["iam-role-trust-principal"].actions and doc:
        for arn in _principals(doc):
            if _fresh_role(req, arn, "iam-role-trust-principal"):
                raise query_error("iam", "MalformedPolicyDocument", f'Invalid principal in policy: "AWS":"{arn}"')


def _key_id(value):
    return (value or "").split("key/")[-1]


def _pre_kms(req):
    a = req.action
    if a in ("CreateKey", "PutKeyPolicy") and req.json.get("Policy"):
        for arn in _principals(req.json["Policy"]):
            if _fresh_role(req, arn, "iam-role-kms-policy"):
                raise json_error("MalformedPolicyDocumentException", RULES["iam-role-kms-policy"].message)
    if a in ("EnableKeyRotation", "CreateAlias"):
        key = _key_id(req.json.get("KeyId") or req.json.get("TargetKeyId"))
        if key and young("kms-new-key", req.region, (req.account, "kms", key), key):
            arn = f"arn:aws:kms:{req.region}:{req.account}:key/{key}"
            raise json_error("NotFoundException", RULES["kms-new-key"].message.format(arn=arn))


def _pre_eks(req):
    a = req.action
    if a in RULES["iam-role-eks"].actions:
        arn = req.json.get("roleArn") or req.json.get("nodeRole") or req.json.get("principalArn")
        if arn and _fresh_role(req, arn, "iam-role-eks"):
            if a == "CreateAccessEntry":
                raise rest_json_error("InvalidParameterException", "The specified principalArn is invalid: invalid principal")
            raise rest_json_error("InvalidParameterException", RULES["iam-role-eks"].message.format(arn=arn))
    cluster = _path_part(req, 1)
    if a == "CreateCluster":
        ghost = _ghost(req, "cluster", req.json.get("name", ""))
        if ghost is not None:
            raise rest_json_error("ResourceInUseException", f"Cluster already exists with name: {req.json.get('name')}", "409 Conflict")
    elif a == "DeleteCluster":
        for key in list(STATE.ghosts):
            if key[:4] == (req.account, req.region, "nodegroup", cluster) and _ghost(req, *key[2:]) is not None:
                raise rest_json_error("ResourceInUseException", RULES["eks-nodegroup-deleting"].message, "409 Conflict")
    for kind, action, idx in (("cluster", "DescribeCluster", None), ("nodegroup", "DescribeNodegroup", 3), ("addon", "DescribeAddon", 3)):
        if a == action:
            names = (cluster,) if idx is None else (cluster, _path_part(req, idx))
            ghost = _ghost(req, kind, *names)
            if ghost is not None:
                raise Answer("200 OK", [("Content-Type", "application/json")], json.dumps(ghost).encode())


def _ghost(req, kind, *names):
    entry = STATE.ghosts.get((req.account, req.region, kind, *names))
    if entry is None:
        return None
    body, until = entry
    if _now() >= until:
        del STATE.ghosts[(req.account, req.region, kind, *names)]
        return None
    return body


def _pre_elbv2(req):
    a = req.action
    if a in RULES["elb-certificate-not-found"].actions:
        for arn in [v for k, v in req.form.items() if k.startswith("Certificates.member.") and k.endswith(".CertificateArn")]:
            age = _issued_age(req, arn)
            w = window("elb-certificate-not-found", req.region, arn)
            if age is not None and w is not None and age < w:
                raise query_error("elasticloadbalancing", "CertificateNotFound", f"Certificate '{arn}' not found")
    elif a == "DeleteLoadBalancer":
        from moto.elbv2.models import elbv2_backends

        lb = elbv2_backends[req.account][req.region].load_balancers.get(req.form.get("LoadBalancerArn", ""))
        if lb is not None:
            req.deleted_lb = (
                "ELB " + lb.arn.split(":loadbalancer/")[-1],
                [s.id for s in lb.subnets],
                list(lb.security_groups or []),
            )


def _issued_age(req, arn):
    """Seconds since the ACM certificate `arn` turned ISSUED (negative: not yet), None if unknown."""
    try:
        from moto import settings
        from moto.acm.models import acm_backends
        from moto.core.utils import utcnow

        cert = acm_backends[req.account][req.region]._certificates.get(arn)
    except Exception:  # noqa: BLE001 - not an ACM certificate (IAM server certificate): not modelled
        return None
    if cert is None:
        return None
    age = (utcnow() - cert.created_at).total_seconds()
    return age - settings.ACM_VALIDATION_WAIT if cert.type == "AMAZON_ISSUED" else age


def _pre_route53(req):
    if req.action == "GetChange":
        change = req.path.rstrip("/").split("/")[-1]
        if change in STATE.unseen_changes:
            STATE.unseen_changes.discard(change)
            raise query_error("route53", "NoSuchChange", RULES["route53-no-such-change"].message, "404 Not Found")


_PRE = {"ec2": _pre_ec2, "iam": _pre_iam, "kms": _pre_kms, "eks": _pre_eks, "elasticloadbalancing": _pre_elbv2, "route53": _pre_route53}


# --- post-hooks: after moto answered successfully ------------------------------------------


def _record(req, body):
    """Born-at instants of what this call created (every region: IAM is global)."""
    now = _now()
    text = body.decode("utf-8", "replace")
    if req.service == "ec2" and req.action in _EC2_CREATES:
        m = re.search(f"<{_EC2_CREATES[req.action]}>([^<]+)<", text)
        if m:
            STATE.born[(req.account, "ec2", m.group(1))] = now
    elif req.service == "iam" and req.action == "CreateRole":
        m = re.search(r"<Arn>([^<]+)</Arn>", text)
        if m:
            STATE.born[(req.account, "role", m.group(1))] = now
    elif req.service == "kms" and req.action == "CreateKey":
        key = _loads(body).get("KeyMetadata", {}).get("KeyId")
        if key:
            STATE.born[(req.account, "kms", key)] = now
    elif req.service == "route53" and req.action == "ChangeResourceRecordSets":
        m = re.search(r"<Id>(?:/change/)?([^<]+)</Id>", text)
        if m:
            STATE.born[(req.account, "change", m.group(1))] = now
            if enabled(req.region):
                STATE.unseen_changes.add(m.group(1))
    elif req.service == "eks" and req.action == "CreateAddon":
        STATE.born[(req.account, req.region, "addon", _path_part(req, 1), req.json.get("addonName", ""))] = now


# Describe* without ids (filters or nothing): the set element and the id element of its items.
_EC2_LISTINGS = {
    "DescribeVpcs": ("vpcSet", "vpcId"),
    "DescribeSubnets": ("subnetSet", "subnetId"),
    "DescribeRouteTables": ("routeTableSet", "routeTableId"),
    "DescribeInternetGateways": ("internetGatewaySet", "internetGatewayId"),
    "DescribeSecurityGroups": ("securityGroupInfo", "groupId"),
    "DescribeNatGateways": ("natGatewaySet", "natGatewayId"),
}


def _hide_young(req, body):
    """A listing (no ids asked for) without the resources still younger than the window: AWS's
    eventually consistent Describe* leaves them out rather than failing."""
    import xml.etree.ElementTree as ET

    set_name, id_name = _EC2_LISTINGS[req.action]
    root = ET.fromstring(body)
    ns = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    q = (lambda t: f"{{{ns}}}{t}") if ns else (lambda t: t)
    hidden = 0
    for container in root.iter(q(set_name)):
        for item in list(container):
            rid = item.findtext(q(id_name))
            if rid and young("ec2-list-new", req.region, (req.account, "ec2", rid), rid):
                container.remove(item)
                hidden += 1
        break  # the top-level set only (items hold nested sets of other names)
    if not hidden:
        return body
    ET.register_namespace("", ns)
    return b'<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="utf-8", xml_declaration=False)


def _post(req, body):
    """Changes to moto's answer (or its state) in an enabled region. Returns the body to send."""
    a = req.action
    if req.service == "ec2" and a in _EC2_LISTINGS and not req.values(_EC2_DESCRIBE[a]):
        body = _hide_young(req, body)
    elif req.service == "ec2" and a == "ModifyVpcAttribute" and getattr(req, "vpc_attr", None):
        attr, old = req.vpc_attr
        STATE.vpc_attr[(req.account, req.region, req.form.get("VpcId"), attr)] = (old, _now())
    elif req.service == "ec2" and a == "DescribeVpcAttribute":
        key = (req.account, req.region, req.form.get("VpcId"), req.form.get("Attribute"))
        entry = STATE.vpc_attr.get(key)
        w = window("ec2-vpc-attribute-stale", req.region, str(key))
        if entry and w is not None and _now() - entry[1] < w:
            old = "true" if entry[0] else "false"
            body = re.sub(rb"<value>(true|false)</value>", f"<value>{old}</value>".encode(), body, count=1)
    elif req.service == "elasticloadbalancing" and a == "DeleteLoadBalancer" and getattr(req, "deleted_lb", None):
        description, subnets, groups = req.deleted_lb
        _leave_enis(req, subnets, groups, description, "elb-eni-leftover")
    elif req.service == "eks" and a == "DeleteCluster":
        cluster = _loads(body).get("cluster", {})
        name = cluster.get("name", "")
        vpc = cluster.get("resourcesVpcConfig", {}) or {}
        _leave_enis(req, vpc.get("subnetIds", []), vpc.get("securityGroupIds", []), f"Amazon EKS {name}", "eks-eni-leftover")
        _ghost_of(req, body, "cluster", (name,), "eks-cluster-deleting")
        logging = (cluster.get("logging") or {}).get("clusterLogging", [])
        w = window("eks-log-group-recreated", req.region, name)
        if w is not None and any(s.get("enabled") and s.get("types") for s in logging):
            account, region, group = req.account, req.region, f"/aws/eks/{name}/cluster"
            # Logs flow while the cluster is DELETING (EKS makes the group if it is missing) and
            # for a while after: a DeleteLogGroup in that time is undone once (below).
            ends = window("eks-cluster-deleting", req.region, name) or 0
            STATE.due.append((_now() + ends, lambda: _recreate_log_group(account, region, group)))
            STATE.late_logs[(account, region, group)] = _now() + w
    elif req.service == "logs" and a == "DeleteLogGroup":
        key = (req.account, req.region, req.json.get("logGroupName", ""))
        until = STATE.late_logs.pop(key, None)
        cfg = enabled(req.region)
        if until is not None and _now() < until and cfg is not None:
            account, region, group = key
            delay = LATE_LOG_DELAY_S * cfg["scale"]
            STATE.due.append((_now() + delay, lambda: _recreate_log_group(account, region, group)))
    elif req.service == "eks" and a == "DeleteNodegroup":
        _ghost_of(req, body, "nodegroup", (_path_part(req, 1), _path_part(req, 3)), "eks-nodegroup-deleting")
    elif req.service == "eks" and a == "DeleteAddon":
        _ghost_of(req, body, "addon", (_path_part(req, 1), _path_part(req, 3)), "eks-addon-deleting")
    elif req.service == "eks" and a == "DescribeAddon":
        key = (req.account, req.region, "addon", _path_part(req, 1), _path_part(req, 3))
        if young("eks-addon-creating", req.region, key, str(key)):
            doc = _loads(body)
            if doc.get("addon", {}).get("status") == "ACTIVE":
                doc["addon"]["status"] = "CREATING"
                body = json.dumps(doc).encode()
    elif req.service == "route53" and a == "GetChange":
        change = req.path.rstrip("/").split("/")[-1]
        if young("route53-change-pending", req.region, (req.account, "change", change), change):
            body = body.replace(b"<Status>INSYNC</Status>", b"<Status>PENDING</Status>")
    return body


def _ghost_of(req, body, kind, names, rule_name):
    w = window(rule_name, req.region, "/".join(names))
    doc = _loads(body)
    if w is None or not doc:
        return
    for v in doc.values():
        if isinstance(v, dict):
            v["status"] = "DELETING"
    STATE.ghosts[(req.account, req.region, kind, *names)] = (doc, _now() + w)


def _recreate_log_group(account, region, name):
    from moto.logs.models import logs_backends

    backend = logs_backends[account][region]
    if name not in backend.groups:
        backend.create_log_group(name, {})


# --- pending states on moto's own models ---------------------------------------------------


def _timed(cls, attr, ready, pending, rule_name, region_of, deleted=None, deleting=None, delete_s=0.0):
    """`cls.attr` becomes a property: the pending value while the object is younger than the
    rule's window (in an enabled region), `deleting` for `delete_s` × scale after it was set to
    `deleted`; the value moto set otherwise."""
    slot = "_kprov_" + attr

    def get(self):
        value = self.__dict__.get(slot)
        try:
            region, account = region_of(self)
            cfg = enabled(region, account)
            if cfg is None:
                return value
            key = getattr(self, "arn", None) or getattr(self, "id", "")
            if value == ready and _now() - self.__dict__.get("_kprov_born", 0) < (window(rule_name, region, key, account) or 0):
                return pending
            if deleted is not None and value == deleted:
                gone = self.__dict__.get("_kprov_deleted_at")
                if gone is not None and _now() - gone < delete_s * cfg["scale"]:
                    return deleting
        except Exception:  # noqa: BLE001 - never break moto's own answer
            pass
        return value

    def set_(self, value):
        self.__dict__.setdefault("_kprov_born", _now())
        if deleted is not None and value == deleted:
            self.__dict__["_kprov_deleted_at"] = _now()
        self.__dict__[slot] = value

    setattr(cls, attr, property(get, set_))


def _arn_region(obj):
    parts = obj.arn.split(":")
    return parts[3], parts[4]


def _patch_models():
    from moto.ec2.models.nat_gateways import NatGateway
    from moto.eks.models import Cluster, Nodegroup
    from moto.elbv2.models import FakeLoadBalancer

    _timed(NatGateway, "state", "available", "pending", "nat-pending", lambda o: (o.ec2_backend.region_name, o.ec2_backend.account_id),
           deleted="deleted", deleting="deleting", delete_s=NAT_DELETE_S)
    _timed(FakeLoadBalancer, "state", "active", "provisioning", "lb-provisioning", _arn_region)
    _timed(Cluster, "status", "ACTIVE", "CREATING", "eks-cluster-creating", _arn_region)
    _timed(Nodegroup, "status", "ACTIVE", "CREATING", "eks-nodegroup-creating", _arn_region)


# --- control endpoint and middleware -------------------------------------------------------


def _control(environ):
    method = environ.get("REQUEST_METHOD")
    if method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        doc = _loads(environ["wsgi.input"].read(length) if length else b"")
        region, account = doc.get("region"), doc.get("account")
        if not isinstance(region, str) or not region:
            return "400 Bad Request", {"error": "give a region"}
        with STATE.lock:
            if doc.get("enabled", True) is False:
                STATE.regions.pop((region, account), None)
            else:
                scale = float(doc.get("scale", 0.01))
                if not 0 < scale <= 1:
                    return "400 Bad Request", {"error": "scale must be in (0, 1]"}
                STATE.regions[(region, account)] = {"scale": scale, "seed": int(doc.get("seed", 0))}
    with STATE.lock:
        regions = [
            dict(cfg, region=r, account=a, windows={name: rule.window_s * cfg["scale"] for name, rule in RULES.items()})
            for (r, a), cfg in STATE.regions.items()
        ]
    rules = [dict(rule.__dict__) for rule in RULES.values()]
    return "200 OK", {"regions": regions, "rules": rules}


def _read_body(environ):
    from werkzeug.wsgi import get_input_stream

    body = get_input_stream(environ).read()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return body


def _middleware(app_call):
    def call(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.rstrip("/") == CONTROL_PATH:
            status, doc = _control(environ)
            body = json.dumps(doc).encode()
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path.startswith("/moto-api/reset") and path.rstrip("/") == "/moto-api/reset":
            with STATE.lock:
                STATE.reset()
        if not _concerned(environ):
            return app_call(self, environ, start_response)
        return _realistic_call(self, app_call, environ, start_response)

    return call


def _concerned(environ):
    """Whether the mode may act on or record this request: a region where it is enabled, or IAM
    (global: a role made through any region's endpoint may be used in an enabled one). Anything
    else goes to moto untouched, its body unread."""
    if not STATE.regions:
        return False
    m = re.search(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
    if m is None:
        return False
    region, service = m.groups()
    return service == "iam" or any(r == region for r, _ in STATE.regions)


def _realistic_call(self, app_call, environ, start_response):
    req = Req(environ, _read_body(environ))
    _CURRENT.account = req.account
    on = enabled(req.region) is not None
    with STATE.lock:
        _tick()
        if on:
            pre = _PRE.get(req.service)
            try:
                if pre:
                    pre(req)
            except Answer as answer:
                answer.headers.append(("Content-Length", str(len(answer.body))))
                start_response(answer.status, answer.headers)
                return [answer.body]
    captured = {}
    chunks = []

    def capture(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers
        return chunks.append

    result = app_call(self, environ, capture)
    try:
        chunks.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    body = b"".join(chunks)
    status = captured.get("status", "500 Internal Server Error")
    headers = [(k, v) for k, v in captured.get("headers", []) if k.lower() != "content-length"]
    if status.startswith("2"):
        with STATE.lock:
            try:
                _record(req, body)
                if on:
                    body = _post(req, body)
            except Exception:  # noqa: BLE001 - the mode must never break moto's own answer
                pass
    headers.append(("Content-Length", str(len(body))))
    start_response(status, headers)
    return [body]


_patched = False


def install():
    """Idempotent."""
    global _patched
    if _patched:
        return
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    DomainDispatcherApplication.__call__ = _middleware(DomainDispatcherApplication.__call__)
    _patch_models()
    _patched = True
