"""The MIME message SES sends: ``multipart/alternative`` with the plain text first and the HTML last (mail
clients show the last part they can), built with the standard library's ``email`` package.

Reminders carry RFC 8058 one-click unsubscribe: ``List-Unsubscribe: <https://…>`` and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``. No ``Message-ID`` is set: SES writes its own (and
overwrites any given). Header lines may be up to 998 characters (RFC 5322's limit), so a long signed URL in
``List-Unsubscribe`` stays one unbroken word instead of being cut into encoded words; names and subjects
outside ASCII are encoded as RFC 2047 words, bodies as quoted-printable UTF-8.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import formatdate

from email_actions.mail.rendering.context import REP_KINDS, EmailContext
from email_actions.mail.rendering.render import RenderedEmail

MIME_POLICY = policy.SMTP.clone(max_line_length=998)
ONE_CLICK = "List-Unsubscribe=One-Click"


def compose(
    rendered: RenderedEmail,
    *,
    sender: str,
    to: str,
    reply_to: str | None,
    list_unsubscribe: str | None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """The raw message (CRLF line ends) for SES's raw send.

    ``list_unsubscribe`` is the unsubscribe URL of a reminder (``None`` for other mail): HTTPS in production,
    where ``RENEWALS_PUBLIC_BASE_URL`` is an https URL, as RFC 8058 requires; ``headers``
    are added as given (e.g. a tag for the SES configuration set), after the standard ones.
    """
    message = EmailMessage(policy=MIME_POLICY)
    message["From"] = sender
    message["To"] = to
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(usegmt=True)
    if list_unsubscribe is not None:
        message["List-Unsubscribe"] = f"<{list_unsubscribe}>"
        message["List-Unsubscribe-Post"] = ONE_CLICK
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message.as_bytes()


def reply_to_for(context: EmailContext) -> str | None:
    """Where replies go: for a contact request the customer who asked (so the rep can answer straight away;
    whatever the brand says), else the brand's reply-to when it names one, else for customer mail the
    contract's rep."""
    if context.kind == "contact_request" and context.contact_email:
        return context.contact_email
    if context.brand.reply_to:
        return context.brand.reply_to
    if context.kind in REP_KINDS:
        return None
    return context.rep_email


def compose_email(
    rendered: RenderedEmail, context: EmailContext, *, to: str, headers: dict[str, str] | None = None
) -> bytes:
    """:func:`compose` with the sender, Reply-To and List-Unsubscribe an email of ``context`` gets."""
    return compose(
        rendered,
        sender=context.brand.sender,
        to=to,
        reply_to=reply_to_for(context),
        list_unsubscribe=context.links.get("unsubscribe") if context.kind == "reminder" else None,
        headers=headers,
    )
