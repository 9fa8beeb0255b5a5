"""A wrapper that keeps a secret out of reprs, logs and error messages.

Code that needs the value calls :meth:`Secret.reveal` at the point of use, so every place a secret leaves
the process is easy to find.
"""

from __future__ import annotations

import hmac


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant time, so comparing secrets never leaks how much of them matched.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)
