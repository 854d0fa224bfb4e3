"""A fix to moto's ACM RequestCertificate, which answered HTTP 500 where AWS answers.

AWS: "Idempotency tokens time out after one hour. Therefore, if you call RequestCertificate
multiple times with the same idempotency token within one hour, ACM recognizes that you are
requesting only one certificate and will issue only one" (API reference, RequestCertificate:
https://docs.aws.amazon.com/acm/latest/APIReference/API_RequestCertificate.html). AWS answers
every such call; it does not document the case of a token whose certificate has been deleted in
the meantime.
moto 5.2.5 remembers the token's ARN and looks the certificate up without checking that it still
exists: a request with the token of a deleted certificate fails with a KeyError — HTTP 500, which
the kill -9 soak met (a destroy that deleted a certificate, then a create resumed with the same
intent's token).
Fixed: a token whose certificate is gone no longer names a certificate; the request is a new one
and issues a new certificate (the token then names that one), as moto does once a token has timed
out. A request with the token of a live certificate still returns that certificate.
"""

from moto.acm.models import AWSCertificateManagerBackend

_patched = False
_original_request = AWSCertificateManagerBackend.request_certificate


def _request_certificate(self, domain_name, idempotency_token, *args, **kwargs):
    if idempotency_token is not None:
        entry = self._idempotency_tokens.get(idempotency_token)
        if entry is not None and entry["arn"] not in self._certificates:
            del self._idempotency_tokens[idempotency_token]
    return _original_request(self, domain_name, idempotency_token, *args, **kwargs)


def install():
    """Idempotent."""
    global _patched
    if not _patched:
        AWSCertificateManagerBackend.request_certificate = _request_certificate
        _patched = True
