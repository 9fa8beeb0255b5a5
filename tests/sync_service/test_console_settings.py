"""The console's settings (``sync_service.console_settings``): each setting's effective value (the console's
when stored, else the file or environment default), the checks that refuse a bad value field by field, and the
readers (planner, budget check, classifier, brands) using the effective value — on SQLite and PostgreSQL."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import DEFAULT_BRANDS_FILE, Settings
from email_actions.mail.brands import MAX_LOGO_BYTES, BrandError, check_png, load_brands
from sync_service import console_settings as cs
from sync_service.bot_classifier import BotRules, Hit, classify
from sync_service.planning.cadence import parse_cadence_text
from sync_service.planning.planner import plan_reminders
from sync_service.pull.run import Budget, check_budget
from sync_service.salesforce.errors import BudgetPaused
from sync_service.store import models
from tests.factories import make_contract

ACTOR = "admin:test"
DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)


def png(width: int = 2, height: int = 1, *, trailing: bytes = b"") -> bytes:
    """A real PNG (RGB, `width` x `height`, white)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
        + trailing
    )


def brand_form(**changes: Any) -> cs.BrandForm:
    """The shipped default brand's fields as the console form sends them, with `changes`."""
    fields: dict[str, Any] = {
        "name": "Northwind Software",
        "primary": "#1f4e79",
        "accent": "#b35c00",
        "text": "#1a1a1a",
        "background": "#ffffff",
        "sender": "Northwind Renewals <renewals@northwind.example>",
        "reply_to": "",
        "footer": "Northwind Software Ltd · 1 Harbour Street · Bristol BS1 4QA · United Kingdom",
        "legal": "Renewal is subject to the Northwind Software subscription terms.",
        "resellers": "",
        "purchase_order_field": True,
    }
    fields.update(changes)
    return cs.BrandForm(**fields)


# --- the table and each setting's effective value, on both backends ---------------------------------------


def test_every_setting_is_its_default_until_stored_and_again_after_reset(
    store: sessionmaker[Session], settings: Settings
) -> None:
    with store() as session:
        assert cs.api_budget(session, settings) == Budget(settings.api_daily_budget, settings.api_reserve)
        assert cs.cadence(session, settings).default.offsets == (-90, -60, -30, -7, 7, 30)
        assert cs.cadence_text(session, settings) == settings.cadence_file.read_text()
        assert cs.bot_rules(session, settings) == BotRules(ranges=settings.bot_address_ranges)
        assert cs.brands(session, settings) is load_brands(settings.brands_file)

        cs.store(session, cs.API_BUDGET, cs.check_api_budget("2,500", "100000"), actor=ACTOR)
        cs.store(session, cs.CADENCE, cs.check_cadence_text("default: {days_before_end: [45, 15]}"), actor=ACTOR)
        rules = cs.check_bot_rules("40.92.0.0/15\n2a01:111::/32", "AcmeScan", "2.5", "10", "4")
        cs.store(session, cs.BOT_RULES, rules, actor=ACTOR)
        session.commit()

    with store() as session:
        assert cs.api_budget(session, settings) == Budget(daily_budget=2500, reserve=100_000)
        assert cs.cadence(session, settings).default.offsets == (-45, -15)
        assert cs.bot_rules(session, settings) == BotRules(
            ranges=("40.92.0.0/15", "2a01:111::/32"),
            agent_substrings=("AcmeScan",),
            too_soon_seconds=2.5,
            burst_seconds=10.0,
            burst_links=4,
        )
        found = cs.row(session, cs.CADENCE)
        assert found is not None and found.updated_by == ACTOR
        for name in (cs.API_BUDGET, cs.CADENCE, cs.BOT_RULES):
            cs.reset(session, name)
        session.commit()

    with store() as session:
        assert session.scalars(select(models.ConsoleSetting)).all() == []
        assert cs.api_budget(session, settings).daily_budget == settings.api_daily_budget
        assert cs.cadence(session, settings).default.offsets == (-90, -60, -30, -7, 7, 30)


