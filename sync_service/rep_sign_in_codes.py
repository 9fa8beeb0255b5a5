"""One-time sign-in codes for partner reps, who are not Salesforce users (issue 14, part 1).

A code is issued for one rep, to the rep's address on file at that moment, and bound to the browser that asked
for it by a PKCE S256 challenge (RFC 7636): the browser keeps the verifier in its own signed cookie; the store
keeps the challenge, the address, and a salted SHA-256 of the code, never the code itself. A code signs in:

- only once (``used_at`` is set by a conditional UPDATE, so two browsers racing with the same code cannot both
  win);
- only within ``CODE_MINUTES`` of being issued (the store's clock);
- only for the address it was sent to: if the rep's address in the store differs now (changed in Salesforce,
  pulled since), the code is refused;
- only from the browser holding the verifier whose challenge it was issued with;
- only until ``MAX_FAILED_ATTEMPTS`` wrong codes were tried against it (then it is dead: an 8-digit code and 5
  guesses leave an attacker a 1-in-20,000,000 chance per code).

At most ``MAX_CODES_PER_WINDOW`` codes go to one address per ``WINDOW_MINUTES`` (counted in the store, so every
web process shares the count); the web layer adds a per-client limit on top.

Why hand-written: the codes are a dozen lines on the standard library's ``secrets`` and ``hashlib``; the
libraries that offer one-time codes (pyotp and the like) implement TOTP/HOTP shared secrets, which is not this.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from sync_service.salesforce.web_sign_in import s256_challenge
from sync_service.store import models
from sync_service.store.models import utcnow

CODE_DIGITS = 8
CODE_MINUTES = 10
MAX_FAILED_ATTEMPTS = 5
MAX_CODES_PER_WINDOW = 3
WINDOW_MINUTES = 15


class CodeRefused(Exception):
    """The code cannot sign anyone in; the message says why, in words a rep can act on (never the code)."""


class TooManyCodes(Exception):
    """The address was sent its allowance of codes in the current window."""


@dataclass(frozen=True)
class Issued:
    row: models.RepSignInCode
    code: str  # to be emailed, never stored or logged


def normalise_address(address: str | None) -> str:
    return (address or "").strip().lower()


def _hash(code: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=utcnow().tzinfo)


def issue(
    db: Session,
    rep: models.Rep,
    *,
    challenge: str,
    email_message_id: int | None,
    ip: str | None,
) -> Issued:
    """A new code for `rep` at their address on file, bound to `challenge`; not committed.
    Raises TooManyCodes when the address had its allowance, CodeRefused when the rep cannot have one."""
    address = normalise_address(rep.email)
    if not address or not rep.is_active:
        raise CodeRefused("There is no active rep address on file to send a sign-in code to.")
    now = utcnow()
    recent = db.scalar(
        select(func.count())
        .select_from(models.RepSignInCode)
        .where(
            models.RepSignInCode.address == address,
            models.RepSignInCode.created_at >= now - timedelta(minutes=WINDOW_MINUTES),
        )
    )
    if (recent or 0) >= MAX_CODES_PER_WINDOW:
        raise TooManyCodes(address)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    salt = secrets.token_hex(16)
    row = models.RepSignInCode(
        rep_id=rep.id,
        address=address,
        code_hash=_hash(code, salt),
        salt=salt,
        challenge=challenge,
        email_message_id=email_message_id,
        ip=ip,
        created_at=now,
        expires_at=now + timedelta(minutes=CODE_MINUTES),
        failed_attempts=0,
    )
    db.add(row)
    db.flush()
    return Issued(row, code)


def redeem(db: Session, code_id: int, *, code: str, verifier: str) -> models.RepSignInCode:
    """Use the code `code_id` once: the rep it signs in (its row, now used), or CodeRefused saying why.
    Commits either way (a wrong code counts against the code)."""
    row = db.get(models.RepSignInCode, code_id)
    if row is None:
        raise CodeRefused("This sign-in was not started here: ask for a new code.")
    typed = "".join(code.split())
    now = utcnow()
    if row.used_at is not None:
        raise CodeRefused("This code was already used: ask for a new code.")
    if _as_utc(row.expires_at) <= now:
        raise CodeRefused(f"This code has expired (codes work for {CODE_MINUTES} minutes): ask for a new code.")
    if row.failed_attempts >= MAX_FAILED_ATTEMPTS:
        raise CodeRefused("Too many wrong codes were tried: ask for a new code.")
    if not hmac.compare_digest(s256_challenge(verifier), row.challenge):
        raise CodeRefused("This code was asked for in another browser: ask for a new code here.")
    if not hmac.compare_digest(_hash(typed, row.salt), row.code_hash):
        db.execute(
            update(models.RepSignInCode)
            .where(models.RepSignInCode.id == row.id)
            .values(failed_attempts=models.RepSignInCode.failed_attempts + 1)
        )
        db.commit()
        raise CodeRefused("That is not the code we sent: check the latest email and try again.")
    rep = row.rep
    if not rep.is_active or normalise_address(rep.email) != row.address:
        raise CodeRefused("Your address on file has changed since this code was sent: ask for a new code.")
    used = db.execute(
        update(models.RepSignInCode)
        .where(models.RepSignInCode.id == row.id, models.RepSignInCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    db.commit()
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise CodeRefused("This code was already used: ask for a new code.")
    return row


def mask(address: str) -> str:
    """``j•••@reseller.example``: enough for a rep to recognise their address, not enough to harvest it."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"
