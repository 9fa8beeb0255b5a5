"""Reading what a form posted, shared by the app's forms: a WTForms filter and the parse of a posted amount."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any


def strip(value: Any) -> Any:
    """Surrounding white space off what was typed (other values as they are)."""
    return value.strip() if isinstance(value, str) else value


def decimal_or_none(raw: str | None) -> Decimal | None:
    """A posted amount as a finite Decimal; None when it is missing or not a number."""
    try:
        number = Decimal((raw or "").strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None
