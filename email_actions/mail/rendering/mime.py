"""The MIME message SES sends: ``multipart/alternative`` with the plain text first and the HTML last (mail
clients show the last part they can).

Reminders carry RFC 8058 one-click unsubscribe: ``List-Unsubscribe: <https://…>`` and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``. No ``Message-ID`` is set: SES writes its own (and
overwrites any given). Header lines may be up to 998 characters (RFC 5322's limit), so a long signed URL in
``List-Unsubscribe`` stays one unbroken word instead of being cut into encoded words; names and subjects
outside ASCII are encoded as RFC 2047 words, bodies as quoted-printable UTF-8.

The bytes are the ones the standard library's ``email`` package writes for this message (``EmailMessage``
with ``set_content`` and ``add_alternative`` under :data:`MIME_POLICY`; the tests compare the two), but put
together directly: the package parses every header it is given into a tree and folds it again on output,
about half the CPU a worker spends on an email. Here a header whose value is plain ASCII the package would
write unchanged (an unstructured value, or an address with a plain display name) is written as it is; any
other value goes through the package's own header classes and folding, and the bodies through its
quoted-printable encoder.
"""

from __future__ import annotations

import random
import re
import sys
from email import policy, quoprimime
from email.utils import formatdate

from email_actions.mail.rendering.context import REP_KINDS, EmailContext
from email_actions.mail.rendering.render import RenderedEmail

MAX_LINE = 998  # RFC 5322
MIME_POLICY = policy.SMTP.clone(max_line_length=MAX_LINE)
ONE_CLICK = "List-Unsubscribe=One-Click"
CRLF = "\r\n"
ADDRESS_HEADERS = frozenset({"from", "to", "reply-to", "cc", "bcc", "sender"})
# Values written unchanged: printable ASCII, no encoded-word lookalike, no space at either end, no run of
# spaces (the package would keep these too; anything else takes its path).
_PLAIN = re.compile(r"(?!.*=\?)(?!.*  )[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?\Z", re.DOTALL)
_ADDR_SPEC = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_PLAIN_ADDRESS = re.compile(rf"(?:{_ADDR_SPEC}|[A-Za-z0-9]+(?: [A-Za-z0-9]+)* <{_ADDR_SPEC}>)\Z")
_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))


def _header(name: str, value: str) -> str:
    """One header as the package folds it under :data:`MIME_POLICY`, CRLF included."""
    plain = len(name) + 2 + len(value) <= MAX_LINE and _PLAIN.match(value)
    if plain and (name.lower() not in ADDRESS_HEADERS or _PLAIN_ADDRESS.match(value)):
        return f"{name}: {value}{CRLF}"
    return str(MIME_POLICY.header_factory(name, value).fold(policy=MIME_POLICY))


def _body(text: str) -> str:
    """``text`` as UTF-8 quoted-printable with CRLF line ends, as ``set_content(cte="quoted-printable")``
    and the generator write it."""
    lines = text.encode("utf-8").splitlines()
    encoded = quoprimime.body_encode((b"\n".join(lines) + b"\n").decode("latin-1"), MAX_LINE)
    return "".join(line + CRLF for line in encoded.splitlines())


def _boundary(parts: str) -> str:
    """A boundary of the package's shape (15 ``=``, 19 digits, ``==``) that no line of ``parts`` starts with."""
    while True:
        boundary = f"{'=' * 15}{random.randrange(sys.maxsize):0{_BOUNDARY_DIGITS}d}=="  # not a secret: a separator
        if f"--{boundary}" not in parts:
            return boundary


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
    top = [_header("From", sender), _header("To", to)]
    if reply_to:
        top.append(_header("Reply-To", reply_to))
    top.append(_header("Subject", rendered.subject))
    top.append(f"Date: {formatdate(usegmt=True)}{CRLF}")
    if list_unsubscribe is not None:
        top.append(_header("List-Unsubscribe", f"<{list_unsubscribe}>"))
        top.append(f"List-Unsubscribe-Post: {ONE_CLICK}{CRLF}")
    for name, value in (headers or {}).items():
        top.append(_header(name, value))
    text = (
        f'Content-Type: text/plain; charset="utf-8"{CRLF}Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}'
        f"{_body(rendered.text)}"
    )
    html = (
        f'Content-Type: text/html; charset="utf-8"{CRLF}Content-Transfer-Encoding: quoted-printable{CRLF}'
        f"MIME-Version: 1.0{CRLF}{CRLF}{_body(rendered.html)}"
    )
    boundary = _boundary(text + html)
    top.append(f'MIME-Version: 1.0{CRLF}Content-Type: multipart/alternative; boundary="{boundary}"{CRLF}{CRLF}')
    top.append(f"--{boundary}{CRLF}{text}{CRLF}--{boundary}{CRLF}{html}{CRLF}--{boundary}--{CRLF}")
    return "".join(top).encode("ascii")


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
