"""SES feedback intake: the SNS endpoint for bounce, complaint and delivery notifications
(``POST /sns/ses-events``), with full SNS signature verification."""

from __future__ import annotations

from email_actions.sns.verify import (
    CertificateFetchError,
    HttpsCertificateFetcher,
    SnsCertificateUnavailable,
    SnsEnvelope,
    SnsMalformed,
    SnsRejected,
    SnsVerifier,
    check_certificate_url,
    string_to_sign,
)
from email_actions.sns.views import confirm_subscription, get_verifier, init_app, make_verifier

__all__ = [
    "CertificateFetchError",
    "HttpsCertificateFetcher",
    "SnsCertificateUnavailable",
    "SnsEnvelope",
    "SnsMalformed",
    "SnsRejected",
    "SnsVerifier",
    "check_certificate_url",
    "confirm_subscription",
    "get_verifier",
    "init_app",
    "make_verifier",
    "string_to_sign",
]
