"""Salesforce record ids as the service compares and stores them: the 18-character, case-safe form.

An org accepts a record's id in its 15-character, case-sensitive form or in the 18-character form whose last three
characters encode the case of the first fifteen. Admins copy either from Setup or a URL; the service keeps the 18.
"""

from __future__ import annotations

import re
import string

_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Z0-5]{3})?$")
_SUFFIX_ALPHABET = string.ascii_uppercase + "012345"


def case_suffix(id15: str) -> str:
    """The three characters that make a 15-character id unique whatever the case."""
    out = []
    for start in (0, 5, 10):
        bits = sum(1 << i for i, ch in enumerate(id15[start : start + 5]) if "A" <= ch <= "Z")
        out.append(_SUFFIX_ALPHABET[bits])
    return "".join(out)


def normalise_id(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or None when `value` is not a Salesforce id (an
    18-character id whose suffix does not match its first fifteen characters is not one)."""
    text = value.strip()
    if not _ID.match(text):
        return None
    if len(text) == 15:
        return text + case_suffix(text)
    return text if case_suffix(text[:15]) == text[15:] else None
