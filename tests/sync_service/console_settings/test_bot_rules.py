"""The bot rules setting (``sync_service.console_settings.bot_rules``): the check that refuses rules labelling
ordinary readers machines, beside the field at fault; the rules as stored (normalised); and the classifier
following the rules it is given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sync_service import console_settings as cs
from sync_service.bot_classifier import BotRules, Hit, classify

DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"ranges": "40.92.0.0/15\nnot-a-range"}, "ranges", "'not-a-range': not an address range"),
        ({"ranges": "10.0.0.0/7"}, "ranges", "too wide"),
        ({"ranges": "::/0"}, "ranges", "too wide"),
        ({"agent_substrings": "Mozilla"}, "agent_substrings", "part of ordinary browsers' user agents"),
        ({"agent_substrings": "safari"}, "agent_substrings", "Safari on a Mac"),
        ({"agent_substrings": "ab"}, "agent_substrings", "3 to 120 printable characters"),
        ({"too_soon_seconds": "soon"}, "too_soon_seconds", "'soon' is not a number of seconds"),
        ({"too_soon_seconds": "nan"}, "too_soon_seconds", "must be from 0 to 300 seconds"),
        ({"burst_seconds": "0"}, "burst_seconds", "must be from 1 to 120 seconds"),
        ({"burst_links": "1"}, "burst_links", "must be from 2 to 20"),
    ],
)
def test_bad_bot_rules_are_refused_beside_their_field(fields: dict[str, str], field: str, reason: str) -> None:
    typed = {"ranges": "", "agent_substrings": "", "too_soon_seconds": "5", "burst_seconds": "5", "burst_links": "3"}
    with pytest.raises(cs.SettingProblems) as refused:
        cs.check_bot_rules(**{**typed, **fields})
    assert list(refused.value.problems) == [field]
    assert reason in refused.value.problems[field]


def test_bot_rules_are_normalised() -> None:
    value = cs.check_bot_rules(
        "40.92.1.2/15, 40.92.0.0/15\n192.0.2.7\n", "AcmeScan\n acmescan \n\nLinkGuard", "0", "8", "3"
    )
    assert value == {
        "ranges": ["40.92.0.0/15", "192.0.2.7/32"],
        "agent_substrings": ["AcmeScan", "LinkGuard"],
        "too_soon_seconds": 0.0,
        "burst_seconds": 8.0,
        "burst_links": 3,
    }


def test_the_classifier_follows_the_rules_it_is_given() -> None:
    at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    rules = BotRules(
        ranges=("203.0.113.0/24",), agent_substrings=("AcmeScan",), too_soon_seconds=30, burst_seconds=60, burst_links=2
    )

    def label(agent: str = DESKTOP, ip: str = "198.51.100.7", since: float = 600, purpose: str = "renew") -> Any:
        hit = Hit(purpose=purpose, method="GET", ip=ip, user_agent=agent, at=at)
        recent = [("review", at - timedelta(seconds=40))]
        return classify(hit, seconds_since_sent=since, recent=recent if purpose == "renew" else (), rules=rules)

    assert label(purpose="download") == ("human", [])
    assert label(agent=f"{DESKTOP} acmescan/2", purpose="download") == (
        "machine",
        ["configured scanner user agent (AcmeScan)"],
    )
    assert label(ip="203.0.113.9", purpose="download")[1] == ["address 203.0.113.9 in a configured scanner range"]
    assert label(since=20, purpose="download")[1] == ["20.0 s after sending"]
    assert label()[1] == ["2 different links of the email within 60 s"]
    # The built-in thresholds would call none of these a machine.
    default = classify(Hit("renew", "GET", "203.0.113.9", DESKTOP, at), seconds_since_sent=20)
    assert default == ("human", [])
