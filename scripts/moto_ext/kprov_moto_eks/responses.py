"""HTTP side of the extension: request handlers added to (or replacing some of) moto's
`EKSResponse`, and the URL routes that reach them.

moto finds the operation of a REST request from botocore's EKS model (method + path), then calls
the `EKSResponse` method of the same name in snake_case; so an operation is emulated by adding a
method here and making sure a Flask route sends its path to `EKSResponse.dispatch`. Answers are
`ActionResult`s serialized by moto from the same model, so their shape is the API's.
"""

from moto.core.responses import ActionResult, EmptyResult
from moto.eks import urls as eks_urls
from moto.eks.responses import EKSResponse

from . import backend as b

# Paths of the operations added here (moto's own routes stay as they are). Principal and policy
# ARNs contain slashes once the path is decoded, hence `.+` for those.
NEW_PATHS = [
    "{0}/clusters/(?P<name>[^/]+)/addons$",
    "{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)$",
    "{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)/update$",
    "{0}/addons/supported-versions$",
    "{0}/cluster-versions$",
    "{0}/clusters/(?P<name>[^/]+)/pod-identity-associations$",
    "{0}/clusters/(?P<name>[^/]+)/pod-identity-associations/(?P<associationId>[^/]+)$",
    "{0}/clusters/(?P<name>[^/]+)/access-entries$",
    "{0}/clusters/(?P<name>[^/]+)/access-entries/(?P<principalArn>.+)$",
    "{0}/access-policies$",
    "{0}/clusters/(?P<name>[^/]+)/updates$",
    "{0}/clusters/(?P<name>[^/]+)/updates/(?P<updateId>[^/]+)$",
    "{0}/clusters/(?P<name>[^/]+)/node-groups/(?P<nodegroupName>[^/]+)/update-version$",
]

_original = {}


def _params(self, *names):
    return {n: self._get_param(n) for n in names}


def _page(key, items, token):
    out = {key: items}
    if token:
        out["nextToken"] = token
    return ActionResult(out)


# --- fixes to operations moto has -----------------------------------------------------------


def create_cluster(self):
    params = _params(self, "version", "accessConfig", "logging", "clientRequestToken", "name")
    existing = self.eks_backend.clusters.get(params["name"])
    if existing is not None and params["clientRequestToken"] and existing.client_request_token == params["clientRequestToken"]:
        # Same request again (same idempotency token): the same cluster, no error.
        return ActionResult({"cluster": existing})
    b.validate_create_cluster(params)
    result = _original["create_cluster"](self)
    b.finish_cluster(self.eks_backend, result.result["cluster"], params)
    return result


def delete_cluster(self):
    result = _original["delete_cluster"](self)
    b.delete_cluster_extras(self.eks_backend, result.result["cluster"])
    return result


def update_cluster_config(self):
    params = _params(self, *b.UPDATE_KINDS)
    update = b.update_cluster_config(self.eks_backend, self._get_param("name"), params)
    return ActionResult({"update": update})


def create_nodegroup(self):
    name = self._get_param("name")
    params = _params(self, "version", "amiType", "instanceTypes", "scalingConfig", "clientRequestToken", "nodegroupName")
    cluster = b.get_cluster(self.eks_backend, name)
    existing = cluster.nodegroups.get(params["nodegroupName"])
    if existing is not None and params["clientRequestToken"] and existing.client_request_token == params["clientRequestToken"]:
        return ActionResult({"nodegroup": existing})
    b.validate_create_nodegroup(self.eks_backend, name, params)
    result = _original["create_nodegroup"](self)
    nodegroup = result.result["nodegroup"]
    update_config = self._get_param("updateConfig")
    if update_config:
        nodegroup.update_config = update_config
    b.finish_nodegroup(self.eks_backend, name, nodegroup, ami_given=params["amiType"] is not None)
    return result


def update_nodegroup_config(self):
    name, ng = self._get_param("name"), self._get_param("nodegroupName")
    b.check_nodegroup_config(self.eks_backend, name, ng, _params(self, "scalingConfig", "updateConfig"))
    result = _original["update_nodegroup_config"](self)
    b.record_nodegroup_update(self.eks_backend, name, ng, result.result["update"])
    return result


def list_nodegroups(self):
    b.get_cluster(self.eks_backend, self._get_param("name"))  # moto answers HTTP 500 for a missing cluster
    return _original["list_nodegroups"](self)


