"""The email carrying a partner rep's one-time sign-in code (issue 14, part 1).

It is sent at once, from the request that asked for it (a rep is waiting at the code page), through the same
SES sender and shared rate limit as every other email; the code is never written to the store, a queue or a log,
so it cannot be sent later by a job. The email carries **no link**: the code works only in the browser that asked
for it, so a forwarded or quoted copy of this email signs nobody in. An address suppressed for all mail (a hard
bounce or a complaint) is not sent to.
"""

from __future__ import annotations

from jinja2 import Environment, StrictUndefined
from redis import Redis
from sqlalchemy.orm import Session

from config.settings import Settings
from email_actions.mail.brands import Brand
from email_actions.mail.rendering.mime import compose
from email_actions.mail.rendering.render import RenderedEmail
from email_actions.mail.sending.pipeline import suppressed
from email_actions.mail.sending.ses import SesSender

_HTML = Environment(autoescape=True, undefined=StrictUndefined).from_string(
    """<!doctype html><html lang="en"><body style="font-family: Arial, sans-serif; color: #222">
<p>Hello {{ name }},</p>
<p>Your code to sign in to the {{ brand }} renewals portal:</p>
<p style="font-size: 28px; letter-spacing: 4px; font-weight: bold">{{ code }}</p>
<p>It works once, for {{ minutes }} minutes, and only in the browser where you asked for it.</p>
<p>If you did not ask for a code, ignore this email: nobody can sign in as you without it.</p>
<p style="color: #666; font-size: 12px">{{ footer }}</p>
</body></html>"""
)
_TEXT = Environment(autoescape=False, undefined=StrictUndefined).from_string(  # noqa: S701 - plain text
    """Hello {{ name }},

Your code to sign in to the {{ brand }} renewals portal:

    {{ code }}

It works once, for {{ minutes }} minutes, and only in the browser where you asked for it.

If you did not ask for a code, ignore this email: nobody can sign in as you without it.

{{ footer }}
"""
)


class CodeNotSent(Exception):
    """The address may not be mailed (suppressed); nothing was sent."""


def render(*, brand: Brand, name: str, code: str, minutes: int) -> RenderedEmail:
    values = {"brand": brand.name, "name": name, "code": code, "minutes": minutes, "footer": brand.footer}
    return RenderedEmail(
        subject=f"Your {brand.name} sign-in code: {code}", text=_TEXT.render(values), html=_HTML.render(values)
    )


def send(
    db: Session,
    settings: Settings,
    redis: Redis,
    *,
    brand: Brand,
    to: str,
    name: str,
    code: str,
    minutes: int,
    code_id: int,
) -> str:
    """Send the code to `to` now; SES's MessageId. Raises CodeNotSent, or the sender's SendError."""
    found = suppressed(db, to, scopes=("all",))
    if found is not None:
        raise CodeNotSent(f"{to} does not receive email ({found.reason})")
    raw = compose(
        render(brand=brand, name=name, code=code, minutes=minutes),
        sender=brand.sender,
        to=to,
        reply_to=None,
        list_unsubscribe=None,
    )
    tags = {"kind": "rep_sign_in_code", "sign_in_code_id": str(code_id)}
    return SesSender(settings, redis).send(raw, sender=brand.sender, tags=tags, before_call=lambda: None)
