"""Canonical values from Salesforce values, per the mapping's field maps and transforms.

REST rows carry JSON types and Bulk rows carry text; both convert to the same canonical value, and a value
that cannot be converted is a ValueProblem naming the Salesforce field and the value (the pull skips that
record and reports it with the canonical field; nothing here guesses a value).

The pull converts a page column by column (`convert_column`): the field map's kind and transform are looked
at once per column and the values go through one tight loop; only a column holding a value that loop refuses
is converted again value by value (`canonical_value`), to name the records and the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from mappings.model import CanonicalField, FieldMap


class ValueProblem(ValueError):
    pass


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text if text != "" else None


def _date(value: Any, fmt: str | None) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    text = str(value)
    try:
        if fmt:
            return datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date, no time zone
        return date.fromisoformat(text[:10])
    except ValueError:
        raise ValueProblem(f"{value!r} is not a date" + (f" in the format {fmt}" if fmt else "")) from None


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueProblem("a checkbox is not a number")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueProblem(f"{value!r} is not a number") from None


def _bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueProblem(f"{value!r} is not true or false")


def canonical_value(row: dict[str, Any], spec: FieldMap, canonical: CanonicalField) -> Any:
    if spec.field is None:
        value = spec.constant
    else:
        value = row.get(spec.field)
        if value is None and spec.field not in row:
            # Field names are case-insensitive in SOQL; Bulk CSV headers echo the query's case.
            lowered = spec.field.lower()
            value = next((v for k, v in row.items() if k.lower() == lowered), None)
    transform = spec.transform
    if transform is not None and transform.map is not None:
        value = transform.map.get(_text(value) or "", transform.default)
    kind = canonical.type
    try:
        if kind == "date":
            return _date(value, transform.date_format if transform else None)
        if kind == "decimal":
            return _decimal(value)
        if kind == "bool":
            result = _bool(value)
            return (not result if result is not None else None) if transform and transform.negate else result
        return _text(value)
    except ValueError as exc:
        raise ValueProblem(f"{spec.field or 'constant'}: {exc}") from None


def modstamp(row: dict[str, Any]) -> datetime | None:
    """The row's version: the newest SystemModstamp of the record and of the parents its mapped fields read
    through (selected as `<relationship>.SystemModstamp`), so a change to a parent's field counts as a change."""
    stamps = [sf_datetime(v) for k, v in row.items() if k == "SystemModstamp" or k.endswith(".SystemModstamp")]
    present = [s for s in stamps if s is not None]
    return max(present) if present else None


def sf_datetime(value: Any) -> datetime | None:
    """A Salesforce dateTime (`2024-05-07T09:30:00.000+0000`) as an aware datetime; None when empty."""
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    return datetime.fromisoformat(text)


class TextColumn(tuple[str, ...]):
    """A column whose every value is text, an empty one meaning null: a Bulk CSV result's. The conversions
    below take such a column through C (`map`, `in`) instead of a Python test per value."""

    __slots__ = ()


_BOOL_TEXT: dict[Any, bool | None] = {"true": True, "false": False, "": None}


def _fast_text(values: Sequence[Any]) -> list[Any]:
    if values.__class__ is TextColumn:
        return [v or None for v in values] if "" in values else list(values)
    return [(v or None) if v.__class__ is str else _text(v) for v in values]


def _fast_decimal(values: Sequence[Any]) -> list[Any]:
    if values.__class__ is TextColumn and "" not in values:
        return list(map(Decimal, values))
    # A bool (a checkbox) is refused by the slow path; float(True) would not be.
    return [None if v is None or v == "" else Decimal(v if v.__class__ is str else _number_text(v)) for v in values]


def _number_text(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueProblem("a checkbox is not a number")
    return str(value)


def _fast_date(values: Sequence[Any]) -> list[Any]:
    if values.__class__ is TextColumn and "" not in values:
        return list(map(date.fromisoformat, values))  # a Bulk date is YYYY-MM-DD; anything else: the slow path
    return [None if v is None or v == "" else date.fromisoformat(v[:10]) for v in values]


def _fast_bool(values: Sequence[Any]) -> list[Any]:
    if values.__class__ is TextColumn:
        return list(map(_BOOL_TEXT.__getitem__, values))  # KeyError for other spellings: the slow path
    return [v if v.__class__ is bool else _bool(v) for v in values]


def convert_column(
    values: Sequence[Any], spec: FieldMap, canonical: CanonicalField
) -> tuple[list[Any], dict[int, str]]:
    """`values` (the raw values of `spec.field`, one per record; ignored for a constant) as canonical values,
    and the problems by position: a value that cannot be converted is None there, with the ValueProblem's text
    (as `canonical_value` words it) under its position."""
    if spec.field is None:
        try:
            return [canonical_value({}, spec, canonical)] * len(values), {}
        except ValueProblem as exc:
            return [None] * len(values), dict.fromkeys(range(len(values)), str(exc))
    transform = spec.transform
    kind = canonical.type
    fast: Callable[[Sequence[Any]], list[Any]] | None = None
    if transform is None or (transform.map is None and not transform.negate and not transform.date_format):
        fast = {"date": _fast_date, "decimal": _fast_decimal, "bool": _fast_bool}.get(kind, _fast_text)
    if fast is not None:
        try:
            return fast(values), {}
        except (ValueError, TypeError, ArithmeticError, AttributeError, KeyError):
            pass  # some value needs a closer look: convert value by value below
    out: list[Any] = []
    problems: dict[int, str] = {}
    row: dict[str, Any] = {}
    for i, value in enumerate(values):
        row[spec.field] = value
        try:
            out.append(canonical_value(row, spec, canonical))
        except ValueProblem as exc:
            out.append(None)
            problems[i] = str(exc)
    return out, problems


def modstamps(columns: list[Sequence[Any]], size: int) -> list[datetime | None]:
    """Per record, the newest of its SystemModstamp columns (the record's and its parents', see `modstamp`)."""
    parsed = [_stamps(column) for column in columns]
    if not parsed:
        return [None] * size
    if len(parsed) == 1:
        return parsed[0]
    return [max((s for s in stamps if s is not None), default=None) for stamps in zip(*parsed, strict=True)]


def _stamps(column: Sequence[Any]) -> list[datetime | None]:
    if column.__class__ is TextColumn and "" not in column:
        try:
            return list(map(datetime.fromisoformat, column))
        except ValueError:
            pass
    return [_stamp(v) for v in column]


def _stamp(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)  # 3.11 reads `...000+0000` and `...000Z` as they come
    except (TypeError, ValueError):
        return sf_datetime(value)
