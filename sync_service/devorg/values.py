"""Coercion of incoming field values (REST JSON or Bulk CSV cells) to the stand-in's wire form.

Stored values are exactly what the REST API renders: dates "YYYY-MM-DD", datetimes
"YYYY-MM-DDThh:mm:ss.000+0000" in UTC, numbers as JSON numbers, booleans, and strings.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Any

from sync_service.devorg import ids
from sync_service.devorg.errors import ApiError
from sync_service.devorg.schema import TEXT_TYPES, FieldDef

_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?$"
)


def format_datetime(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime:
    m = _DATETIME_RE.match(text.strip())
    if not m:
        raise ValueError(text)
    year, month, day_, hour, minute, second, frac, zone = m.groups()
    micro = int((frac or "0").ljust(6, "0")[:6])
    dt = datetime(int(year), int(month), int(day_), int(hour), int(minute), int(second or 0), micro, tzinfo=UTC)
    if zone in (None, "Z"):
        return dt
    sign = 1 if zone[0] == "+" else -1
    digits = zone[1:].replace(":", "")
    from datetime import timedelta, timezone

    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return dt.replace(tzinfo=timezone(sign * offset)).astimezone(UTC)


def _json_error(f: FieldDef, value: Any, kind: str) -> ApiError:
    return ApiError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from VALUE_STRING value {value} or request may be missing "
        f"a required field",
    )


def coerce(f: FieldDef, value: Any, *, from_csv: bool = False) -> Any:
    """`value` in wire form for field `f`, or ApiError with the code Salesforce uses."""
    if value is None or (from_csv and value == "#N/A"):
        return None
    t = f.type
    if from_csv and isinstance(value, str) and value == "" and t not in TEXT_TYPES:
        return None
    if t in ("reference", "id"):
        if not isinstance(value, str):
            raise _json_error(f, value, "id")
        if value == "":
            return None
        normal = ids.normalize(value)
        if normal is None:
            raise ApiError(400, "MALFORMED_ID", f"{f.label or f.name}: id value of incorrect type: {value}", [f.name])
        return normal
    if t in TEXT_TYPES:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _json_error(f, value, "String")
        text = str(value)
        if text == "":
            return None
        if f.length and len(text) > f.length:
            raise ApiError(
                400,
                "STRING_TOO_LONG",
                f"{f.label or f.name}: data value too large: {text[:40]} (max length={f.length})",
                [f.name],
            )
        if t == "picklist" and f.restricted_picklist and text not in f.picklist:
            raise ApiError(
                400,
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{f.label or f.name}: bad value for restricted picklist field: {text}",
                [f.name],
            )
        return text
    if t == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _json_error(f, value, "boolean")
    if t in ("currency", "double", "percent", "int"):
        if isinstance(value, bool):
            raise _json_error(f, value, "double")
        try:
            number = float(value) if t != "int" else int(str(value).split(".")[0]) if isinstance(value, str) else value
        except (TypeError, ValueError, OverflowError):
            raise _json_error(f, value, "double" if t != "int" else "int") from None
        if isinstance(number, float) and not math.isfinite(number):
            raise _json_error(f, value, "double" if t != "int" else "int")
        if t == "int":
            if isinstance(number, float):
                if not number.is_integer():
                    raise _json_error(f, value, "int")
                number = int(number)
            _check_range(f, number, 9)
            return int(number)
        _check_range(f, number, f.precision - f.scale)
        return float(number)
    if t == "date":
        if not isinstance(value, str):
            raise _json_error(f, value, "date")
        try:
            if len(value) != 10 and not _DATETIME_RE.match(value.strip()):
                raise ValueError(value)
            return date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            raise _json_error(f, value, "date") from None
    if t == "datetime":
        if not isinstance(value, str):
            raise _json_error(f, value, "datetime")
        try:
            return format_datetime(parse_datetime(value))
        except ValueError:
            raise _json_error(f, value, "datetime") from None
    raise _json_error(f, value, t)


def _check_range(f: FieldDef, number: float, digits: int) -> None:
    """Salesforce refuses numbers with more integer digits than the field's precision allows."""
    if digits > 0 and abs(number) >= 10**digits:
        raise ApiError(
            400,
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"{f.label or f.name}: value outside of valid range on numeric field: {number}",
            [f.name],
        )
