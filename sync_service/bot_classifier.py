"""Bot classification of link hits, pixel loads and downloads: a label (`human` or `machine`) and the reasons.

Signals (none is proof; see the safety reference §2.6): the request method (scanners send HEAD) and prefetch
hints, the user agent (scanner and proxy families, link previewers, Apple Mail Privacy Protection's bare
`Mozilla/5.0`, headless browsers and HTTP libraries, none at all), seconds since the email was sent or
delivered (scanners fetch within seconds of delivery), several different links of one email hit within a
few seconds, and configured address ranges. Any one signal labels the hit `machine`; the reasons say which.

The open pixel does not count towards the "several links" signal: a person who opens the email and clicks
at once loads the pixel and one link within a second, which is ordinary (safety reference §2.5).

The label decides only what counts (Tasks, reports). It never decides whether an action happens.

What an admin may tune (:class:`BotRules`, from the console or the environment; see
:func:`sync_service.console_settings.bot_rules`): the address ranges, extra user-agent substrings on top of
the built-in families, and the thresholds of the timing and burst signals. The built-in rules stay on.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

# Seconds after sending (or delivery) within which a hit is too fast for a person to have opened the email.
TOO_SOON_SECONDS = 5.0
# Distinct links of one email hit within this many seconds: a scanner walking the email.
BURST_SECONDS = 5.0
BURST_LINKS = 3
# Purposes that are not links a person clicks (left out of the burst signal).
NOT_LINKS = frozenset({"open"})

SCANNER_AGENTS = re.compile(
    # Mail security gateways, URL rewriters and image proxies.
    r"GoogleImageProxy|YahooMailProxy|ImageProxy|ImgProxy|Barracuda|Mimecast|Proofpoint|urldefense|SafeLinks|"
    r"Safe Links|Microsoft Office Protection|Existence Discovery|MSOffice|ms-office|Trend ?Micro|Symantec|"
    r"Sophos|FireEye|Cisco|IronPort|Forcepoint|ZScaler|Avanan|Check ?Point|Fortinet|FortiGuard|"
    # Link previewers.
    r"BingPreview|facebookexternalhit|WhatsApp|preview|"
    # Headless browsers and HTTP libraries.
    r"HeadlessChrome|Headless|PhantomJS|Puppeteer|Playwright|Selenium|python-requests|python-urllib|aiohttp|"
    r"httpx|curl/|Wget|Go-http-client|okhttp|Java/|Apache-HttpClient|libwww|node-fetch|axios/|"
    # Crawlers in general.
    r"\bbot\b|[a-z]bot/|(?:google|bing|slack|twitter|linkedin|discord|telegram|apple|yandex|duckduck|baidu|"
    r"petal|semrush|ahrefs)bot|crawler|spider|scanner",
    re.IGNORECASE,
)
# Apple Mail Privacy Protection fetches remote content through Apple's proxies with exactly this agent.
APPLE_MPP_AGENT = "Mozilla/5.0"


@dataclass(frozen=True)
class BotRules:
    """The classifier's tunable rules; the defaults are the built-in ones."""

    # Address ranges (CIDR) of known scanners and mail proxies.
    ranges: tuple[str, ...] = ()
    # Extra user-agent substrings (matched case-insensitively) that mean machine, besides SCANNER_AGENTS.
    agent_substrings: tuple[str, ...] = ()
    too_soon_seconds: float = TOO_SOON_SECONDS
    burst_seconds: float = BURST_SECONDS
    burst_links: int = BURST_LINKS
    # Lower-cased `agent_substrings`, for matching.
    _folded: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_folded", tuple(s.casefold() for s in self.agent_substrings))

    def extra_agent(self, user_agent: str) -> str | None:
        """The configured substring `user_agent` contains, if any."""
        folded = user_agent.casefold()
        for substring, folded_substring in zip(self.agent_substrings, self._folded, strict=True):
            if folded_substring in folded:
                return substring
        return None


DEFAULT_RULES = BotRules()


@dataclass(frozen=True)
class Hit:
    """One request on an email's link, pixel or download, as the classifier sees it."""

    purpose: str
    method: str
    ip: str | None
    user_agent: str | None
    at: datetime
    # The browser said it is prefetching (`Sec-Purpose`/`Purpose: prefetch`), not following a click.
    prefetch: bool = False


@lru_cache(maxsize=16)
def _networks(ranges: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(r, strict=False) for r in ranges)


def in_ranges(ip: str | None, ranges: Iterable[str]) -> bool:
    """Whether `ip` (IPv4 or IPv6, an IPv4-mapped IPv6 address counting as its IPv4 one) is in a range."""
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    return any(
        candidate in network
        for network in _networks(tuple(ranges))
        for candidate in candidates
        if candidate.version == network.version
    )


def agent_reason(user_agent: str | None, rules: BotRules = DEFAULT_RULES) -> str | None:
    """Why the user agent alone says machine, or None."""
    agent = (user_agent or "").strip()
    if not agent:
        return "no user agent"
    if agent == APPLE_MPP_AGENT:
        return "Apple Mail Privacy Protection (bare Mozilla/5.0)"
    if match := SCANNER_AGENTS.search(agent):
        return f"scanner or proxy user agent ({match.group(0)})"
    if (substring := rules.extra_agent(agent)) is not None:
        return f"configured scanner user agent ({substring})"
    return None


def burst_links(
    at: datetime, purpose: str, recent: Sequence[tuple[str, datetime]], *, window: float = BURST_SECONDS
) -> set[str]:
    """The distinct links (pixel excluded) of the email hit within `window` seconds of `at`, this one included."""
    links = {p for p, when in recent if p not in NOT_LINKS and abs((at - when).total_seconds()) <= window}
    if purpose not in NOT_LINKS:
        links.add(purpose)
    return links


def classify(
    hit: Hit,
    *,
    seconds_since_sent: float | None,
    recent: Sequence[tuple[str, datetime]] = (),
    ranges: Iterable[str] = (),
    seconds_since_delivery: float | None = None,
    rules: BotRules = DEFAULT_RULES,
) -> tuple[str, list[str]]:
    """`recent`: (purpose, time) of the same email's earlier hits; `ranges` count on top of `rules.ranges`.
    Returns (label, reasons)."""
    reasons = []
    if hit.method == "HEAD":
        reasons.append("HEAD request")
    if hit.prefetch:
        reasons.append("prefetch request")
    if (reason := agent_reason(hit.user_agent, rules)) is not None:
        reasons.append(reason)
    too_soon = rules.too_soon_seconds
    if seconds_since_delivery is not None and seconds_since_delivery < too_soon:
        reasons.append(f"{max(seconds_since_delivery, 0):.1f} s after delivery")
    elif seconds_since_sent is not None and seconds_since_sent < too_soon:
        reasons.append(f"{max(seconds_since_sent, 0):.1f} s after sending")
    burst = burst_links(hit.at, hit.purpose, recent, window=rules.burst_seconds)
    if len(burst) >= rules.burst_links:
        reasons.append(f"{len(burst)} different links of the email within {seconds_text(rules.burst_seconds)}")
    if in_ranges(hit.ip, (*rules.ranges, *ranges)):
        reasons.append(f"address {hit.ip} in a configured scanner range")
    return ("machine" if reasons else "human"), reasons


def seconds_text(seconds: float) -> str:
    """``5 s``, ``2.5 s``: a threshold as the reasons name it."""
    return f"{seconds:g} s"
