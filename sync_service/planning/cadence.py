"""The reminder cadence: on which days, relative to a contract's end date, its reminders are due.

A cadence is read from a YAML file (the packaged ``config/cadence.yaml`` unless ``RENEWALS_CADENCE_FILE``
names another) and checked strictly: anything that is not clearly meant is refused with a message naming
where in the file it is, never guessed or ignored. The shape::

    catch_up_days: 30            # optional, default 30
    default:                     # every contract no segment rule claims
      days_before_end: [90, 60, 30, 7]
      days_after_end: [7, 30]
    segments:                    # optional; the first whose `when` matches wins
      - name: enterprise
        when: {amount_at_least: 50000}
        days_before_end: [120, 90, 60, 30, 7]
        days_after_end: [7]

A stage is an offset in days from the end date, negative before it and positive after it (``0`` is the
end date itself); that offset is what the store's ``reminders.offset_days`` holds. Segments may only differ
in their stages: which reminders a contract gets never depends on anything but its segment and dates.

This module is plain data and knows nothing of the store; :mod:`sync_service.planning.planner` turns the
segment rules into SQL, and :meth:`Cadence.segment_for` is the same rule in Python for one contract.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from config.settings import Settings, SettingsError

__all__ = [
    "DEFAULT_CATCH_UP_DAYS",
    "DEFAULT_SEGMENT",
    "MAX_OFFSET_DAYS",
    "Cadence",
    "CadenceError",
    "Rule",
    "Segment",
    "describe_stage",
    "load_cadence",
    "parse_cadence",
    "parse_cadence_text",
    "read_yaml",
    "stage_key",
]

MAX_OFFSET_DAYS = 365
DEFAULT_CATCH_UP_DAYS = 30
DEFAULT_SEGMENT = "default"
# Fits the store's reminders.segment column and reads well in reports and URLs.
SEGMENT_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
CURRENCY_CODE = re.compile(r"[A-Z]{3}")
# Money in the store has 18 digits, 2 of them decimals; a threshold must be comparable with it exactly.
MAX_AMOUNT = Decimal(10) ** 16

TOP_LEVEL_KEYS = ("catch_up_days", "default", "segments")
STAGE_KEYS = ("days_before_end", "days_after_end")
RULE_KEYS = ("reseller", "amount_at_least", "amount_below", "currency")


class CadenceError(ValueError):
    """The cadence file cannot be used; every problem is listed with where it is in the file."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"Invalid cadence in {source}:\n" + "\n".join(f"- {p}" for p in self.problems))


@dataclass(frozen=True)
class Rule:
    """What a contract must be to belong to a segment; every condition given must hold.

    A contract whose amount or currency is unknown matches no condition on it: an unknown amount is not
    "at least 50,000", and not "below 1,000" either.
    """

    reseller: bool | None = None
    amount_at_least: Decimal | None = None
    amount_below: Decimal | None = None
    currencies: tuple[str, ...] | None = None

    def matches(self, *, reseller: bool, amount: Decimal | None, currency: str | None) -> bool:
        if self.reseller is not None and reseller != self.reseller:
            return False
        if self.amount_at_least is not None and (amount is None or amount < self.amount_at_least):
            return False
        if self.amount_below is not None and (amount is None or amount >= self.amount_below):
            return False
        return self.currencies is None or currency in self.currencies


@dataclass(frozen=True)
class Segment:
    name: str
    # Stage offsets in days from the end date, ascending (earliest reminder first); never empty.
    offsets: tuple[int, ...]
    # None for the default segment, which takes every contract the others leave.
    rule: Rule | None = None


@dataclass(frozen=True)
class Cadence:
    # The rule segments in file order, then the default segment last.
    segments: tuple[Segment, ...]
    # How many days after its date a stage may still be planned (a contract pulled late, a hold lifted);
    # a stage found later than that is skipped instead, so nobody hears of a deadline long gone.
    catch_up_days: int = DEFAULT_CATCH_UP_DAYS

    @property
    def default(self) -> Segment:
        return self.segments[-1]

    def segment_for(self, *, reseller: bool, amount: Decimal | None, currency: str | None) -> Segment:
        """The segment of a contract: the first whose rule it matches, else the default."""
        for segment in self.segments:
            if segment.rule is None or segment.rule.matches(reseller=reseller, amount=amount, currency=currency):
                return segment
        return self.default


def stage_key(offset_days: int) -> str:
    """A short, stable name of a stage: ``before_90``, ``on_end_date``, ``after_7``."""
    if offset_days < 0:
        return f"before_{-offset_days}"
    if offset_days > 0:
        return f"after_{offset_days}"
    return "on_end_date"


