"""The cadence file: the packaged default, segments and their rules, and every way a file is refused."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from config.settings import DEFAULT_CADENCE_FILE, SettingsError, load_settings
from sync_service.planning.cadence import (
    Cadence,
    CadenceError,
    Rule,
    Segment,
    check_cadence_file,
    describe_stage,
    load_cadence,
    parse_cadence,
    stage_key,
)

KEY = "k" * 43

SEGMENTED = """\
catch_up_days: 14
default:
  days_before_end: [90, 60, 30, 7]
  days_after_end: [7, 30]
segments:
  - name: enterprise
    when: {amount_at_least: 50000, currency: [USD, EUR]}
    days_before_end: [120, 90, 60, 30, 14, 7]
    days_after_end: [7, 30]
  - name: resold
    when: {reseller: true}
    days_before_end: [60, 30, 0]
  - name: small-direct
    when: {reseller: false, amount_below: 999.50}
    days_after_end: [0, 14]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cadence.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(CadenceError) as caught:
        load_cadence(write(tmp_path, text))
    return str(caught.value)


def test_the_packaged_cadence_is_90_60_30_7_days_before_and_7_30_after_for_everyone() -> None:
    cadence = load_cadence(DEFAULT_CADENCE_FILE)
    assert cadence == Cadence(segments=(Segment("default", (-90, -60, -30, -7, 7, 30)),), catch_up_days=30)


def test_the_settings_default_to_the_packaged_cadence() -> None:
    settings = load_settings({"RENEWALS_SECRET_KEYS": KEY})
    assert settings.cadence_file == DEFAULT_CADENCE_FILE
    assert settings.cadence_file.is_file()


def test_segments_are_read_in_file_order_with_the_default_last(tmp_path: Path) -> None:
    cadence = load_cadence(write(tmp_path, SEGMENTED))
    assert cadence.catch_up_days == 14
    assert [segment.name for segment in cadence.segments] == ["enterprise", "resold", "small-direct", "default"]
    enterprise, resold, small, default = cadence.segments
    assert enterprise.offsets == (-120, -90, -60, -30, -14, -7, 7, 30)
    assert enterprise.rule == Rule(amount_at_least=Decimal(50000), currencies=("USD", "EUR"))
    assert resold.offsets == (-60, -30, 0)
    assert resold.rule == Rule(reseller=True)
    assert small.offsets == (0, 14)
    assert small.rule == Rule(reseller=False, amount_below=Decimal("999.50"))
    assert default.rule is None
    assert cadence.default is default


@pytest.mark.parametrize(
    ("reseller", "amount", "currency", "segment"),
    [
        (False, Decimal("50000.00"), "USD", "enterprise"),
        # First match wins: a large resold contract is an enterprise one.
        (True, Decimal("250000.00"), "EUR", "enterprise"),
        (True, Decimal("49999.99"), "EUR", "resold"),
        # The currency condition holds back amounts in other currencies.
        (True, Decimal("250000.00"), "JPY", "resold"),
        (False, Decimal("999.49"), "GBP", "small-direct"),
        (False, Decimal("999.50"), "GBP", "default"),
        # An unknown amount is neither at least nor below a threshold.
        (False, None, "USD", "default"),
        (True, None, None, "resold"),
    ],
)
def test_a_contract_belongs_to_the_first_segment_whose_rule_it_matches(
    tmp_path: Path, reseller: bool, amount: Decimal | None, currency: str | None, segment: str
) -> None:
    cadence = load_cadence(write(tmp_path, SEGMENTED))
    assert cadence.segment_for(reseller=reseller, amount=amount, currency=currency).name == segment


def test_without_segments_every_contract_gets_the_default() -> None:
    cadence = parse_cadence({"default": {"days_after_end": [1]}, "segments": None})
    assert cadence.segment_for(reseller=True, amount=Decimal(10**9), currency="USD") == cadence.default
    assert cadence.catch_up_days == 30


