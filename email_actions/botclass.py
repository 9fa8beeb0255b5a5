"""Bot classification of link hits, pixel loads and downloads: a label (`human` or `machine`) and the reasons.

Signals (none is proof; see the safety reference §2.6): the request method (scanners send HEAD), the user
agent (scanner and proxy families, Apple Mail Privacy Protection's bare `Mozilla/5.0`, headless browsers,
none at all), seconds since the email was sent (scanners fetch within seconds of delivery), several
different links of one email hit within a few seconds, and configured address ranges. Any one signal
labels the hit `machine`; the reasons say which.

The label decides only what counts (Tasks, reports). It never decides whether an action happens.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

# Seconds after sending within which a hit is too fast for a person to have opened the email and clicked.
TOO_SOON_SECONDS = 5.0
# Distinct links of one email hit within this many seconds: a scanner walking the email.
BURST_SECONDS = 5.0
BURST_LINKS = 3

SCANNER_AGENTS = re.compile(
    r"GoogleImageProxy|YahooMailProxy|Barracuda|Mimecast|Proofpoint|urldefense|SafeLinks|"
    r"Microsoft Office Protection|BingPreview|MSOffice Link Preview|Trend ?Micro|Symantec|Sophos|FireEye|"
    r"Cisco|IronPort|Forcepoint|ZScaler|HeadlessChrome|PhantomJS|python-requests|python-urllib|curl/|Wget|"
    r"Go-http-client|okhttp|Java/|libwww|bot\b|crawler|spider|scanner|preview",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Hit:
    purpose: str
    method: str
    ip: str | None
    user_agent: str | None
    at: datetime


@lru_cache(maxsize=16)
def _networks(ranges: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(r, strict=False) for r in ranges)


def in_ranges(ip: str | None, ranges: Iterable[str]) -> bool:
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(ranges)))


def classify(
    hit: Hit,
    *,
    seconds_since_sent: float | None,
    recent: Sequence[tuple[str, datetime]] = (),
    ranges: Iterable[str] = (),
) -> tuple[str, list[str]]:
    """`recent`: (purpose, time) of the same email's earlier hits. Returns (label, reasons)."""
    reasons = []
    if hit.method == "HEAD":
        reasons.append("HEAD request")
    agent = (hit.user_agent or "").strip()
    if not agent:
        reasons.append("no user agent")
    elif agent == "Mozilla/5.0":
        reasons.append("Apple Mail Privacy Protection (bare Mozilla/5.0)")
    elif match := SCANNER_AGENTS.search(agent):
        reasons.append(f"scanner or proxy user agent ({match.group(0)})")
    if seconds_since_sent is not None and seconds_since_sent < TOO_SOON_SECONDS:
        reasons.append(f"{max(seconds_since_sent, 0):.1f} s after sending")
    burst = {purpose for purpose, when in recent if abs((hit.at - when).total_seconds()) <= BURST_SECONDS}
    burst.add(hit.purpose)
    if len(burst) >= BURST_LINKS:
        reasons.append(f"{len(burst)} different links of the email within {BURST_SECONDS:.0f} s")
    if in_ranges(hit.ip, ranges):
        reasons.append(f"address {hit.ip} in a configured scanner range")
    return ("machine" if reasons else "human"), reasons
