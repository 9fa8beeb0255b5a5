"""Strict parsers for settings read from environment variables.

Each parser takes the variable's name (for the message) and its raw text, and returns the typed value or
raises :class:`SettingsError`. A value that is not clearly valid is an error, never a silent default.
Parsers of sensitive values never put the raw text into a message.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from config.settings.secret import Secret

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
MIN_SECRET_KEY_LENGTH = 32


class SettingsError(ValueError):
    """The environment does not describe a usable configuration; the message says what to change."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("Invalid configuration:\n" + "\n".join(f"- {p}" for p in self.problems))


def parse_text(name: str, raw: str) -> str:
    return raw


def parse_secret(name: str, raw: str) -> Secret:
    return Secret(raw)


def parse_bool(name: str, raw: str) -> bool:
    word = raw.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise SettingsError([f"{name}={raw!r} is not a boolean; use true or false."])


def parse_int(name: str, raw: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", raw):
        raise SettingsError([f"{name}={raw!r} is not a whole number."])
    return int(raw)


def parse_positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise SettingsError([f"{name}={raw!r} is not a positive number."])
    return value


def parse_choice(name: str, raw: str, choices: tuple[str, ...]) -> str:
    if raw not in choices:
        raise SettingsError([f"{name}={raw!r} is not one of: {', '.join(choices)}."])
    return raw


def parse_http_url(name: str, raw: str) -> str:
    """An absolute http(s) URL with a host; a trailing slash is dropped so paths can be appended."""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise SettingsError([f"{name}={raw!r} is not an http(s) URL such as https://example.com."])
    return raw.rstrip("/")


def parse_redis_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    valid = (parts.scheme in ("redis", "rediss") and bool(parts.hostname)) or (
        parts.scheme == "unix" and bool(parts.path)
    )
    if not valid:
        raise SettingsError([f"{name} is not a Redis URL such as redis://127.0.0.1:6379/0."])
    return raw


def parse_database_url(name: str, raw: str) -> str:

    try:
        url = make_url(raw)
    except ArgumentError:
        url = None
    if url is None or url.get_backend_name() not in ("sqlite", "postgresql"):
        # The URL may hold a password, so it is not repeated here.
        raise SettingsError(
            [
                f"{name} is not a SQLite or PostgreSQL URL such as sqlite:///var/renewals.db "
                "or postgresql+psycopg://user:password@host/dbname."
            ]
        )
    return raw


def parse_secret_keys(name: str, raw: str) -> tuple[Secret, ...]:
    keys = [key.strip() for key in raw.split(",")]
    problems = []
    for position, key in enumerate(keys, start=1):
        if len(key) < MIN_SECRET_KEY_LENGTH:
            problems.append(
                f"{name}: key {position} of {len(keys)} is shorter than {MIN_SECRET_KEY_LENGTH} characters; "
                'generate one with python -c "import secrets; print(secrets.token_urlsafe(32))".'
            )
    if problems:
        raise SettingsError(problems)
    return tuple(Secret(key) for key in keys)


def parse_api_version(name: str, raw: str) -> str:
    if raw[:1] in ("v", "V"):
        raise SettingsError([f"{name}={raw!r}: write the version without the v, e.g. {raw[1:]!r}."])
    if not re.fullmatch(r"\d{2,3}\.0", raw):
        raise SettingsError([f"{name}={raw!r} is not a Salesforce API version such as 59.0."])
    return raw


def parse_region(name: str, raw: str) -> str:
    if not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", raw):
        raise SettingsError([f"{name}={raw!r} is not an AWS region such as us-east-1."])
    return raw


def parse_existing_file(name: str, raw: str) -> Path:
    path = Path(raw)
    if not path.is_file():
        raise SettingsError([f"{name}={raw!r}: no such file."])
    return path


SNS_TOPIC_ARN = re.compile(r"arn:aws(-[a-z]+)*:sns:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")


def parse_topic_arns(name: str, raw: str) -> tuple[str, ...]:
    """A comma-separated list of SNS topic ARNs (exact; no wildcards: this is an allow-list)."""
    arns = tuple(part.strip() for part in raw.split(",") if part.strip())
    bad = [arn for arn in arns if not SNS_TOPIC_ARN.fullmatch(arn)]
    if bad:
        raise SettingsError(
            [
                f"{name}: {', '.join(repr(b) for b in bad)} is not an SNS topic ARN such as "
                "arn:aws:sns:us-east-1:123456789012:ses-events."
            ]
        )
    return arns


def parse_loopback_url(name: str, raw: str) -> str:
    """An http(s) URL on this machine (127.0.0.0/8, ::1 or localhost): for local stand-ins only."""
    url = parse_http_url(name, raw)
    host = urlsplit(url).hostname or ""
    if not (host == "localhost" or host == "::1" or re.fullmatch(r"127(\.\d{1,3}){3}", host)):
        raise SettingsError(
            [
                f"{name}={raw!r} must be on this machine (127.0.0.1 or localhost); it is for a "
                "local SES/SNS stand-in only."
            ]
        )
    return url


def parse_networks(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated IPv4/IPv6 networks in CIDR notation (a bare address is a /32 or /128)."""
    networks, bad = [], []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            bad.append(part)
    if bad:
        raise SettingsError([f"{name}: {', '.join(map(repr, bad))} is not an address range such as 40.94.0.0/16."])
    return tuple(networks)