@pytest.mark.parametrize(
    ("offset", "key", "words"),
    [
        (-90, "before_90", "90 days before the end date"),
        (-1, "before_1", "1 day before the end date"),
        (0, "on_end_date", "on the end date"),
        (30, "after_30", "30 days after the end date"),
    ],
)
def test_stages_have_stable_keys_and_words(offset: int, key: str, words: str) -> None:
    assert stage_key(offset) == key
    assert describe_stage(offset) == words


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("default: {days_before_end: [90, 60, 90]}", "default.days_before_end: 90 appears twice"),
        (
            "default: {days_before_end: [30, 0], days_after_end: [0]}",
            "default: 0 days before and after the end date are the same stage",
        ),
        ("default: {days_before_end: [400]}", "default.days_before_end: 400 is outside 0 to 365 days"),
        ("default: {days_after_end: [-7]}", "default.days_after_end: -7 is outside 0 to 365 days"),
        ("default: {days_before_end: [true]}", "default.days_before_end: True is not a whole number of days"),
        ("default: {days_before_end: [7.5]}", "default.days_before_end: 7.5 is not a whole number of days"),
        ("default: {days_before_end: ['90']}", "default.days_before_end: '90' is not a whole number of days"),
        ("default: {days_before_end: 90}", "default.days_before_end: must be a list of whole numbers of days"),
        ("default: {}", "default: no stages"),
        ("default: {days_before_end: [], days_after_end: []}", "default: no stages"),
        ("default: [90, 60]", "default: must be a mapping"),
        ("default: {days_before: [90]}", "default.days_before: unknown key; did you mean 'days_before_end'?"),
        ("default: {name: main, days_after_end: [1]}", "default.name: unknown key"),
        ("segments: []", "default: missing"),
        ("defaults: {days_after_end: [1]}", "defaults: unknown key; did you mean 'default'?"),
        ("catch_up_days: -1\ndefault: {days_after_end: [1]}", "catch_up_days: must be a whole number of days"),
        ("catch_up_days: '30'\ndefault: {days_after_end: [1]}", "catch_up_days: must be a whole number of days"),
        ("- 90\n- 60", "the file must be a mapping"),
        ("", "the file must be a mapping"),
        ("default: {days_before_end: [90, 60}", "not valid YAML"),
        ("default: {days_after_end: [1]}\ndefault: {days_after_end: [2]}", "the key 'default' is given twice"),
    ],
)
def test_an_invalid_cadence_is_refused_with_where_and_what(tmp_path: Path, text: str, problem: str) -> None:
    assert problem in problems_of(tmp_path, text)


SEGMENT = "default: {days_after_end: [7]}\nsegments:\n  - "