def describe_stage(offset_days: int) -> str:
    """The stage in words, for reasons and admin pages: ``90 days before the end date``."""
    if offset_days == 0:
        return "on the end date"
    days = abs(offset_days)
    unit = "day" if days == 1 else "days"
    return f"{days} {unit} {'before' if offset_days < 0 else 'after'} the end date"


def load_cadence(path: str | Path) -> Cadence:
    """Read and check a cadence file; raises :class:`CadenceError` naming every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CadenceError(source, [f"cannot read the file: {exc.strerror or exc}"]) from exc
    return parse_cadence_text(text, source=source)


def parse_cadence_text(text: str, *, source: str = "<cadence>") -> Cadence:
    """Check a cadence written as YAML (a file's text, or the admin console's); see :func:`load_cadence`."""
    try:
        data = read_yaml(text)
    except yaml.YAMLError as exc:
        raise CadenceError(source, [f"not valid YAML: {exc}"]) from exc
    return parse_cadence(data, source=source)


def read_yaml(text: str) -> Any:
    """YAML's safe loading, except that a key given twice in one mapping is an error (raises YAMLError)."""
    # _StrictLoader is yaml's SafeLoader plus a duplicate-key check, so loading stays safe.
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506


def parse_cadence(data: object, *, source: str = "<cadence>") -> Cadence:
    """Check already-parsed YAML data and build the :class:`Cadence` it describes."""
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise CadenceError(source, ["the file must be a mapping with at least a `default:` section"])
    _refuse_unknown_keys(data, TOP_LEVEL_KEYS, "", problems)

    catch_up_days = DEFAULT_CATCH_UP_DAYS
    if "catch_up_days" in data:
        raw = data["catch_up_days"]
        if _is_int(raw) and 0 <= raw <= MAX_OFFSET_DAYS:
            catch_up_days = raw
        else:
            problems.append(f"catch_up_days: must be a whole number of days from 0 to {MAX_OFFSET_DAYS}, not {raw!r}")

    segments: list[Segment] = []
    raw_segments = data.get("segments", [])
    if raw_segments is None:
        raw_segments = []
    if not isinstance(raw_segments, list):
        problems.append("segments: must be a list of segments, each with a name, a `when` rule and its stages")
        raw_segments = []
    seen_names: set[str] = set()
    for position, raw_segment in enumerate(raw_segments):
        segment = _parse_segment(raw_segment, f"segments[{position}]", problems, default=False)
        if segment is None:
            continue
        if segment.name in seen_names:
            problems.append(f"segments[{position}].name: {segment.name!r} is used by an earlier segment")
        seen_names.add(segment.name)
        segments.append(segment)

    if "default" not in data:
        problems.append("default: missing; it holds the stages of every contract no segment rule matches")
    else:
        default = _parse_segment(data["default"], "default", problems, default=True)
        if default is not None:
            segments.append(default)

    if problems:
        raise CadenceError(source, problems)
    return Cadence(segments=tuple(segments), catch_up_days=catch_up_days)


def _parse_segment(raw: object, where: str, problems: list[str], *, default: bool) -> Segment | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a mapping with days_before_end and/or days_after_end")
        return None
    allowed = STAGE_KEYS if default else ("name", "when", *STAGE_KEYS)
    before = len(problems)
    _refuse_unknown_keys(raw, allowed, where, problems)

    name = DEFAULT_SEGMENT
    rule: Rule | None = None
    if not default:
        name = _parse_name(raw.get("name"), f"{where}.name", problems)
        if "when" not in raw:
            problems.append(f"{where}.when: missing; a segment needs a rule (contracts matching none get `default`)")
        else:
            rule = _parse_rule(raw["when"], f"{where}.when", problems)

    offsets = _parse_stages(raw, where, problems)
    if len(problems) > before:
        return None
    return Segment(name=name, offsets=offsets, rule=rule)


def _parse_name(raw: object, where: str, problems: list[str]) -> str:
    if raw is None:
        problems.append(f"{where}: missing; name the segment, e.g. `name: enterprise`")
    elif not isinstance(raw, str) or not SEGMENT_NAME.fullmatch(raw):
        problems.append(
            f"{where}: {raw!r} is not a segment name (lowercase letters, digits, - and _, "
            "starting with a letter, at most 40 characters)"
        )
    elif raw == DEFAULT_SEGMENT:
        problems.append(f"{where}: `default` is the name of the default section; choose another")
    else:
        return raw
    return ""


