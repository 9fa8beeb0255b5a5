"""The bot-classification rules in force, and the check of the rules an admin types in the console.

Stored as ``{"ranges": [cidr], "agent_substrings": [str], "too_soon_seconds": float, "burst_seconds": float,
"burst_links": int}``; without it, ``RENEWALS_BOT_ADDRESS_RANGES`` and the classifier's built-in thresholds
apply. Every link hit reads them here (the built-in user-agent families of :mod:`sync_service.bot_classifier`
always apply on top). The checks refuse what would label ordinary readers machines: address ranges covering
much of the internet, user-agent substrings found in people's browsers. Nothing here stores: see
:mod:`sync_service.console_settings.store`.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Any

from sqlalchemy.orm import Session

from config.settings import Settings
from sync_service.bot_classifier import BURST_LINKS, BURST_SECONDS, TOO_SOON_SECONDS, BotRules
from sync_service.console_settings.store import BOT_RULES, SettingProblems, stored
from sync_service.console_settings.typed_numbers import whole_number

MAX_RANGES = 500
MAX_AGENT_SUBSTRINGS = 100
# A range wider than this covers much of the internet: every person there would be labelled a machine.
MIN_PREFIX = {4: 8, 6: 16}
# User agents of people's browsers and mail apps (those the built-in rules call human): an extra substring
# found in one of them would label ordinary readers machines, so it is refused.
HUMAN_AGENTS = {
    "Chrome on Windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Edge on Windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
    "Firefox on Linux": "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Safari on a Mac": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Safari on an iPhone": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Chrome on Android": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Apple Mail": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
}
TOO_SOON_RANGE = (0.0, 300.0)
BURST_SECONDS_RANGE = (1.0, 120.0)
BURST_LINKS_RANGE = (2, 20)


def bot_rules(session: Session, settings: Settings) -> BotRules:
    """The bot-classification rules in force: the console's, else RENEWALS_BOT_ADDRESS_RANGES and the
    built-in thresholds (the built-in user-agent families always apply)."""
    value = stored(session, BOT_RULES)
    if value is None:
        return BotRules(ranges=tuple(settings.bot_address_ranges))
    return BotRules(
        ranges=tuple(value.get("ranges", ())),
        agent_substrings=tuple(value.get("agent_substrings", ())),
        too_soon_seconds=float(value.get("too_soon_seconds", TOO_SOON_SECONDS)),
        burst_seconds=float(value.get("burst_seconds", BURST_SECONDS)),
        burst_links=int(value.get("burst_links", BURST_LINKS)),
    )


def bot_rules_value(rules: BotRules) -> dict[str, Any]:
    """`rules` as the console stores them (what the audit log shows as the value before a change)."""
    return {
        "ranges": list(rules.ranges),
        "agent_substrings": list(rules.agent_substrings),
        "too_soon_seconds": rules.too_soon_seconds,
        "burst_seconds": rules.burst_seconds,
        "burst_links": rules.burst_links,
    }


def check_bot_rules(
    ranges: str, agent_substrings: str, too_soon_seconds: str, burst_seconds: str, burst_links: str
) -> dict[str, Any]:
    """The value to store for the bot-rule fields as typed (ranges and substrings one a line); raises
    SettingProblems."""
    problems: dict[str, str] = {}
    networks = _networks(ranges, problems)
    substrings = _agent_substrings(agent_substrings, problems)
    too_soon = _number(too_soon_seconds, "too_soon_seconds", TOO_SOON_RANGE, problems)
    window = _number(burst_seconds, "burst_seconds", BURST_SECONDS_RANGE, problems)
    links = whole_number(burst_links, "burst_links", *BURST_LINKS_RANGE, problems)
    if problems:
        raise SettingProblems(problems)
    return {
        "ranges": networks,
        "agent_substrings": substrings,
        "too_soon_seconds": too_soon,
        "burst_seconds": window,
        "burst_links": links,
    }


def _networks(raw: str, problems: dict[str, str]) -> list[str]:
    out: list[str] = []
    bad, wide = [], []
    for part in (p for p in re.split(r"[\s,]+", raw.strip()) if p):
        try:
            network = ipaddress.ip_network(part, strict=False)
        except ValueError:
            bad.append(part)
            continue
        if network.prefixlen < MIN_PREFIX[network.version]:
            wide.append(part)
        elif str(network) not in out:
            out.append(str(network))
    if bad:
        problems["ranges"] = (
            f"{', '.join(map(repr, bad))}: not an address range; write one per line in CIDR notation, such as "
            "40.92.0.0/15 or 2a01:111::/32 (a bare address is one host)"
        )
    elif wide:
        problems["ranges"] = (
            f"{', '.join(map(repr, wide))}: too wide (shorter than /{MIN_PREFIX[4]} for IPv4 or "
            f"/{MIN_PREFIX[6]} for IPv6); every person in it would count as a machine"
        )
    elif len(out) > MAX_RANGES:
        problems["ranges"] = f"{len(out)} ranges; at most {MAX_RANGES}"
    return out


def _agent_substrings(raw: str, problems: dict[str, str]) -> list[str]:
    out: list[str] = []
    for line in raw.splitlines():
        text = line.strip()
        if not text:
            continue
        if not 3 <= len(text) <= 120 or not text.isprintable():
            problems["agent_substrings"] = f"{text[:40]!r}: each line must be 3 to 120 printable characters"
            return []
        humans = [name for name, agent in HUMAN_AGENTS.items() if text.casefold() in agent.casefold()]
        if humans:
            problems["agent_substrings"] = (
                f"{text!r} is part of ordinary browsers' user agents ({', '.join(humans)}): every person using "
                "them would count as a machine"
            )
            return []
        if text.casefold() not in (o.casefold() for o in out):
            out.append(text)
    if len(out) > MAX_AGENT_SUBSTRINGS:
        problems["agent_substrings"] = f"{len(out)} lines; at most {MAX_AGENT_SUBSTRINGS}"
    return out


def _number(raw: str, field: str, bounds: tuple[float, float], problems: dict[str, str]) -> float:
    text = raw.strip()
    try:
        value = float(text)
    except ValueError:
        problems[field] = f"{text!r} is not a number of seconds" if text else "required"
        return 0.0
    if not math.isfinite(value) or not bounds[0] <= value <= bounds[1]:
        problems[field] = f"must be from {bounds[0]:g} to {bounds[1]:g} seconds, not {text}"
    return value
