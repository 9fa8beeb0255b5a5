"""SNS signature verification (reference §4.7, §7.5): genuine messages pass, forged ones fail at the right step.

The keys, certificates and signatures are real (a test RSA key and a self-signed certificate); only the
certificate fetch is replaced, and the string to sign is built here independently of the module under test.
The helpers at the top are shared with ``test_sns_intake.py``.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from werkzeug.wrappers import Request, Response

from email_actions.mail.sns_verify import (
    CertificateFetchError,
    HttpsCertificateFetcher,
    SnsCertificateUnavailable,
    SnsMalformed,
    SnsRejected,
    SnsVerifier,
    check_certificate_url,
)
from tests.processes import free_port, serve_wsgi

TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"
OTHER_TOPIC = "arn:aws:sns:us-east-1:123456789012:someone-elses-topic"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"

# The signed fields per type, in signing order, as the AWS documentation lists them.
ORDER = {
    "Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
    "SubscriptionConfirmation": ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"],
    "UnsubscribeConfirmation": ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"],
}


@dataclass
class Signer:
    """A test signing key with its self-signed certificate, signing SNS messages the way SNS does."""

    key: rsa.RSAPrivateKey
    pem: bytes

    def sign(
        self, data: dict[str, Any], *, version: str = "2", order: list[str] | None = None, cert_url: str = CERT_URL
    ) -> dict[str, Any]:
        keys = order or ORDER[data["Type"]]
        text = "".join(f"{key}\n{data[key]}\n" for key in keys if key in data)
        algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()  # noqa: S303 - SNS version 1
        signature = self.key.sign(text.encode("utf-8"), padding.PKCS1v15(), algorithm)
        return {
            **data,
            "SignatureVersion": version,
            "Signature": base64.b64encode(signature).decode("ascii"),
            "SigningCertURL": cert_url,
        }


def make_signer(*, valid_from: datetime | None = None, valid_until: datetime | None = None) -> Signer:
    now = datetime.now(UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from or now - timedelta(days=1))
        .not_valid_after(valid_until or now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return Signer(key=key, pem=certificate.public_bytes(serialization.Encoding.PEM))


@dataclass
class FakeFetcher:
    """Stands in for the HTTPS certificate fetch and records every URL asked for."""

    pem: bytes
    calls: list[str] = field(default_factory=list)
    error: CertificateFetchError | None = None

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        if self.error is not None:
            raise self.error
        return self.pem


def timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def notification(
    message: str, *, subject: str | None = None, topic: str = TOPIC, message_id: str = ""
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": message,
        "Timestamp": timestamp(),
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
    }
    if subject is not None:
        data["Subject"] = subject
    return data


def subscription_message(
    kind: str = "SubscriptionConfirmation",
    *,
    topic: str = TOPIC,
    subscribe_url: str = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
) -> dict[str, Any]:
    return {
        "Type": kind,
        "MessageId": str(uuid.uuid4()),
        "Token": "2336412f37fb687f5d51e6e2425c464de12884eb8e1bd4d5f0e1f4fc9a3b3e5f" * 2,
        "TopicArn": topic,
        "Message": f"You have chosen to subscribe to the topic {topic}.",
        "SubscribeURL": subscribe_url,
        "Timestamp": timestamp(),
    }


@pytest.fixture(scope="module")
def signer() -> Signer:
    return make_signer()


@pytest.fixture
def fetcher(signer: Signer) -> FakeFetcher:
    return FakeFetcher(signer.pem)


@pytest.fixture
def verifier(fetcher: FakeFetcher) -> SnsVerifier:
    return SnsVerifier([TOPIC], fetch_certificate=fetcher)


# --- Genuine messages --------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("subject", [None, "Amazon SES Email Event Notification"])
def test_a_signed_notification_is_accepted(
    verifier: SnsVerifier, fetcher: FakeFetcher, signer: Signer, version: str, subject: str | None
) -> None:
    data = signer.sign(notification('{"notificationType": "Delivery"}', subject=subject), version=version)
    envelope = verifier.verify(data)
    assert (envelope.type, envelope.message_id, envelope.topic_arn) == ("Notification", data["MessageId"], TOPIC)
    assert envelope.message == '{"notificationType": "Delivery"}'
    assert envelope.subject == subject
    assert envelope.signature_version == version
    assert fetcher.calls == [CERT_URL]


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
def test_signed_subscription_messages_are_accepted(
    verifier: SnsVerifier, signer: Signer, version: str, kind: str
) -> None:
    data = signer.sign(subscription_message(kind), version=version)
    envelope = verifier.verify(data)
    assert envelope.type == kind
    assert envelope.token == data["Token"]


def test_the_certificate_is_fetched_once_per_url(verifier: SnsVerifier, fetcher: FakeFetcher, signer: Signer) -> None:
    for _ in range(3):
        verifier.verify(signer.sign(notification("{}")))
    assert fetcher.calls == [CERT_URL]


def test_the_body_can_be_verified_from_bytes(verifier: SnsVerifier, signer: Signer) -> None:
    data = signer.sign(notification('{"x": "é"}'))
    assert verifier.verify_body(json.dumps(data).encode()).message == '{"x": "é"}'


# --- Forged and mismatched messages ------------------------------------------------------------------------


def test_a_signature_by_another_key_is_rejected(verifier: SnsVerifier) -> None:
    forger = make_signer()
    with pytest.raises(SnsRejected, match="signature does not match") as caught:
        verifier.verify(forger.sign(notification('{"notificationType": "Bounce"}')))
    assert caught.value.status == 403


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda d: d.update(Message=d["Message"].replace("Delivery", "Bounce")), id="edited-message"),
        pytest.param(lambda d: d.update(MessageId=str(uuid.uuid4())), id="edited-message-id"),
        pytest.param(lambda d: d.update(Timestamp="2030-01-01T00:00:00.000Z"), id="edited-timestamp"),
        pytest.param(lambda d: d.update(Subject="added after signing"), id="added-subject"),
        pytest.param(lambda d: d.update(SignatureVersion="1"), id="version-downgraded"),
    ],
)
def test_an_edited_message_is_rejected(verifier: SnsVerifier, signer: Signer, edit: Any) -> None:
    data = signer.sign(notification('{"notificationType": "Delivery"}'))
    edit(data)
    with pytest.raises(SnsRejected, match="signature does not match"):
        verifier.verify(data)


def test_a_removed_subject_is_rejected(verifier: SnsVerifier, signer: Signer) -> None:
    data = signer.sign(notification("{}", subject="hello"))
    del data["Subject"]
    with pytest.raises(SnsRejected, match="signature does not match"):
        verifier.verify(data)


def test_a_swapped_field_order_is_rejected(verifier: SnsVerifier, signer: Signer) -> None:
    swapped = ["MessageId", "Message", "Timestamp", "TopicArn", "Type"]
    with pytest.raises(SnsRejected, match="signature does not match"):
        verifier.verify(signer.sign(notification("{}"), order=swapped))


def test_a_notification_signed_as_a_confirmation_is_rejected(verifier: SnsVerifier, signer: Signer) -> None:
    data = signer.sign(subscription_message())
    data["Type"] = "Notification"
    with pytest.raises(SnsRejected):
        verifier.verify(data)


@pytest.mark.parametrize("version", ["3", "0", "", "2 ", 2, None])
def test_an_unknown_signature_version_is_rejected_before_any_fetch(
    verifier: SnsVerifier, fetcher: FakeFetcher, signer: Signer, version: object
) -> None:
    data = signer.sign(notification("{}"))
    data["SignatureVersion"] = version
    with pytest.raises(SnsRejected, match="SignatureVersion"):
        verifier.verify(data)
    assert fetcher.calls == []


def test_a_topic_outside_the_allow_list_is_rejected_before_any_fetch(
    verifier: SnsVerifier, fetcher: FakeFetcher, signer: Signer
) -> None:
    # Genuinely signed, by the same key even: the topic alone decides, and nothing is fetched.
    for data in (notification("{}", topic=OTHER_TOPIC), subscription_message(topic=OTHER_TOPIC)):
        with pytest.raises(SnsRejected, match="TopicArn is not in the allow-list") as caught:
            verifier.verify(signer.sign(data))
        assert caught.value.status == 403
    assert fetcher.calls == []


def test_an_empty_allow_list_accepts_nothing(fetcher: FakeFetcher, signer: Signer) -> None:
    with pytest.raises(SnsRejected, match="allow-list"):
        SnsVerifier([], fetch_certificate=fetcher).verify(signer.sign(notification("{}")))
    assert fetcher.calls == []


PEM = "/SimpleNotificationService-0123456789abcdef.pem"


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"http://sns.us-east-1.amazonaws.com{PEM}", id="http"),
        pytest.param(f"https://sns.us-east-1.amazonaws.com.evil.com{PEM}", id="suffix-host"),
        pytest.param("https://evil.com/sns.amazonaws.com/x.pem", id="aws-in-path"),
        pytest.param("https://sns.us-east-1.amazonaws.com@evil.com/x.pem", id="userinfo-trick"),
        pytest.param(f"https://user:pw@sns.us-east-1.amazonaws.com{PEM}", id="userinfo"),
        pytest.param(f"https://sns.us-east-1.amazonaws.com\\@evil.com{PEM}", id="backslash"),
        pytest.param(f"https://sns.us-east-1.amazonaws.com:443{PEM}", id="port"),
        pytest.param(f"https://sns.us-east-1.amazonaws.com:8443{PEM}", id="other-port"),
        pytest.param(f"https://s3.amazonaws.com/attacker-bucket{PEM}", id="s3-path-style"),
        pytest.param(f"https://attacker-bucket.s3.us-east-1.amazonaws.com{PEM}", id="s3-virtual-host"),
        pytest.param(f"https://sns.eu-west-1.amazonaws.com{PEM}", id="other-region"),
        pytest.param("https://sns.us-east-1.amazonaws.com/x.pem", id="other-path"),
        pytest.param(f"https://sns.us-east-1.amazonaws.com/a{PEM}", id="nested-path"),
        pytest.param(f"https://sns.us-east-1.amazonaws.com{PEM}?x=1", id="query"),
        pytest.param(f"https://sns.us-east-1.amazonaws.com{PEM}#x", id="fragment"),
        pytest.param(f"https://sns.us-east-1.amazonaws.com{PEM}\n", id="trailing-newline"),
        pytest.param(f"https://sns.us-east-1.amazon\taws.com{PEM}", id="tab"),
        pytest.param(f"HTTPS://SNS.us-east-1.amazonaws.com{PEM}", id="not-canonical"),
        pytest.param(f"https://sns.us.amazonaws.com{PEM}", id="short-region"),
        pytest.param(f"//sns.us-east-1.amazonaws.com{PEM}", id="no-scheme"),
        pytest.param("", id="empty"),
        pytest.param(None, id="missing"),
    ],
)
def test_certificate_url_attacks_are_rejected_without_any_fetch(
    verifier: SnsVerifier, fetcher: FakeFetcher, signer: Signer, url: str | None
) -> None:
    data = signer.sign(notification("{}"), cert_url=url or "")
    if url is None:
        del data["SigningCertURL"]
    with pytest.raises(SnsRejected, match="SigningCertURL") as caught:
        verifier.verify(data)
    assert caught.value.status == 403
    assert fetcher.calls == []


def test_china_region_certificate_hosts_pass_the_url_check() -> None:
    topic = "arn:aws-cn:sns:cn-north-1:123456789012:ses-events"
    url = f"https://sns.cn-north-1.amazonaws.com.cn{PEM}"
    assert check_certificate_url(url, topic) == url


@pytest.mark.parametrize(
    ("valid_from", "valid_until"),
    [
        pytest.param(timedelta(days=-30), timedelta(days=-1), id="expired"),
        pytest.param(timedelta(days=1), timedelta(days=30), id="not-yet-valid"),
    ],
)
def test_a_certificate_outside_its_dates_is_rejected(valid_from: timedelta, valid_until: timedelta) -> None:
    now = datetime.now(UTC)
    outdated = make_signer(valid_from=now + valid_from, valid_until=now + valid_until)
    verifier = SnsVerifier([TOPIC], fetch_certificate=FakeFetcher(outdated.pem))
    with pytest.raises(SnsRejected, match="validity dates"):
        verifier.verify(outdated.sign(notification("{}")))


def test_something_that_is_not_a_certificate_is_rejected(signer: Signer) -> None:
    verifier = SnsVerifier([TOPIC], fetch_certificate=FakeFetcher(b"<html>hello</html>"))
    with pytest.raises(SnsRejected, match="not a PEM certificate"):
        verifier.verify(signer.sign(notification("{}")))


def test_a_failed_fetch_is_a_rejection_or_a_retry(signer: Signer) -> None:
    gone = FakeFetcher(signer.pem, error=CertificateFetchError("HTTP 404", transient=False))
    with pytest.raises(SnsRejected) as caught:
        SnsVerifier([TOPIC], fetch_certificate=gone).verify(signer.sign(notification("{}")))
    assert caught.value.status == 403

    down = FakeFetcher(signer.pem, error=CertificateFetchError("ConnectTimeout", transient=True))
    verifier = SnsVerifier([TOPIC], fetch_certificate=down)
    with pytest.raises(SnsCertificateUnavailable) as unavailable:
        verifier.verify(signer.sign(notification("{}")))
    assert unavailable.value.status == 503
    # A failure is not cached: once the host answers again, the next message is verified.
    down.error = None
    assert verifier.verify(signer.sign(notification("{}"))).type == "Notification"
    assert down.calls == [CERT_URL, CERT_URL]


def test_a_signature_that_is_not_base64_is_rejected(verifier: SnsVerifier, signer: Signer) -> None:
    data = signer.sign(notification("{}"))
    data["Signature"] = "not base64!"
    with pytest.raises(SnsRejected, match="base64"):
        verifier.verify(data)


# --- Malformed bodies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[1, 2]", b'"a string"', b"\xff\xfe", b'{"Type": "Notification"'],
)
def test_a_body_that_is_not_a_json_object_is_malformed(verifier: SnsVerifier, body: bytes) -> None:
    with pytest.raises(SnsMalformed) as caught:
        verifier.verify_body(body)
    assert caught.value.status == 400


@pytest.mark.parametrize("field_name", ["Type", "MessageId", "TopicArn", "Message", "Timestamp", "Signature"])
def test_a_notification_missing_a_field_is_malformed(
    verifier: SnsVerifier, fetcher: FakeFetcher, signer: Signer, field_name: str
) -> None:
    data = signer.sign(notification("{}"))
    del data[field_name]
    with pytest.raises(SnsMalformed, match=field_name if field_name != "Type" else "Type"):
        verifier.verify(data)
    assert fetcher.calls == []


@pytest.mark.parametrize("field_name", ["Token", "SubscribeURL"])
def test_a_confirmation_missing_a_field_is_malformed(verifier: SnsVerifier, signer: Signer, field_name: str) -> None:
    data = signer.sign(subscription_message())
    del data[field_name]
    with pytest.raises(SnsMalformed, match=field_name):
        verifier.verify(data)


def test_an_unknown_type_is_malformed(verifier: SnsVerifier, signer: Signer) -> None:
    data = signer.sign(notification("{}"))
    data["Type"] = "Surprise"
    with pytest.raises(SnsMalformed, match="Type"):
        verifier.verify(data)


def test_an_object_message_is_only_accepted_in_moto_mode(fetcher: FakeFetcher, signer: Signer) -> None:
    payload = {"notificationType": "Bounce", "mail": {"messageId": "x", "headersTruncated": False}}
    # moto signs str() of the object and posts the object itself (reference §4.8).
    data = notification(str(payload))
    signed = signer.sign(data)
    signed["Message"] = json.loads(json.dumps(payload))
    with pytest.raises(SnsMalformed, match="Message"):
        SnsVerifier([TOPIC], fetch_certificate=fetcher).verify(signed)
    moto_mode = SnsVerifier([TOPIC], fetch_certificate=fetcher, accept_object_message=True)
    assert moto_mode.verify(signed).message == payload
    signed["Message"]["notificationType"] = "Complaint"
    with pytest.raises(SnsRejected, match="signature does not match"):
        moto_mode.verify(signed)


# --- The HTTPS fetcher, against a local server -------------------------------------------------------------


@pytest.fixture
def certificate_server(signer: Signer) -> Iterator[tuple[str, list[Request]]]:
    """A loopback server standing in for the certificate host: the path picks the answer."""
    seen: list[Request] = []

    @Request.application
    def serve(request: Request) -> Response:
        seen.append(request)
        name = request.path.rsplit("-", 1)[-1]
        if name == "aaaa.pem":
            return Response(signer.pem, mimetype="application/x-x509-ca-cert")
        if name == "bbbb.pem":  # to this server, which would see the request if the fetcher followed it
            return Response(status=302, headers={"Location": f"{request.host_url}elsewhere.pem"})
        if name == "cccc.pem":
            return Response(b"x" * 100_000)
        if name == "dddd.pem":
            return Response(status=503)
        return Response(status=404)

    with serve_wsgi(serve) as base:
        yield base, seen


def aws_url(name: str) -> str:
    return f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{name}.pem"


def test_the_fetcher_reads_the_certificate_path_from_the_local_endpoint(
    certificate_server: tuple[str, list[Request]], signer: Signer
) -> None:
    base, seen = certificate_server
    fetch = HttpsCertificateFetcher(local_endpoint=base)
    assert fetch(aws_url("aaaa")) == signer.pem
    assert seen[0].path == "/SimpleNotificationService-aaaa.pem"
    # Routed the way moto routes SNS requests: a SigV4 scope naming sns and the topic's region.
    assert "/us-east-1/sns/aws4_request" in seen[0].headers["Authorization"]


@pytest.mark.parametrize(
    ("name", "transient"),
    [("bbbb", False), ("cccc", False), ("dddd", True), ("eeee", False)],
    ids=["redirect-not-followed", "too-large", "server-error", "not-found"],
)
def test_the_fetcher_refuses_redirects_large_bodies_and_errors(
    certificate_server: tuple[str, list[Request]], name: str, transient: bool
) -> None:
    base, seen = certificate_server
    with pytest.raises(CertificateFetchError) as caught:
        HttpsCertificateFetcher(local_endpoint=base)(aws_url(name))
    assert caught.value.transient is transient
    assert len(seen) == 1  # the redirect was not followed


def test_an_unreachable_certificate_host_is_transient() -> None:
    with pytest.raises(CertificateFetchError) as caught:
        HttpsCertificateFetcher(local_endpoint=f"http://127.0.0.1:{free_port()}", timeout=2)(aws_url("aaaa"))
    assert caught.value.transient is True
