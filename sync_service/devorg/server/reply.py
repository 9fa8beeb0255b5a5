"""What a handler returns: status, body and headers, before the WSGI layer encodes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-able value, raw bytes, or None (no body at all, e.g. 204)
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json;charset=UTF-8"

    def encode(self) -> bytes:
        if self.body is None or self.status == 204:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        # orjson: query pages of 2,000 records are the org's hot path, and the stdlib encoder dominates them.
        return orjson.dumps(self.body)


def json_reply(status: int, body: Any, **headers: str) -> Reply:
    return Reply(status, body, dict(headers))


def no_content() -> Reply:
    return Reply(204, None)