def _parse_stages(raw: Mapping[Any, Any], where: str, problems: list[str]) -> tuple[int, ...]:
    before = len(problems)
    offsets: dict[int, str] = {}
    for key, sign in (("days_before_end", -1), ("days_after_end", 1)):
        if key not in raw:
            continue
        days = raw[key]
        if not isinstance(days, list):
            problems.append(f"{where}.{key}: must be a list of whole numbers of days, e.g. [90, 30, 7]")
            continue
        for value in days:
            if not _is_int(value):
                problems.append(f"{where}.{key}: {value!r} is not a whole number of days")
            elif not 0 <= value <= MAX_OFFSET_DAYS:
                problems.append(f"{where}.{key}: {value} is outside 0 to {MAX_OFFSET_DAYS} days")
            elif (offset := sign * value) in offsets:
                earlier = offsets[offset]
                problems.append(
                    f"{where}.{key}: {value} appears twice"
                    if earlier == key
                    else f"{where}: 0 days before and after the end date are the same stage; keep one"
                )
            else:
                offsets[offset] = key
    if not offsets and len(problems) == before:
        problems.append(f"{where}: no stages; give at least one day in days_before_end or days_after_end")
    return tuple(sorted(offsets))


def _parse_rule(raw: object, where: str, problems: list[str]) -> Rule | None:
    if not isinstance(raw, Mapping) or not raw:
        problems.append(f"{where}: must be a mapping of one or more rules ({', '.join(RULE_KEYS)})")
        return None
    before = len(problems)
    _refuse_unknown_keys(raw, RULE_KEYS, where, problems)
    reseller = raw.get("reseller")
    if reseller is not None and not isinstance(reseller, bool):
        problems.append(f"{where}.reseller: must be true (sold through a reseller) or false (sold direct)")
    at_least = _parse_amount(raw, "amount_at_least", where, problems)
    below = _parse_amount(raw, "amount_below", where, problems)
    if at_least is not None and below is not None and at_least >= below:
        problems.append(f"{where}: amount_at_least {at_least} is not below amount_below {below}; nothing matches")
    currencies = _parse_currencies(raw.get("currency"), f"{where}.currency", problems)
    if len(problems) > before:
        return None
    return Rule(reseller=reseller, amount_at_least=at_least, amount_below=below, currencies=currencies)


def _parse_amount(raw: Mapping[Any, Any], key: str, where: str, problems: list[str]) -> Decimal | None:
    if key not in raw:
        return None
    value = raw[key]
    amount: Decimal | None = None
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            amount = None
    if amount is None or not amount.is_finite() or amount < 0 or amount >= MAX_AMOUNT or amount != round(amount, 2):
        problems.append(f"{where}.{key}: {value!r} is not an amount (a number of at most 2 decimals, at least 0)")
        return None
    return amount


def _parse_currencies(raw: object, where: str, problems: list[str]) -> tuple[str, ...] | None:
    if raw is None:
        return None
    codes = raw if isinstance(raw, list) else [raw]
    bad = [code for code in codes if not isinstance(code, str) or not CURRENCY_CODE.fullmatch(code)]
    if bad or not codes:
        problems.append(f"{where}: must be an ISO currency code such as EUR, or a list of them; not {raw!r}")
        return None
    return tuple(codes)


def _refuse_unknown_keys(raw: Mapping[Any, Any], allowed: tuple[str, ...], where: str, problems: list[str]) -> None:
    prefix = f"{where}." if where else ""
    for key in raw:
        if key in allowed:
            continue
        hint = difflib.get_close_matches(str(key), allowed, n=1)
        suggestion = f"did you mean {hint[0]!r}? " if hint else ""
        problems.append(f"{prefix}{key}: unknown key; {suggestion}allowed here: {', '.join(allowed)}")


def _is_int(value: object) -> bool:
    # YAML's true/false are Python bools, which are ints; a stage of `yes` days is a mistake, not 1.
    return isinstance(value, int) and not isinstance(value, bool)


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error, not last-one-wins."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"the key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def check_cadence_file(settings: Settings) -> None:
    """Refuse to start on a cadence file that does not describe a valid cadence (checked at start, by every
    process, so a mistake is found before the first planning run, not at it)."""
    try:
        load_cadence(settings.cadence_file)
    except CadenceError as exc:
        name = "RENEWALS_CADENCE_FILE"
        raise SettingsError([f"{name}={str(settings.cadence_file)!r}: {problem}" for problem in exc.problems]) from exc
