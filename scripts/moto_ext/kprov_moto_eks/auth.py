"""Fixes to moto's IAM request authentication (only active once `/moto-api/reset-auth` turns it on).

moto 5.2.5 recomputes each request's SigV4 signature to check it, over what it thinks the payload
was, and gets it wrong in two cases:

- a request with an empty body (every REST GET: EKS ListClusters / DescribeCluster, Route53
  ListHostedZones, ...): it signs the *parsed parameters* instead of the empty payload, so every
  such call fails with `SignatureDoesNotMatch`. AWS signs the bytes sent: an empty body is an
  empty payload. Fixed: signed as empty.
- a form-encoded POST (EC2 / IAM / ELBv2 query protocol): the server has already parsed the body
  into parameters and lost the bytes; moto re-encodes the parameters with botocore's escaping,
  which differs from the Rust SDK's for some characters (policy documents, descriptions), so
  CreateRole / CreateSecurityGroup fail with `SignatureDoesNotMatch` / `AuthFailure` although the
  signature is right. The bytes are gone, so the signature of these requests is NOT checked.

What is still checked for every request: the access key must belong to a known principal (an
unknown key is refused), and the principal's policies must allow the request's action — the part
kprov's least-privilege test is about.
"""

from botocore.awsrequest import AWSRequest
from moto.iam import access_control

_patched = False
_original_check_signature = access_control.IAMRequestBase.check_signature


def _is_form_without_bytes(self):
    content_type = self._headers.get("Content-Type", "") or self._headers.get("content-type", "")
    return not self._body and "x-www-form-urlencoded" in content_type


def _create_aws_request(self):
    signed_headers = self._get_string_between("SignedHeaders=", ",", self._headers["Authorization"]).split(";")
    headers = self._create_headers_for_aws_request(signed_headers, self._headers)
    request = AWSRequest(method=self._method, url=self._path, data=self._body or b"", headers=headers)
    request.context["timestamp"] = headers["X-Amz-Date"]
    return request


def _check_signature(self):
    if _is_form_without_bytes(self):
        return
    _original_check_signature(self)


def install():
    """Idempotent."""
    global _patched
    if not _patched:
        access_control.IAMRequestBase._create_aws_request = _create_aws_request
        access_control.IAMRequestBase.check_signature = _check_signature
        _patched = True
