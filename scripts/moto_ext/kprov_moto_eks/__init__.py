"""kprov's extension of moto's EKS emulation (moto 5.2.5).

moto answers several EKS operations kprov needs with HTTP 404/500, and gets a few others wrong.
`install()` adds the missing operations and fixes the wrong ones inside moto's own EKS backend,
so their state is kept per account and region exactly like moto's. `python -m kprov_moto_eks`
installs it and then runs moto's server with the usual arguments (`-H 127.0.0.1 -p PORT`).

Added: CreateAddon, DescribeAddon, UpdateAddon, DeleteAddon, ListAddons, DescribeAddonVersions;
CreatePodIdentityAssociation, DescribePodIdentityAssociation, UpdatePodIdentityAssociation,
DeletePodIdentityAssociation, ListPodIdentityAssociations; CreateAccessEntry,
DescribeAccessEntry, UpdateAccessEntry, DeleteAccessEntry, ListAccessEntries,
AssociateAccessPolicy, DisassociateAccessPolicy, ListAssociatedAccessPolicies,
ListAccessPolicies; UpdateClusterVersion, UpdateNodegroupVersion, DescribeUpdate, ListUpdates.

Fixed: CreateCluster (accessConfig kept, AWS's endpoint defaults, vpcId and a real cluster
security group, full logging block, a current default version, idempotent client token),
DeleteCluster (removes the cluster security group), UpdateClusterConfig (one kind of update per
call, unsent fields kept, no-op refused, returns an `update`), CreateNodegroup (version defaults
to the cluster's, AMI type / instance architecture checked, update config default),
UpdateNodegroupConfig (scaling bounds checked, update recorded), ListNodegroups (404 for a
missing cluster), Tag/Untag/ListTagsForResource (every taggable EKS resource, not only clusters).

Also fixed, outside EKS: IAM request authentication (`auth.py`) signs an empty body as an empty
payload, so REST GETs pass the signature check once `/moto-api/reset-auth` enables IAM checks;
EC2 (`ec2_fixes.py`): DeleteNatGateway frees its Elastic IPs, multi-value filters match "any of",
DeleteSubnet removes its route-table associations; Route 53 (`route53_fixes.py`): a record CREATE
is refused exactly when the record exists, a CallerReference is unique; ACM (`acm_fixes.py`):
RequestCertificate with a deleted certificate's idempotency token is answered.

Realistic mode (`realistic.py`, off unless `POST /kprov-api/realistic` enables it for a region):
seeded, time-scaled eventual consistency, leftovers of deletes and pending states, as AWS shows
them in the seconds after a change.

See docs/testing.md, "Emulated outside moto" and "Realistic mode", for what kprov's tests depend on.
"""

from .responses import install

__all__ = ["install"]
