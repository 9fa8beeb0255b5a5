"""The common ground of every page reached through an email link: verify the token, find its email, brand
the page, and answer a bad or expired link the same friendly way everywhere.

A token verifies (signature, purpose, age) and must name an existing email whose nonce it carries; anything
else is the one generic "this link is not valid" page (404), an expired one the "this link has expired"
page (410) with a button that sends a fresh link. Neither says why, and nothing is written.

Forms on these pages carry a *form token* (a signed, 1-hour, per-page value naming the email and purpose):
the POST must echo it. Together with the link token this is the page's CSRF proof, and its random part
makes a double submit of one form recognisable (e.g. one contact request, not two).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, cast

from flask import Flask, current_app, g, render_template
from itsdangerous import BadData, URLSafeTimedSerializer

from config.settings import Settings, get_settings
from email_actions.mail import brand_settings
from email_actions.mail.brands import Brand, BrandUnusable
from email_actions.mail.links import LinkClaims, LinkExpired, LinkInvalid, Links, Purpose
from sync_service.store import models
from sync_service.store.db import current_session

FORM_MAX_AGE = 3600
LINKS_KEY = "renewals.links"


@dataclass(frozen=True)
class Opened:
    claims: LinkClaims
    message: models.EmailMessage
    brand: Brand


def links() -> Links:
    return cast(Links, current_app.extensions[LINKS_KEY])


def brand_of(message: models.EmailMessage | None) -> Brand:
    """The brand the email went out under (the default brand when unknown or no longer usable), as the brands
    in force (the admin console's, else the brands file) have it now."""
    book = brand_settings.brands_for_pages(current_session(), get_settings())
    if message is not None and message.brand:
        try:
            return book.get(message.brand)
        except (BrandUnusable, KeyError):
            pass
    return book.default


def open_link(purpose: Purpose, token: str) -> Opened:
    """Verify `token` for `purpose` and load its email; raises LinkInvalid / LinkExpired."""
    try:
        claims = links().verify(purpose, token)
    except LinkExpired as exc:
        exc.token, exc.purpose = token, purpose  # the expired page's "send me a fresh link" form needs them
        raise
    message = current_session().get(models.EmailMessage, claims.message_id)
    if message is None or message.nonce != claims.nonce:
        raise LinkInvalid("invalid link")
    g.email_message_id = message.id  # rate limits key on the decoded email, never the token string
    return Opened(claims, message, brand_of(message))


def _form_serializer() -> URLSafeTimedSerializer:
    keys = [key.reveal() for key in get_settings().secret_keys]
    return URLSafeTimedSerializer(keys, salt="renewals.form")


def form_token(message: models.EmailMessage, purpose: str, *, subject: str | int | None = None) -> str:
    """A token for one rendering of a form (embed it as a hidden field)."""
    payload = {"m": message.id, "p": purpose, "s": subject, "n": secrets.token_urlsafe(16)}
    return str(_form_serializer().dumps(payload))


def check_form_token(
    value: str | None, message: models.EmailMessage, purpose: str, *, subject: str | int | None = None
) -> str | None:
    """The form's random part when `value` is a fresh form token of this email, purpose and subject; else None."""
    if not value:
        return None
    try:
        payload: Any = _form_serializer().loads(value, max_age=FORM_MAX_AGE)
    except BadData:
        return None
    if (
        not isinstance(payload, dict)
        or payload.get("m") != message.id
        or payload.get("p") != purpose
        or payload.get("s") != subject
    ):
        return None
    nonce = payload.get("n")
    return nonce if isinstance(nonce, str) else None


def render_page(template: str, *, brand: Brand, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, brand=brand, **context), status


def _invalid(error: LinkInvalid) -> tuple[str, int]:
    if isinstance(error, LinkExpired):
        message = current_session().get(models.EmailMessage, error.message_id) if error.message_id else None
        # The button posts the expired token back; a fresh link goes to the address on file, never on screen.
        return render_page(
            "public/expired.html",
            brand=brand_of(message),
            status=410,
            expired_token=error.token,
            expired_purpose=error.purpose,
        )
    return render_page("public/invalid.html", brand=brand_of(None), status=404)


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions[LINKS_KEY] = Links(settings)
    app.register_error_handler(LinkInvalid, _invalid)
