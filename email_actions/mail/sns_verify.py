"""Verifying an SNS message before anything acts on it (reference §4.7), step by step.

A forged bounce or complaint would suppress a real customer, so nothing in a message is trusted until its
signature checks out, and nothing taken from an unverified message is ever fetched:

1. the body is a JSON object whose ``Type`` is ``Notification``, ``SubscriptionConfirmation`` or
   ``UnsubscribeConfirmation``, with every signed field present;
2. its ``TopicArn`` is in the exact allow-list (``RENEWALS_SNS_TOPIC_ARNS``), checked before any network I/O;
3. ``SignatureVersion`` is ``"1"`` (SHA1withRSA) or ``"2"`` (SHA256withRSA);
4. ``SigningCertURL`` is ``https://sns.<region>.amazonaws.com[.cn]/SimpleNotificationService-<hex>.pem``:
   no userinfo, no port, no query, the region of the topic; the URL fetched is rebuilt from the checked
   parts, never the string as sent (S3-hosted and look-alike hosts are refused);
5. the certificate is fetched over HTTPS (TLS verified, no redirects, short timeout, size cap), cached by
   URL, and must be inside its validity dates;
6. the string to sign is rebuilt in the documented key order for the type (``Subject`` only when present);
7. the signature is checked, PKCS#1 v1.5 with SHA-1 or SHA-256 per step 3.

Each failure raises :class:`SnsRejected` (or a subclass) whose ``reason`` is short and safe to log or
return; it never quotes the body. The certificate fetcher is a plain callable attribute, so tests replace
only the fetch and keep the cryptography real.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MESSAGE_TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")

# The fields each type's signature covers, in the order they are signed (reference §4.7 step 6).
SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
OPTIONAL_FIELDS = frozenset({"Subject"})

CERT_HOST = re.compile(r"sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?")
CERT_PATH = re.compile(r"/SimpleNotificationService-[0-9a-fA-F]+\.pem")
# Printable ASCII without spaces: anything else in a certificate URL is a parser trick, not AWS.
URL_CHARACTERS = re.compile(r"[\x21-\x7e]+")

MAX_MESSAGE_ID_LENGTH = 100  # the width of sns_messages.message_id
CERTIFICATE_TIMEOUT_SECONDS = 5.0
CERTIFICATE_MAX_BYTES = 16 * 1024
CERTIFICATE_CACHE_SIZE = 32

CertificateFetcher = Callable[[str], bytes]


class SnsRejected(Exception):
    """A message that is not accepted: forged, from an unknown topic, or unverifiable. ``reason`` is safe
    to log and to return (it never quotes the body)."""

    status = 403

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SnsMalformed(SnsRejected):
    """The body is not an SNS message at all: not JSON, an unknown type, or a missing field."""

    status = 400


class SnsCertificateUnavailable(SnsRejected):
    """The signing certificate could not be fetched just now (a timeout, a refused connection, a 5xx from
    the AWS host). The message may well be genuine, so the endpoint answers 503 and SNS retries it; a 4xx
    from SNS's endpoint would make SNS drop the message for good."""

    status = 503


class CertificateFetchError(Exception):
    """A certificate fetch that failed; ``transient`` says whether trying again later could help."""

    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


@dataclass(frozen=True)
class SnsEnvelope:
    """A verified SNS message: the signed fields the endpoint acts on."""

    type: str
    message_id: str
    topic_arn: str
    # The SES notification as sent: a JSON string (AWS), or a JSON object (moto, in local development).
    message: str | dict[str, Any] | list[Any]
    timestamp: str
    signature_version: str
    subject: str | None = None
    token: str | None = None

    @property
    def region(self) -> str:
        return topic_region(self.topic_arn)


def topic_region(topic_arn: str) -> str:
    """The region of ``arn:aws:sns:<region>:<account>:<name>``."""
    return topic_arn.split(":")[3]