def test_the_planner_plans_the_console_cadence(store: sessionmaker[Session], settings: Settings) -> None:
    today = date(2026, 6, 1)
    with store() as session:
        contract = make_contract(session, end_date=today + timedelta(days=40))
        cs.store(session, cs.CADENCE, cs.check_cadence_text("default: {days_before_end: [45]}\n"), actor=ACTOR)
        session.commit()
        summary = plan_reminders(session, today=today, cadence=cs.cadence(session, settings))
        session.commit()
        assert summary.planned == 1
        offsets = session.scalars(select(models.Reminder.offset_days).where(models.Reminder.contract_id == contract.id))
        assert offsets.all() == [-45]  # the file's cadence has no stage 45 days before the end


def test_the_budget_check_pauses_at_the_console_budget(store: sessionmaker[Session], settings: Settings) -> None:
    class Meter:
        org_remaining = 50_000

    with store() as session:
        session.add(models.ApiUsage(day=datetime.now(UTC).date(), job_name="pull", calls=30))
        cs.store(session, cs.API_BUDGET, cs.check_api_budget("30", "0"), actor=ACTOR)
        session.commit()
        budget = cs.api_budget(session, settings)
    with pytest.raises(BudgetPaused, match="used 30 of its 30 API calls"):
        check_budget(store, Meter(), budget)  # type: ignore[arg-type]
    with store() as session:
        cs.store(session, cs.API_BUDGET, cs.check_api_budget("1000", "60000"), actor=ACTOR)
        session.commit()
        budget = cs.api_budget(session, settings)
    with pytest.raises(BudgetPaused, match="50000 API calls left today and 60000 are kept in reserve"):
        check_budget(store, Meter(), budget)  # type: ignore[arg-type]


def test_a_brands_change_is_seen_on_the_next_read_and_parsed_once_per_change(
    store: sessionmaker[Session], settings: Settings
) -> None:
    with store() as session:
        value, _ = cs.edit_brand(cs.brands_value(session, settings), settings, "northwind", brand_form(name="First"))
        cs.store(session, cs.BRANDS, value, actor=ACTOR)
        session.commit()
    with store() as session:
        first = cs.brands(session, settings)
        assert first.default.name == "First"
        assert cs.brands(session, settings) is first  # unchanged row: the parsed book is reused
        value, _ = cs.edit_brand(cs.brands_value(session, settings), settings, "northwind", brand_form(name="Second"))
        cs.store(session, cs.BRANDS, value, actor=ACTOR)
        session.commit()
    with store() as session:
        assert cs.brands(session, settings).default.name == "Second"
        # Brands that cannot be used any more (here: their logos lost) fail sending loudly; pages fall back.
        cs.store(session, cs.BRANDS, {**value, "logos": {}}, actor=ACTOR)
        session.commit()
        with pytest.raises(BrandError, match="is not among the stored logos"):
            cs.brands(session, settings)
        assert cs.brands_for_pages(session, settings) is load_brands(settings.brands_file)
        cs.reset(session, cs.BRANDS)
        session.commit()
        assert cs.brands(session, settings).default.name == "Northwind Software"


# --- checks (no store needed) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("budget", "reserve", "problems"),
    [
        ("0", "0", {"daily_budget": "must be from 1 to 100,000,000, not 0"}),
        ("-5", "10", {"daily_budget": "must be from 1 to 100,000,000, not -5"}),
        ("ten", "", {"daily_budget": "'ten' is not a whole number", "reserve": "required"}),
        (
            "1.5",
            "-1",
            {"daily_budget": "'1.5' is not a whole number", "reserve": "must be from 0 to 100,000,000, not -1"},
        ),
        ("100000001", "0", {"daily_budget": "must be from 1 to 100,000,000, not 100,000,001"}),
    ],
)
def test_a_bad_budget_is_refused_field_by_field(budget: str, reserve: str, problems: dict[str, str]) -> None:
    with pytest.raises(cs.SettingProblems) as refused:
        cs.check_api_budget(budget, reserve)
    assert refused.value.problems == problems