def tag_resource(self):
    b.tagged(self.eks_backend, self._extract_arn_from_path()).update(self._get_param("tags") or {})
    return EmptyResult()


def untag_resource(self):
    tags = b.tagged(self.eks_backend, self._extract_arn_from_path())
    keys = self._get_param("tagKeys") or []
    for k in [keys] if isinstance(keys, str) else keys:
        tags.pop(k, None)
    return EmptyResult()


def list_tags_for_resource(self):
    return ActionResult({"tags": dict(b.tagged(self.eks_backend, self._extract_arn_from_path()))})


# --- versions and updates -------------------------------------------------------------------


def update_cluster_version(self):
    update = b.update_cluster_version(self.eks_backend, self._get_param("name"), self._get_param("version"))
    return ActionResult({"update": update})


def update_nodegroup_version(self):
    update = b.update_nodegroup_version(
        self.eks_backend,
        self._get_param("name"),
        self._get_param("nodegroupName"),
        self._get_param("version"),
        self._get_param("releaseVersion"),
    )
    return ActionResult({"update": update})


def describe_update(self):
    update = b.describe_update(
        self.eks_backend,
        self._get_param("name"),
        self._get_param("updateId"),
        self._get_param("nodegroupName"),
        self._get_param("addonName"),
    )
    return ActionResult({"update": update})


def list_updates(self):
    ids, token = b.list_updates(
        self.eks_backend,
        self._get_param("name"),
        self._get_param("nodegroupName"),
        self._get_param("addonName"),
        self._get_param("maxResults"),
        self._get_param("nextToken"),
    )
    return _page("updateIds", ids, token)


# --- add-ons --------------------------------------------------------------------------------


def create_addon(self):
    params = _params(
        self,
        "addonName",
        "addonVersion",
        "serviceAccountRoleArn",
        "resolveConflicts",
        "clientRequestToken",
        "tags",
        "configurationValues",
        "podIdentityAssociations",
    )
    return ActionResult({"addon": b.create_addon(self.eks_backend, self._get_param("name"), params)})


def describe_addon(self):
    cluster = b.get_cluster(self.eks_backend, self._get_param("name"))
    return ActionResult({"addon": b.get_addon(cluster, self._get_param("addonName"))})


def update_addon(self):
    params = _params(
        self, "addonVersion", "serviceAccountRoleArn", "resolveConflicts", "configurationValues", "podIdentityAssociations"
    )
    update = b.update_addon(self.eks_backend, self._get_param("name"), self._get_param("addonName"), params)
    return ActionResult({"update": update})


def delete_addon(self):
    addon = b.delete_addon(self.eks_backend, self._get_param("name"), self._get_param("addonName"))
    return ActionResult({"addon": addon})


def list_addons(self):
    names, token = b.list_addons(
        self.eks_backend, self._get_param("name"), self._get_param("maxResults"), self._get_param("nextToken")
    )
    return _page("addons", names, token)


def describe_cluster_versions(self):
    infos, token = b.describe_cluster_versions(self._get_param("maxResults"), self._get_param("nextToken"))
    return _page("clusterVersions", infos, token)


def describe_addon_versions(self):
    infos, token = b.describe_addon_versions(
        self._get_param("kubernetesVersion"),
        self._get_param("addonName"),
        self._get_param("maxResults"),
        self._get_param("nextToken"),
    )
    return _page("addons", infos, token)


# --- pod identity associations -------------------------------------------------------------


def create_pod_identity_association(self):
    params = _params(self, "namespace", "serviceAccount", "roleArn", "clientRequestToken", "tags")
    assoc = b.create_pod_identity_association(self.eks_backend, self._get_param("name"), params)
    return ActionResult({"association": assoc})


def describe_pod_identity_association(self):
    cluster = b.get_cluster(self.eks_backend, self._get_param("name"))
    return ActionResult({"association": b.get_association(cluster, self._get_param("associationId"))})


def update_pod_identity_association(self):
    params = _params(self, "roleArn", "disableSessionTags")
    assoc = b.update_pod_identity_association(
        self.eks_backend, self._get_param("name"), self._get_param("associationId"), params
    )
    return ActionResult({"association": assoc})


def delete_pod_identity_association(self):
    assoc = b.delete_pod_identity_association(
        self.eks_backend, self._get_param("name"), self._get_param("associationId")
    )
    return ActionResult({"association": assoc})


