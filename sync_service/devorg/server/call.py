"""A REST call as the router sees it: method, the path below /services/data/vXX.X/, and its parts.

Composite subrequests are turned into the same shape, so they run through exactly the same handlers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_plus

from sync_service.devorg.errors import ApiError


@dataclass
class Call:
    method: str
    version: str
    path: str  # raw (still percent-encoded) path below /services/data/vXX.X/, without leading slash
    query: str = ""  # raw query string
    raw_body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    user_id: str = ""
    in_composite: bool = False

    @property
    def segments(self) -> list[str]:
        """Path segments, each percent-decoded on its own so an encoded '/' stays inside its segment."""
        parts = [p for p in self.path.split("/") if p != ""]
        return [unquote(p) for p in parts]

    @property
    def raw_segments(self) -> list[str]:
        return [p for p in self.path.split("/") if p != ""]

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))

    def json(self) -> Any:
        if not self.raw_body:
            return None
        try:
            return json.loads(self.raw_body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "JSON_PARSER_ERROR", f"The request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body is nested too deeply") from None

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject: expected a JSON object")
        return body

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None

    def api_url(self, rest: str) -> str:
        return f"/services/data/v{self.version}/{rest}"


def external_id_value(raw_segment: str) -> str:
    """Decode an external-id path segment the way get_by_custom_id and format_external_id encode it."""
    return unquote_plus(raw_segment)