def test_a_reserve_above_the_budget_is_fine() -> None:
    # They count different things: this service's calls, and what is left of the org's shared limit.
    assert cs.check_api_budget(" 10,000 ", "20000") == {"daily_budget": 10_000, "reserve": 20_000}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the cadence is empty"),
        ("default: {days_before_end: [30, 30]}", "default.days_before_end: 30 appears twice"),
        ("default: {days_before_end: [400]}", "400 is outside 0 to 365 days"),
        ("default: {days_before_end: [30]}\ndefault: {days_after_end: [7]}", "the key 'default' is given twice"),
        ("segments: []", "default: missing"),
        ("default: {days_before: [30]}", "did you mean 'days_before_end'?"),
        ("default: [", "not valid YAML"),
    ],
)
def test_a_bad_cadence_is_refused_with_the_problem(text: str, reason: str) -> None:
    with pytest.raises(cs.SettingProblems) as refused:
        cs.check_cadence_text(text)
    assert reason in refused.value.problems["yaml"]


SEGMENTED = """\
catch_up_days: 30
default:
  days_before_end: [90, 30]
segments:
  - name: enterprise
    when: {amount_at_least: 50000, currency: [USD, EUR]}
    days_before_end: [120, 60]
    days_after_end: [7]
"""


def test_the_stage_form_changes_stages_and_keeps_the_segment_rules() -> None:
    parsed = parse_cadence_text(SEGMENTED)
    assert cs.stage_fields(parsed) == [
        cs.StageFields("default", "90, 30", ""),
        cs.StageFields("enterprise", "120, 60", "7"),
    ]
    value = cs.check_stages(SEGMENTED, "14", {"default": ("60 30 7", "7"), "enterprise": ("180,90", "")})
    cadence = parse_cadence_text(value["yaml"])
    assert cadence.catch_up_days == 14
    assert cadence.default.offsets == (-60, -30, -7, 7)
    [enterprise, _] = cadence.segments
    assert enterprise.offsets == (-180, -90)
    assert enterprise.rule is not None and enterprise.rule.currencies == ("USD", "EUR")


@pytest.mark.parametrize(
    ("stages", "catch_up", "problems"),
    [
        ({"default": ("90, soon", "")}, "30", {"default.days_before_end": "'soon': write whole numbers of days"}),
        ({"enterprise": ("400", "")}, "30", {"enterprise.days_before_end": "400 is outside 0 to 365 days"}),
        ({"enterprise": ("", "")}, "30", {"enterprise.days_before_end": "no stages"}),
        ({"default": ("0", "0")}, "30", {"default.days_after_end": "0 days before and after the end date"}),
        ({"default": ("30", "")}, "-1", {"catch_up_days": "must be from 0"}),
        ({"default": ("30", "")}, "400", {"catch_up_days": "catch_up_days: must be a whole number of days from 0"}),
        ({"retired": ("30", "")}, "30", {"retired.days_before_end": "no segment 'retired'"}),
    ],
)
def test_bad_stages_are_refused_beside_their_field(
    stages: dict[str, tuple[str, str]], catch_up: str, problems: dict[str, str]
) -> None:
    with pytest.raises(cs.SettingProblems) as refused:
        cs.check_stages(SEGMENTED, catch_up, stages)
    assert set(refused.value.problems) == set(problems)
    for field, reason in problems.items():
        assert reason in refused.value.problems[field]


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


# --- brands ------------------------------------------------------------------------------------------------


def test_the_first_change_copies_the_files_brands_and_logos_into_the_value(settings: Settings) -> None:
    value = cs.brands_value_from_file(settings)
    assert value["default"] == "northwind" and set(value["brands"]) == {"northwind", "partner"}
    logo = (DEFAULT_BRANDS_FILE.parent / "brands" / "northwind.png").read_bytes()
    ref = value["brands"]["northwind"]["logo"]
    assert ref.startswith("sha256:") and len(value["logos"]) == 2
    changed, book = cs.edit_brand(value, settings, "northwind", brand_form(name="Northwind Cloud"))
    assert book.default.name == "Northwind Cloud"
    assert book.default.logo_bytes() == logo
    assert changed["brands"]["northwind"]["logo"] == ref
    assert changed["brands"]["partner"] == value["brands"]["partner"]


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"name": "  "}, "name", "required"),
        ({"primary": "#dddddd"}, "colours.primary", "white button text on primary has contrast 1.36:1, below 4.5:1"),
        ({"text": "#eeeeee"}, "colours.text", "text on background has contrast"),
        ({"accent": "orange"}, "colours.accent", "'orange' is not a colour written #rrggbb"),
        ({"sender": "renewals at northwind"}, "sender", "is not an email address"),
        ({"reply_to": "nobody"}, "reply_to", "is not an email address"),
        ({"footer": ""}, "footer", "required"),
        ({"legal": "x" * 2001}, "legal", "at most 2000"),
        ({"resellers": "*"}, "resellers", "every other reseller (*) is listed under brand 'partner' already"),
        ({"logo_upload": b"GIF89a not a png"}, "logo", "not a PNG file"),
        ({"logo_upload": png(1, 1)[:-6]}, "logo", "cut short"),
        ({"logo_upload": png(5000, 1)}, "logo", "5000 x 1 pixels"),
        ({"logo_from": "nobody"}, "logo", "there is no brand 'nobody'"),
    ],
)
def test_a_bad_brand_is_refused_beside_its_field(
    settings: Settings, changes: dict[str, Any], field: str, reason: str
) -> None:
    value = cs.brands_value_from_file(settings)
    with pytest.raises(cs.SettingProblems) as refused:
        cs.edit_brand(value, settings, "northwind", brand_form(**changes))
    assert field in refused.value.problems, refused.value.problems
    assert reason in refused.value.problems[field]


