"""Reading a whole number as an admin typed it into a settings form (the API budget, the burst of the bot rules,
the cadence's catch-up days), the same way for every setting: thousands separators allowed, a problem named
for the field instead of an exception, so that one check can report every field that is wrong at once.

It only reads; which numbers a setting accepts is the caller's rule (the bounds it passes).
"""

from __future__ import annotations

import re


def whole_number(raw: str, field: str, low: int, high: int, problems: dict[str, str]) -> int:
    """`raw` as a whole number from `low` to `high`; otherwise records why under `field` in `problems`."""
    text = raw.strip().replace(",", "").replace("_", "")
    if not re.fullmatch(r"[+-]?\d{1,12}", text):
        problems[field] = f"{raw.strip()!r} is not a whole number" if raw.strip() else "required"
        return 0
    value = int(text)
    if not low <= value <= high:
        problems[field] = f"must be from {low:,} to {high:,}, not {value:,}"
    return value