def list_pod_identity_associations(self):
    items, token = b.list_pod_identity_associations(
        self.eks_backend,
        self._get_param("name"),
        self._get_param("namespace"),
        self._get_param("serviceAccount"),
        self._get_param("maxResults"),
        self._get_param("nextToken"),
    )
    return _page("associations", items, token)


# --- access entries -------------------------------------------------------------------------


def create_access_entry(self):
    params = _params(self, "principalArn", "kubernetesGroups", "tags", "clientRequestToken", "username", "type")
    return ActionResult({"accessEntry": b.create_access_entry(self.eks_backend, self._get_param("name"), params)})


def describe_access_entry(self):
    cluster = b.get_cluster(self.eks_backend, self._get_param("name"))
    return ActionResult({"accessEntry": b.get_access_entry(cluster, self._get_param("principalArn"))})


def update_access_entry(self):
    params = _params(self, "kubernetesGroups", "username")
    entry = b.update_access_entry(self.eks_backend, self._get_param("name"), self._get_param("principalArn"), params)
    return ActionResult({"accessEntry": entry})


def delete_access_entry(self):
    b.delete_access_entry(self.eks_backend, self._get_param("name"), self._get_param("principalArn"))
    return ActionResult({})


def list_access_entries(self):
    items, token = b.list_access_entries(
        self.eks_backend,
        self._get_param("name"),
        self._get_param("associatedPolicyArn"),
        self._get_param("maxResults"),
        self._get_param("nextToken"),
    )
    return _page("accessEntries", items, token)


def associate_access_policy(self):
    name, principal = self._get_param("name"), self._get_param("principalArn")
    assoc = b.associate_access_policy(self.eks_backend, name, principal, _params(self, "policyArn", "accessScope"))
    return ActionResult({"clusterName": name, "principalArn": principal, "associatedAccessPolicy": assoc})


def list_associated_access_policies(self):
    name, principal = self._get_param("name"), self._get_param("principalArn")
    items, token = b.list_associated_access_policies(
        self.eks_backend, name, principal, self._get_param("maxResults"), self._get_param("nextToken")
    )
    out = {"clusterName": name, "principalArn": principal, "associatedAccessPolicies": items}
    if token:
        out["nextToken"] = token
    return ActionResult(out)


def disassociate_access_policy(self):
    b.disassociate_access_policy(
        self.eks_backend, self._get_param("name"), self._get_param("principalArn"), self._get_param("policyArn")
    )
    return ActionResult({})


def list_access_policies(self):
    items, token = b.list_access_policies(self.eks_backend, self._get_param("maxResults"), self._get_param("nextToken"))
    return _page("accessPolicies", items, token)


REPLACED = [
    create_cluster,
    delete_cluster,
    update_cluster_config,
    create_nodegroup,
    update_nodegroup_config,
    list_nodegroups,
    tag_resource,
    untag_resource,
    list_tags_for_resource,
]
ADDED = [
    update_cluster_version,
    update_nodegroup_version,
    describe_update,
    list_updates,
    create_addon,
    describe_addon,
    update_addon,
    delete_addon,
    list_addons,
    describe_addon_versions,
    describe_cluster_versions,
    create_pod_identity_association,
    describe_pod_identity_association,
    update_pod_identity_association,
    delete_pod_identity_association,
    list_pod_identity_associations,
    create_access_entry,
    describe_access_entry,
    update_access_entry,
    delete_access_entry,
    list_access_entries,
    associate_access_policy,
    list_associated_access_policies,
    disassociate_access_policy,
    list_access_policies,
]


def install():
    """Patch moto's EKS responses and routes (idempotent). Must run before the server builds its
    EKS Flask app, i.e. before the first EKS request."""
    if _original:
        return
    from . import acm_fixes, auth, ec2_fixes, realistic, route53_fixes

    auth.install()
    realistic.install()
    ec2_fixes.install()
    route53_fixes.install()
    acm_fixes.install()
    for fn in REPLACED:
        _original[fn.__name__] = getattr(EKSResponse, fn.__name__)
        setattr(EKSResponse, fn.__name__, fn)
    for fn in ADDED:
        setattr(EKSResponse, fn.__name__, fn)
    dispatch = eks_urls.response.dispatch
    for path in NEW_PATHS:
        eks_urls.url_paths.setdefault(path, dispatch)
