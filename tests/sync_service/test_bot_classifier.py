"""Bot classification: each signal alone labels a hit `machine` and says why; a person's browser a minute
after sending is `human`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sync_service.bot_classifier import Hit, classify, in_ranges

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36 Edg/124.0.0.0"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)


def hit(
    purpose: str = "renew",
    *,
    method: str = "GET",
    ip: str | None = "198.51.100.7",
    agent: str | None = DESKTOP,
    prefetch: bool = False,
) -> Hit:
    return Hit(purpose=purpose, method=method, ip=ip, user_agent=agent, at=AT, prefetch=prefetch)


def test_a_desktop_browser_a_minute_after_sending_is_human() -> None:
    assert classify(hit(), seconds_since_sent=60.0) == ("human", [])


@pytest.mark.parametrize("agent", [DESKTOP, IPHONE, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Firefox/125.0"])
def test_ordinary_browsers_and_mail_apps_are_human(agent: str) -> None:
    assert classify(hit(agent=agent), seconds_since_sent=3600.0)[0] == "human"


def test_an_unknown_send_time_is_no_signal() -> None:
    assert classify(hit(), seconds_since_sent=None) == ("human", [])


def test_head_is_machine() -> None:
    assert classify(hit(method="HEAD"), seconds_since_sent=600.0) == ("machine", ["HEAD request"])


def test_a_prefetch_is_machine() -> None:
    assert classify(hit(prefetch=True), seconds_since_sent=600.0) == ("machine", ["prefetch request"])


@pytest.mark.parametrize(
    ("agent", "named"),
    [
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/124.0 Safari/537.36", "HeadlessChrome"),
        ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Firefox/11.0 (via ggpht.com GoogleImageProxy)", "GoogleImageProxy"),
        ("Mozilla/5.0 (compatible; Proofpoint URL Defense)", "Proofpoint"),
        ("Mimecast URL Protect/1.0", "Mimecast"),
        ("Barracuda Sentinel (EE)", "Barracuda"),
        ("Microsoft Office Existence Discovery", "Existence Discovery"),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bingbot"),
        ("facebookexternalhit/1.1", "facebookexternalhit"),
        ("python-requests/2.32.3", "python-requests"),
        ("curl/8.5.0", "curl/"),
    ],
)
def test_scanner_proxy_and_library_agents_are_machine(agent: str, named: str) -> None:
    label, reasons = classify(hit(agent=agent), seconds_since_sent=600.0)
    assert (label, reasons) == ("machine", [f"scanner or proxy user agent ({named})"])


def test_apple_mail_privacy_protection_is_machine() -> None:
    label, reasons = classify(hit("open", agent="Mozilla/5.0"), seconds_since_sent=600.0)
    assert (label, reasons) == ("machine", ["Apple Mail Privacy Protection (bare Mozilla/5.0)"])


@pytest.mark.parametrize("agent", [None, "", "   "])
def test_no_user_agent_is_machine(agent: str | None) -> None:
    assert classify(hit(agent=agent), seconds_since_sent=600.0) == ("machine", ["no user agent"])


def test_a_phone_brand_ending_in_bot_is_not_a_crawler() -> None:
    agent = "Mozilla/5.0 (Linux; Android 9; CUBOT X19) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36"
    assert classify(hit(agent=agent), seconds_since_sent=600.0) == ("human", [])


def test_seconds_after_sending_is_machine() -> None:
    assert classify(hit(), seconds_since_sent=1.25) == ("machine", ["1.2 s after sending"])
    assert classify(hit(), seconds_since_sent=5.0) == ("human", [])


def test_seconds_after_delivery_is_machine_even_long_after_sending() -> None:
    label, reasons = classify(hit(), seconds_since_sent=900.0, seconds_since_delivery=2.0)
    assert (label, reasons) == ("machine", ["2.0 s after delivery"])


def test_a_clock_running_behind_counts_as_zero_seconds() -> None:
    assert classify(hit(), seconds_since_sent=-3.0) == ("machine", ["0.0 s after sending"])


def test_three_different_links_within_seconds_are_machine() -> None:
    recent = [("review", AT - timedelta(seconds=1)), ("contact", AT - timedelta(seconds=2))]
    label, reasons = classify(hit("quote"), seconds_since_sent=600.0, recent=recent)
    assert (label, reasons) == ("machine", ["3 different links of the email within 5 s"])


def test_two_links_or_links_far_apart_are_not_a_burst() -> None:
    assert classify(hit("quote"), seconds_since_sent=600.0, recent=[("renew", AT - timedelta(seconds=1))])[0] == "human"
    apart = [("review", AT - timedelta(seconds=40)), ("contact", AT - timedelta(seconds=20))]
    assert classify(hit("quote"), seconds_since_sent=600.0, recent=apart)[0] == "human"


def test_the_same_link_twice_is_not_a_burst() -> None:
    recent = [("renew", AT - timedelta(seconds=1)), ("renew", AT - timedelta(seconds=2))]
    assert classify(hit("renew"), seconds_since_sent=600.0, recent=recent)[0] == "human"


def test_the_pixel_does_not_count_towards_a_burst() -> None:
    # A person opens the email (pixel) and clicks two links: ordinary, not a scanner.
    recent = [("open", AT - timedelta(seconds=2)), ("renew", AT - timedelta(seconds=1))]
    assert classify(hit("quote"), seconds_since_sent=600.0, recent=recent)[0] == "human"


def test_a_configured_address_range_is_machine() -> None:
    ranges = ("40.92.0.0/15", "2a01:111::/32")
    label, reasons = classify(hit(ip="40.93.12.7"), seconds_since_sent=600.0, ranges=ranges)
    assert (label, reasons) == ("machine", ["address 40.93.12.7 in a configured scanner range"])
    assert classify(hit(ip="40.94.0.1"), seconds_since_sent=600.0, ranges=ranges)[0] == "human"


def test_ipv6_addresses_and_ranges() -> None:
    ranges = ("2a01:111::/32", "40.92.0.0/15")
    assert in_ranges("2a01:111:f400::5", ranges)
    assert not in_ranges("2a01:112::1", ranges)
    assert in_ranges("::ffff:40.92.1.1", ranges)  # an IPv4-mapped address is its IPv4 address
    assert in_ranges("2a01:111::1%eth0", ranges)  # a zone id is ignored
    label, reasons = classify(hit(ip="2a01:111:f400::5"), seconds_since_sent=600.0, ranges=ranges)
    assert (label, reasons) == ("machine", ["address 2a01:111:f400::5 in a configured scanner range"])


@pytest.mark.parametrize("ip", [None, "", "not-an-address", "999.1.1.1"])
def test_unreadable_addresses_are_in_no_range(ip: str | None) -> None:
    assert not in_ranges(ip, ("0.0.0.0/0", "::/0"))


def test_every_signal_at_once_lists_every_reason() -> None:
    recent = [("review", AT - timedelta(seconds=1)), ("contact", AT - timedelta(seconds=1))]
    label, reasons = classify(
        hit("quote", method="HEAD", ip="40.92.0.9", agent="Mozilla/5.0"),
        seconds_since_sent=0.4,
        recent=recent,
        ranges=("40.92.0.0/15",),
    )
    assert label == "machine"
    assert reasons == [
        "HEAD request",
        "Apple Mail Privacy Protection (bare Mozilla/5.0)",
        "0.4 s after sending",
        "3 different links of the email within 5 s",
        "address 40.92.0.9 in a configured scanner range",
    ]