def test_every_problem_of_a_brand_is_reported_at_once(settings: Settings) -> None:
    value = cs.brands_value_from_file(settings)
    with pytest.raises(cs.SettingProblems) as refused:
        cs.edit_brand(value, settings, "northwind", brand_form(name="", primary="#ffff00", resellers="*"))
    assert set(refused.value.problems) == {"name", "colours.primary", "resellers"}


def test_an_uploaded_logo_replaces_the_old_one_and_a_new_brand_may_take_anothers(settings: Settings) -> None:
    value = cs.brands_value_from_file(settings)
    logo = png(4, 2)
    changed, book = cs.edit_brand(value, settings, "partner", brand_form(logo_upload=logo, name="Partners"))
    assert book.brands["partner"].logo_bytes() == logo
    assert len(changed["logos"]) == 2  # the partner's old logo is no longer used by any brand: dropped
    added, book = cs.edit_brand(
        changed, settings, "acme-it", brand_form(name="Acme IT", resellers="Acme IT Ltd", logo_from="partner"), new=True
    )
    assert book.brands["acme-it"].logo_bytes() == logo
    assert added["brands"]["acme-it"]["logo"] == added["brands"]["partner"]["logo"]
    assert book.for_reseller(sf_id=None, name="acme it ltd").key == "acme-it"


def test_a_new_brand_needs_a_free_key_and_a_logo(settings: Settings) -> None:
    value = cs.brands_value_from_file(settings)
    with pytest.raises(cs.SettingProblems) as refused:
        cs.edit_brand(value, settings, "Partner!", brand_form(), new=True)
    assert set(refused.value.problems) == {"key", "logo"}
    with pytest.raises(cs.SettingProblems) as refused:
        cs.edit_brand(value, settings, "partner", brand_form(logo_upload=png()), new=True)
    assert refused.value.problems == {"key": "there is a brand 'partner' already"}


def test_the_default_brand_cannot_be_removed_nor_a_broken_one_made_default(settings: Settings) -> None:
    value = cs.brands_value_from_file(settings)
    with pytest.raises(cs.SettingProblems, match="default brand cannot be removed"):
        cs.remove_brand(value, settings, "northwind")
    removed = cs.remove_brand(value, settings, "partner")
    assert set(removed["brands"]) == {"northwind"} and len(removed["logos"]) == 1
    value["brands"]["partner"]["colours"]["primary"] = "#eeeeee"
    with pytest.raises(cs.SettingProblems) as refused:
        cs.set_default_brand(value, settings, "partner")
    assert "contrast" in refused.value.problems["default"]
    assert cs.set_default_brand(cs.brands_value_from_file(settings), settings, "partner")["default"] == "partner"


def test_check_png_accepts_a_whole_png_only() -> None:
    assert check_png(png()) == []
    assert check_png(b"") == ["the file is empty"]
    assert "appended" in check_png(png(trailing=b"<script>"))[0]
    damaged = bytearray(png())
    damaged[-20] ^= 0xFF
    assert "damaged" in check_png(bytes(damaged))[0] or "checksum" in check_png(bytes(damaged))[0]
    assert "keep it under" in check_png(png() + b"\0" * MAX_LOGO_BYTES)[0]
