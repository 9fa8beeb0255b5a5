"""Whether a Salesforce field, with its transform, can feed a canonical field, and whether a value fits a
Salesforce field (write-back values, Task conventions). Each check returns what is wrong, or None."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from mappings.model import CanonicalField, FieldType, Transform
from mappings.problems import closest

TEXT_TYPES = frozenset(
    {"string", "picklist", "multipicklist", "email", "phone", "url", "textarea", "combobox", "id", "reference"}
)
NUMBER_TYPES = frozenset({"currency", "double", "percent", "int"})
# Salesforce types each canonical type takes without a transform. A datetime feeds a date as its UTC day.
ACCEPTS: dict[FieldType, frozenset[str]] = {
    "text": TEXT_TYPES,
    "date": frozenset({"date", "datetime"}),
    "decimal": NUMBER_TYPES,
    "bool": frozenset({"boolean"}),
    "ref": frozenset({"reference", "id"}),
}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SF_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")


def source_problem(canonical: CanonicalField, sf_type: str, transform: Transform | None, length: int = 0) -> str | None:
    """What keeps a field of Salesforce type `sf_type` (through `transform`) from feeding `canonical`: a clause
    that follows "<field> is a <sf_type> field", or None."""
    # The transform itself is checked by transform_problem.
    if transform is not None:
        if transform.map is not None:
            return None  # every source value is looked up in the map, whose values fit the canonical type
        if transform.date_format or transform.number:
            return None if sf_type in TEXT_TYPES else "which is not text: date_format and number only parse text"
    if sf_type in ACCEPTS[canonical.type]:
        return None
    # Some products keep ids in text fields (Salesforce CPQ's SBQQ__DocumentId__c): fine for a ref that is not
    # an entity of the model, such as a document's id.
    if canonical.type == "ref" and canonical.ref is None and sf_type == "string" and length >= 15:
        return None
    hint = {
        "date": "; a text field holding dates needs transform: {date_format: '%d.%m.%Y'}",
        "decimal": "; a text field holding numbers needs transform: {number: true}",
        "bool": "; map its values with transform: {map: {...}, default: false}",
    }.get(canonical.type, "")
    return f"which cannot feed a {canonical.type} field{hint if sf_type in TEXT_TYPES else ''}"


def transform_problem(kind: FieldType, transform: Transform) -> str | None:
    if transform.date_format and kind != "date":
        return f"date_format only applies to date fields, and this is a {kind} field"
    if transform.number and kind != "decimal":
        return f"number only applies to decimal fields, and this is a {kind} field"
    if transform.negate and kind != "bool":
        return f"negate only applies to bool fields, and this is a {kind} field"
    if transform.date_format:
        wrong = _date_format_problem(transform.date_format)
        if wrong:
            return wrong
    if transform.map is not None:
        for key, value in [*transform.map.items(), ("default", transform.default)]:
            if value is not None and not fits(kind, value):
                return f"transform maps {key!r} to {value!r}, which is not a {kind} value"
    return None


def _date_format_problem(fmt: str) -> str | None:
    if "%" not in fmt:
        return f"date_format {fmt!r} has no strptime directives; write e.g. '%d.%m.%Y'"
    try:
        # Parsing nothing fails either way; only a bad directive says the format itself is wrong.
        datetime.strptime("", fmt)  # noqa: DTZ007
    except ValueError as exc:
        if "directive" in str(exc) or "stray %" in str(exc):
            return f"date_format {fmt!r} is not a strptime format: {exc}"
    return None


def fits(kind: FieldType, value: Any) -> bool:
    """Whether a constant or a mapped value is a value of canonical type `kind`."""
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "decimal":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "date":
        return isinstance(value, date) or (isinstance(value, str) and _is_iso_date(value))
    return isinstance(value, str)


def _is_iso_date(text: str) -> bool:
    """`2026-02-28` is; `2026-02-30` only looks like one, and would fail the pull (or the write-back) later."""
    if not _ISO_DATE.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def value_problem(field: dict[str, Any], value: Any) -> tuple[str, str | None] | None:
    """What is wrong with writing `value` to a Salesforce field (message, suggested value), or None."""
    kind = field.get("type", "")
    if value is None:
        return None if field.get("nillable", True) else (f"{field['name']} cannot be blank", None)
    if kind in ("picklist", "multipicklist", "combobox"):
        values = [p["value"] for p in field.get("picklistValues", []) if p.get("active", True)]
        if kind == "combobox" and isinstance(value, str):
            return None  # a combobox offers values but takes any text
        chosen = value.split(";") if kind == "multipicklist" and isinstance(value, str) else [value]
        unknown = [v for v in chosen if v not in values]
        if unknown:
            return (
                f"{unknown[0]!r} is not a value of the picklist {field['name']} ({', '.join(values)})",
                closest(str(unknown[0]), values),
            )
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else (f"{field['name']} is a checkbox: true or false", None)
    if kind in NUMBER_TYPES:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else (f"{field['name']} is a number field ({kind})", None)
    if kind == "date":
        return None if fits("date", value) else (f"{field['name']} is a date: YYYY-MM-DD", None)
    if kind in ("reference", "id"):
        ok = isinstance(value, str) and bool(_SF_ID.match(value))
        return None if ok else (f"{field['name']} takes a Salesforce id", None)
    if kind in TEXT_TYPES:
        if not isinstance(value, str):
            return (f"{field['name']} is a text field; quote the value", None)
        length = int(field.get("length") or 0)
        if length and len(value) > length:
            return (f"{field['name']} holds at most {length} characters", None)
    return None
