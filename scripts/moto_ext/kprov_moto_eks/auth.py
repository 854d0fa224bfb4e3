"""A fix to moto's IAM request authentication (only active once `/moto-api/reset-auth` turns it on).

moto 5.2.5 recomputes each request's SigV4 signature to check it. For a request with an empty
body (every REST GET: EKS ListClusters / DescribeCluster, Route53 ListHostedZones, …) it signs the
*parsed parameters* instead of the empty payload, so the signature never matches and every such
call fails with `SignatureDoesNotMatch`, whatever the policy says. AWS signs the bytes sent: an
empty body is an empty payload. Query-protocol and JSON services send a body and are unaffected.
"""

from botocore.awsrequest import AWSRequest
from moto.iam import access_control

_patched = False


def _create_aws_request(self):
    signed_headers = self._get_string_between("SignedHeaders=", ",", self._headers["Authorization"]).split(";")
    headers = self._create_headers_for_aws_request(signed_headers, self._headers)
    # A form-encoded POST (EC2 / IAM / ELBv2 query protocol) arrives with its body already parsed
    # into `_data`: moto's own choice is right there. Only a request without a form body (a REST
    # GET / DELETE, an empty PUT) is signed over an empty payload.
    content_type = self._headers.get("Content-Type", "") or self._headers.get("content-type", "")
    payload = self._body or (self._data if "x-www-form-urlencoded" in content_type else b"")
    request = AWSRequest(method=self._method, url=self._path, data=payload, headers=headers)
    request.context["timestamp"] = headers["X-Amz-Date"]
    return request


def install():
    """Idempotent."""
    global _patched
    if not _patched:
        access_control.IAMRequestBase._create_aws_request = _create_aws_request
        _patched = True
