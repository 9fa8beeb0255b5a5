"""Salesforce record ids: 15-character case-sensitive bodies with the 3-character case-safe suffix.

The stand-in issues 18-character ids with each object's key prefix and accepts 15-character ids on input,
exactly like an org does, so code that compares or stores ids behaves the same against both.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache

_SUFFIX_ALPHABET = string.ascii_uppercase + "012345"
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")
# The two characters after the key prefix stand for the org's pod in real ids; keep them fixed.
_POD = "5e"


@lru_cache(maxsize=1 << 16)
def checksum(id15: str) -> str:
    """The three characters that make a 15-character id case-insensitively unique."""
    out = []
    for start in (0, 5, 10):
        bits = 0
        for i, ch in enumerate(id15[start : start + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_SUFFIX_ALPHABET[bits])
    return "".join(out)


def make_id(prefix: str, sequence: int) -> str:
    """The 18-character id of the `sequence`-th record with this key prefix."""
    if len(prefix) != 3:
        raise ValueError(f"key prefix must have 3 characters: {prefix!r}")
    digits = []
    n = sequence
    while True:
        n, rem = divmod(n, 62)
        digits.append(_BASE62[rem])
        if n == 0:
            break
    body = "".join(reversed(digits)).rjust(10, "0")
    if len(body) > 10:
        raise ValueError("sequence too large for a Salesforce id")
    id15 = prefix + _POD + body
    return id15 + checksum(id15)


def is_id(value: str) -> bool:
    return bool(_ID_RE.match(value)) and (len(value) == 15 or checksum(value[:15]) == value[15:])


def normalize(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or None when `value` is not an id."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        return None
    if len(value) == 15:
        return value + checksum(value)
    if checksum(value[:15]) != value[15:]:
        return None
    return value