def parse_body(body: bytes | str) -> dict[str, Any]:
    """The JSON object an SNS POST carries (SNS sends it as ``text/plain``)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SnsMalformed("the body is not JSON") from exc
    if not isinstance(data, dict):
        raise SnsMalformed("the body is not a JSON object")
    return data


def check_certificate_url(url: object, topic_arn: str) -> str:
    """The certificate URL rebuilt from its checked parts, or :class:`SnsRejected` (reference §4.7 step 4).

    Only ``https://sns.<topic's region>.amazonaws.com[.cn]/SimpleNotificationService-<hex>.pem`` passes,
    and the result must equal the URL as sent, so whatever the HTTP client parses is what was checked.
    """
    if not isinstance(url, str) or not URL_CHARACTERS.fullmatch(url):
        raise SnsRejected("SigningCertURL is missing or has characters a certificate URL cannot have")
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise SnsRejected("SigningCertURL is not https")
    try:
        port = parts.port
    except ValueError as exc:
        raise SnsRejected("SigningCertURL has an invalid port") from exc
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise SnsRejected("SigningCertURL has userinfo")
    if port is not None or ":" in parts.netloc:
        raise SnsRejected("SigningCertURL names a port")
    host = parts.hostname or ""
    if not CERT_HOST.fullmatch(host):
        raise SnsRejected("SigningCertURL is not on an Amazon SNS host")
    if not CERT_PATH.fullmatch(parts.path) or parts.query or parts.fragment:
        raise SnsRejected("SigningCertURL is not an SNS signing certificate path")
    if host.split(".")[1] != topic_region(topic_arn):
        raise SnsRejected("SigningCertURL is in another region than the topic")
    rebuilt = f"https://{host}{parts.path}"
    if rebuilt != url:
        raise SnsRejected("SigningCertURL is not in canonical form")
    return rebuilt


def string_to_sign(data: Mapping[str, Any], message_type: str, *, accept_object_message: bool = False) -> str:
    """The canonical ``Key\\nValue\\n`` string SNS signed for this message type (reference §4.7 step 6)."""
    lines: list[str] = []
    for key in SIGNED_FIELDS[message_type]:
        value = data.get(key)
        if value is None and key in OPTIONAL_FIELDS:
            continue
        if key == "Message" and accept_object_message and isinstance(value, dict | list):
            # moto publishes SES feedback as an object and signs its Python str() (reference §4.8).
            value = str(value)
        if not isinstance(value, str):
            raise SnsMalformed(f"{key} is missing or not a string")
        lines.extend((key, value))
    return "".join(f"{line}\n" for line in lines)


def _field(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise SnsMalformed(f"{key} is missing or not a string")
    return value


class SnsVerifier:
    """Verifies SNS messages for an allow-list of topics; see the module docstring for the steps.

    ``fetch_certificate(url)`` returns the PEM bytes at an already-checked certificate URL, raising
    :class:`CertificateFetchError` when it cannot. ``accept_object_message`` is for local development with
    moto only: it accepts moto's SES feedback, whose ``Message`` is a JSON object signed as its Python
    ``str()``; the signature is still checked with the certificate from the checked URL.
    """

    def __init__(
        self,
        topic_arns: Sequence[str],
        *,
        fetch_certificate: CertificateFetcher | None = None,
        accept_object_message: bool = False,
        cache_size: int = CERTIFICATE_CACHE_SIZE,
    ) -> None:
        self.topic_arns = frozenset(topic_arns)
        self.fetch_certificate: CertificateFetcher = fetch_certificate or HttpsCertificateFetcher()
        self.accept_object_message = accept_object_message
        self._cache: OrderedDict[str, x509.Certificate] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def verify_body(self, body: bytes | str, *, now: datetime | None = None) -> SnsEnvelope:
        return self.verify(parse_body(body), now=now)

    def verify(self, data: Mapping[str, Any], *, now: datetime | None = None) -> SnsEnvelope:
        """The verified envelope of ``data``, or :class:`SnsRejected` saying which step failed."""
        message_type = data.get("Type")
        if not isinstance(message_type, str) or message_type not in MESSAGE_TYPES:
            raise SnsMalformed("Type is not Notification, SubscriptionConfirmation or UnsubscribeConfirmation")
        message_id = _field(data, "MessageId")
        if len(message_id) > MAX_MESSAGE_ID_LENGTH:
            raise SnsMalformed("MessageId is too long")
        topic_arn = _field(data, "TopicArn")
        for key in SIGNED_FIELDS[message_type]:
            if key not in OPTIONAL_FIELDS and key != "Message":
                _field(data, key)
        canonical = string_to_sign(data, message_type, accept_object_message=self.accept_object_message)
        signature_b64 = _field(data, "Signature")

        # Step 2, before anything touches the network.
        if topic_arn not in self.topic_arns:
            raise SnsRejected("TopicArn is not in the allow-list")

        version = data.get("SignatureVersion")
        if version == "1":
            algorithm: hashes.HashAlgorithm = hashes.SHA1()  # noqa: S303 - SNS SignatureVersion 1 is SHA1withRSA
        elif version == "2":
            algorithm = hashes.SHA256()
        else:
            raise SnsRejected("SignatureVersion is not 1 or 2")

        cert_url = check_certificate_url(data.get("SigningCertURL"), topic_arn)
        try:
            signature = base64.b64decode(signature_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SnsRejected("Signature is not base64") from exc

        certificate = self._certificate(cert_url)
        moment = now or datetime.now(UTC)
        if not certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc:
            raise SnsRejected("the signing certificate is outside its validity dates")
        public_key = certificate.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise SnsRejected("the signing certificate's key is not RSA")
        try:
            public_key.verify(signature, canonical.encode("utf-8"), padding.PKCS1v15(), algorithm)
        except InvalidSignature as exc:
            raise SnsRejected("the signature does not match the message") from exc

        message = data["Message"]
        subject = data.get("Subject")
        token = data.get("Token")
        return SnsEnvelope(
            type=message_type,
            message_id=message_id,
            topic_arn=topic_arn,
            message=message,
            timestamp=str(data["Timestamp"]),
            signature_version=version,
            subject=subject if isinstance(subject, str) else None,
            token=token if isinstance(token, str) else None,
        )

    def _certificate(self, url: str) -> x509.Certificate:
        with self._lock:
            cached = self._cache.get(url)
            if cached is not None:
                self._cache.move_to_end(url)
                return cached
        try:
            pem = self.fetch_certificate(url)
        except CertificateFetchError as exc:
            if exc.transient:
                raise SnsCertificateUnavailable(f"the signing certificate could not be fetched: {exc.reason}") from exc
            raise SnsRejected(f"the signing certificate could not be fetched: {exc.reason}") from exc
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise SnsRejected("the signing certificate is not a PEM certificate") from exc
        with self._lock:
            self._cache[url] = certificate
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return certificate


class HttpsCertificateFetcher:
    """Fetches a signing certificate from an already-checked AWS URL: TLS verified, redirects off, a short
    timeout and a size cap (reference §4.7 step 5).

    ``local_endpoint`` (``RENEWALS_SNS_CERTIFICATE_ENDPOINT_URL``, loopback only) is for local development:
    the same path is fetched from a moto server instead of the AWS host, after the AWS URL passed every
    check. moto routes a request to its SNS service by the SigV4 credential scope, so that request carries
    a signature made with fixed placeholder credentials (moto does not check it; no real ones are used).
    """

    def __init__(
        self,
        *,
        local_endpoint: str | None = None,
        timeout: float = CERTIFICATE_TIMEOUT_SECONDS,
        max_bytes: int = CERTIFICATE_MAX_BYTES,
    ) -> None:
        self.local_endpoint = local_endpoint
        self.timeout = timeout
        self.max_bytes = max_bytes

    def __call__(self, url: str) -> bytes:
        target = url
        headers: dict[str, str] = {}
        if self.local_endpoint is not None:
            parts = urlsplit(url)
            target = self.local_endpoint.rstrip("/") + parts.path
            headers = _local_routing_headers(target, (parts.hostname or "").split(".")[1])
        try:
            with requests.get(
                target, headers=headers, timeout=self.timeout, allow_redirects=False, stream=True
            ) as response:
                if response.status_code != 200:
                    transient = response.status_code >= 500 or response.status_code == 429
                    raise CertificateFetchError(f"HTTP {response.status_code}", transient=transient)
                body = b""
                for chunk in response.iter_content(chunk_size=4096):
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise CertificateFetchError("the response is too large", transient=False)
                return body
        except requests.RequestException as exc:
            raise CertificateFetchError(type(exc).__name__, transient=True) from exc


def _local_routing_headers(url: str, region: str) -> dict[str, str]:
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("local-development", "local-development"), "sns", region).add_auth(request)
    return {name: str(value) for name, value in request.headers.items()}