@pytest.mark.parametrize(
    ("segment", "problem"),
    [
        ("{name: big, days_after_end: [7]}", "segments[0].when: missing; a segment needs a rule"),
        ("{name: big, when: {}, days_after_end: [7]}", "segments[0].when: must be a mapping of one or more rules"),
        (
            "{name: big, when: {amount_over: 5}, days_after_end: [7]}",
            "segments[0].when.amount_over: unknown key; did you mean 'amount_below'? "
            "allowed here: reseller, amount_at_least, amount_below, currency",
        ),
        ("{name: big, when: {reseller: yes please}, days_after_end: [7]}", "segments[0].when.reseller: must be true"),
        ("{name: big, when: {amount_at_least: -1}, days_after_end: [7]}", "-1 is not an amount"),
        ("{name: big, when: {amount_at_least: 10.005}, days_after_end: [7]}", "10.005 is not an amount"),
        ("{name: big, when: {amount_at_least: 'lots'}, days_after_end: [7]}", "'lots' is not an amount"),
        ("{name: big, when: {amount_at_least: .inf}, days_after_end: [7]}", "inf is not an amount"),
        ("{name: big, when: {amount_at_least: true}, days_after_end: [7]}", "True is not an amount"),
        (
            "{name: big, when: {amount_at_least: 100, amount_below: 100}, days_after_end: [7]}",
            "segments[0].when: amount_at_least 100 is not below amount_below 100; nothing matches",
        ),
        ("{name: big, when: {currency: eur}, days_after_end: [7]}", "segments[0].when.currency: must be an ISO"),
        ("{name: big, when: {currency: []}, days_after_end: [7]}", "segments[0].when.currency: must be an ISO"),
        ("{when: {reseller: true}, days_after_end: [7]}", "segments[0].name: missing"),
        ("{name: Big Deals, when: {reseller: true}, days_after_end: [7]}", "'Big Deals' is not a segment name"),
        ("{name: default, when: {reseller: true}, days_after_end: [7]}", "`default` is the name of the default"),
        ("{name: big, when: {reseller: true}}", "segments[0]: no stages"),
        ("{name: big, when: {reseller: true}, days_after_end: [7], stages: [1]}", "segments[0].stages: unknown key"),
        ("just a string", "segments[0]: must be a mapping"),
    ],
)
def test_an_invalid_segment_is_refused_with_where_and_what(tmp_path: Path, segment: str, problem: str) -> None:
    assert problem in problems_of(tmp_path, SEGMENT + segment)


def test_two_segments_may_not_share_a_name(tmp_path: Path) -> None:
    text = SEGMENT + "{name: big, when: {reseller: true}, days_after_end: [7]}\n"
    text += "  - {name: big, when: {reseller: false}, days_after_end: [7]}\n"
    assert "segments[1].name: 'big' is used by an earlier segment" in problems_of(tmp_path, text)


def test_segments_must_be_a_list(tmp_path: Path) -> None:
    text = "default: {days_after_end: [7]}\nsegments: {name: big}"
    assert "segments: must be a list of segments" in problems_of(tmp_path, text)


def test_every_problem_is_reported_at_once_naming_the_file(tmp_path: Path) -> None:
    text = "catch_up_days: 999\ndefault: {days_before_end: [90, 90]}\nsegments:\n  - {name: x, when: {vip: true}}\n"
    message = problems_of(tmp_path, text)
    assert f"Invalid cadence in {tmp_path / 'cadence.yaml'}:" in message
    for problem in (
        "catch_up_days: must be a whole number of days from 0 to 365, not 999",
        "default.days_before_end: 90 appears twice",
        "segments[0].when.vip: unknown key",
        "segments[0]: no stages",
    ):
        assert problem in message


def test_a_missing_file_is_a_cadence_error(tmp_path: Path) -> None:
    with pytest.raises(CadenceError, match="cannot read the file"):
        load_cadence(tmp_path / "nowhere.yaml")


def test_the_setting_names_the_variable_and_the_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "default: {days_before_end: [90, 90]}")
    settings = load_settings({"RENEWALS_SECRET_KEYS": KEY, "RENEWALS_CADENCE_FILE": str(path)})
    with pytest.raises(SettingsError) as caught:
        check_cadence_file(settings)  # every process checks it at start
    assert f"RENEWALS_CADENCE_FILE={str(path)!r}: default.days_before_end: 90 appears twice" in str(caught.value)


def test_the_setting_refuses_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(SettingsError, match=r"RENEWALS_CADENCE_FILE=.*no such file"):
        load_settings({"RENEWALS_SECRET_KEYS": KEY, "RENEWALS_CADENCE_FILE": str(missing)})


def test_the_setting_takes_a_valid_file(tmp_path: Path) -> None:
    path = write(tmp_path, SEGMENTED)
    settings = load_settings({"RENEWALS_SECRET_KEYS": KEY, "RENEWALS_CADENCE_FILE": str(path)})
    assert settings.cadence_file == path
    assert load_cadence(settings.cadence_file).segments[0].name == "enterprise"
