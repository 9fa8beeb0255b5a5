"""Signed links in emails: one serializer per purpose, ids and a nonce only, keys rotated oldest → newest.

A token is ``URLSafeTimedSerializer(keys, salt="renewals.<purpose>")`` over ``{"m": <email message id>,
"p": <purpose>, "n": <the email's nonce>}``. The salt separates purposes (a Renew token does not verify as an
unsubscribe token) and the purpose inside the payload is checked again, so a mis-wired salt still fails.
Nothing personal is in a token (it is signed, not encrypted): the message id points at the row, the nonce
is what actions dedupe on (never the token string, which has several spellings).

``RENEWALS_SECRET_KEYS`` lists keys oldest first; the last one signs, all of them verify, so appending a key
rotates without breaking links already sent. Keep a retired key for the longest age below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from config.settings import Settings

Purpose = Literal["renew", "review", "contact", "quote", "open", "unsubscribe", "rep"]

DAY = 24 * 3600


@dataclass(frozen=True)
class LinkKind:
    purpose: Purpose
    path: str  # the URL path prefix; the token follows
    max_age: int  # seconds
    doc: str


# Reminders go out up to 90 days before the end date and 30 after; their links outlive the last one.
LINKS: dict[str, LinkKind] = {
    kind.purpose: kind
    for kind in (
        LinkKind("renew", "/a/renew/", 150 * DAY, "confirmation page, then a POST renews"),
        LinkKind("review", "/a/review/", 150 * DAY, "the customer portal"),
        LinkKind("contact", "/a/contact/", 150 * DAY, "the contact-rep form"),
        LinkKind("quote", "/q/", 150 * DAY, "the renewal quote PDF"),
        LinkKind("open", "/o/", 400 * DAY, "the open-tracking pixel (path ends .gif)"),
        # RFC 8058: List-Unsubscribe must keep working for as long as the mail sits in an inbox.
        LinkKind("unsubscribe", "/u/", 400 * DAY, "unsubscribe from reminders (GET confirms, POST acts)"),
        LinkKind("rep", "/rep/", 60 * DAY, "the rep's portal for the account's contracts"),
    )
}


class LinkInvalid(ValueError):
    """Bad, tampered, unknown or mis-purposed token: one generic page, nothing revealed."""


class LinkExpired(LinkInvalid):
    """A genuine token past its age: the page offers to send a fresh link."""

    def __init__(self, message_id: int | None, signed_at: datetime | None) -> None:
        self.message_id = message_id
        self.signed_at = signed_at
        # Set by the page that met it (email_actions.web.token_pages.open_link), for the fresh-link form.
        self.token: str | None = None
        self.purpose: str | None = None
        super().__init__("this link has expired")


@dataclass(frozen=True)
class LinkClaims:
    purpose: Purpose
    message_id: int
    nonce: str
    signed_at: datetime


class Links:
    """Signs and verifies the links of every purpose with the settings' keys."""

    def __init__(self, settings: Settings) -> None:
        keys = [key.reveal() for key in settings.secret_keys]  # oldest → newest: the last signs
        self.base_url = settings.public_base_url
        self._serializers = {purpose: URLSafeTimedSerializer(keys, salt=f"renewals.{purpose}") for purpose in LINKS}
        # The signing half of `dumps`, made once per purpose (`dumps` makes a signer for every token).
        self._signers = {purpose: serializer.make_signer() for purpose, serializer in self._serializers.items()}

    def token(self, purpose: Purpose, message_id: int, nonce: str) -> str:
        """What ``URLSafeTimedSerializer.dumps`` gives for the claims, with the purpose's signer kept."""
        payload = self._serializers[purpose].dump_payload({"m": message_id, "p": purpose, "n": nonce})
        return self._signers[purpose].sign(payload).decode("ascii")

    def url(self, purpose: Purpose, message_id: int, nonce: str) -> str:
        suffix = ".gif" if purpose == "open" else ""
        return f"{self.base_url}{LINKS[purpose].path}{self.token(purpose, message_id, nonce)}{suffix}"

    def urls(self, message_id: int, nonce: str, purposes: tuple[Purpose, ...]) -> dict[str, str]:
        return {purpose: self.url(purpose, message_id, nonce) for purpose in purposes}

    def verify(self, purpose: Purpose, token: str, *, now: datetime | None = None) -> LinkClaims:
        """The token's claims, or :class:`LinkExpired` / :class:`LinkInvalid`."""
        kind = LINKS.get(purpose)
        if kind is None:
            raise LinkInvalid("unknown link purpose")
        serializer = self._serializers[purpose]
        try:
            payload, signed_at = serializer.loads(token, max_age=kind.max_age, return_timestamp=True)
        except SignatureExpired as exc:
            message_id = None
            if isinstance(exc.payload, bytes):
                # The signature is genuine (only the age failed), so its payload can be read to offer a
                # fresh link for that email.
                try:
                    message_id = _claims(serializer.load_payload(exc.payload), purpose)[0]
                except (BadData, LinkInvalid):
                    message_id = None
            raise LinkExpired(message_id, exc.date_signed) from None
        except BadData:
            raise LinkInvalid("invalid link") from None
        message_id, nonce = _claims(payload, purpose)
        return LinkClaims(purpose, message_id, nonce, signed_at)

    def verify_ignoring_age(self, purpose: Purpose, token: str) -> LinkClaims:
        """The claims of a genuine token however old it is, for "email me a fresh link" on an expired one.

        The signature, salt and payload are verified as in :meth:`verify`; only the age is not checked.
        Anything else raises :class:`LinkInvalid`.
        """
        if purpose not in LINKS:
            raise LinkInvalid("unknown link purpose")
        try:
            payload, signed_at = self._serializers[purpose].loads(token, max_age=None, return_timestamp=True)
        except BadData:
            raise LinkInvalid("invalid link") from None
        message_id, nonce = _claims(payload, purpose)
        return LinkClaims(purpose, message_id, nonce, signed_at)


def _claims(payload: object, purpose: str) -> tuple[int, str]:
    if (
        not isinstance(payload, dict)
        or payload.get("p") != purpose
        or not isinstance(payload.get("m"), int)
        or isinstance(payload.get("m"), bool)
        or not isinstance(payload.get("n"), str)
    ):
        raise LinkInvalid("invalid link")
    return payload["m"], payload["n"]


def expires_on(purpose: Purpose, signed_at: datetime) -> datetime:
    return signed_at + timedelta(seconds=LINKS[purpose].max_age)


def utcnow() -> datetime:
    return datetime.now(UTC)
