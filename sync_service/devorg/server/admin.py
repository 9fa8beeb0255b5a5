"""Admin hooks for tests, benchmarks and the demo: faults, schema changes, session expiry, settings, the
request log and the clock. Every call needs the `X-Devorg-Admin` header with the token printed at start-up;
bodies are JSON objects; a bad one answers 400 `{"error": ...}` naming what was wrong and changes nothing.
These hooks are never part of the Salesforce API the service talks to.

Under `/_devorg/admin/`:

- `GET|PUT faults`: the injected faults (error rules, record lock rate, latency; see `faults.py`).
- `POST schema`: add, rename or delete a custom field (`{"op": "add", "object": ..., "field": ..., "type": ...}`).
- `POST sessions/expire`: expire one session (`{"token": ...}`) or all of them (`{}`).
- `GET|PUT settings`: session lifetime, upsert update status, daily API limit (`reset_api_usage` too) and the
  Bulk job delay; answers them all with the API calls used.
- `GET requests?since=<epoch seconds>`: the request log.
- `PUT jwt-certificate`: the PEM certificate JWT bearer assertions must be signed for.
- `GET|PUT connected-app`: the connected app's web server flow settings, kept with the org's data:
  `callback_urls` (the redirect URIs `/services/oauth2/authorize` accepts, matched exactly), `require_pkce`,
  `require_secret` (see `web_auth.py`).
- `PUT static`: pages the benchmark baseline serves back verbatim (a JSON list).
- `GET clock`: `{"now": ..., "offset_seconds": ...}`, the org's time and how far it was advanced.
- `POST clock {"advance_seconds": 2}`: move the org's clock forward, so records written next carry later
  CreatedDate, LastModifiedDate and SystemModstamp stamps (tests step over second-resolution watermarks this
  way instead of sleeping). Only forward, above 0 and at most a year per call; the offset is kept with the
  org's data, so stamps never go back, even across a restart. Without it the org runs on real time.
"""

from __future__ import annotations

import hmac
import json
import math
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from sync_service.devorg.server.reply import Reply, json_reply
from sync_service.devorg.values import format_datetime

if TYPE_CHECKING:
    from sync_service.devorg.org import Org


def _error(status: int, message: str) -> Reply:
    return json_reply(status, {"error": message})


def handle(org: Org, request: Request, raw_path: str) -> Reply:
    supplied = request.headers.get("X-Devorg-Admin", "")
    if not hmac.compare_digest(supplied.encode(), org.admin_token.encode()):
        return _error(403, "admin token required in the X-Devorg-Admin header")
    action = raw_path.removeprefix("/_devorg/admin/").strip("/")
    method = request.method
    try:
        body: Any = json.loads(request.get_data() or b"null")
    except ValueError:
        return _error(400, "body must be JSON")
    if body is not None and not isinstance(body, dict) and action != "static":
        return _error(400, "body must be a JSON object")
    try:
        if action == "faults" and method == "GET":
            return json_reply(200, org.faults.as_dict())
        if action == "faults" and method == "PUT":
            org.faults.configure(body or {})
            return json_reply(200, org.faults.as_dict())
        if action == "schema" and method == "POST":
            org.change_schema(body or {})
            return json_reply(200, {"ok": True})
        if action == "sessions/expire" and method == "POST":
            token = (body or {}).get("token")
            return json_reply(200, {"expired": org.expire_sessions(token)})
        if action == "settings" and method == "PUT":
            return json_reply(200, _settings(org, body or {}))
        if action == "settings" and method == "GET":
            return json_reply(200, _settings(org, {}))
        if action == "requests" and method == "GET":
            since = float(request.args.get("since", "0"))
            return json_reply(200, [e for e in org.request_log if e["at"] >= since])
        if action == "jwt-certificate" and method == "PUT":
            org.jwt_certificate_pem = request.get_data()
            return json_reply(200, {"ok": True})
        if action == "clock" and method == "GET":
            return json_reply(200, _clock(org))
        if action == "clock" and method == "POST":
            return json_reply(200, _advance_clock(org, body or {}))
        if action == "connected-app" and method == "GET":
            return json_reply(200, org.oauth.app.__dict__)
        if action == "connected-app" and method == "PUT":
            with org.lock:
                org.oauth.app.configure(body or {})
                org.oauth.save_app(org.store)
            return json_reply(200, org.oauth.app.__dict__)
        if action == "static" and method == "PUT":
            pages = body if isinstance(body, list) else []
            org.static_pages = [str(p).encode() for p in pages]
            return json_reply(200, {"pages": len(org.static_pages)})
    except (ValueError, KeyError, TypeError) as exc:
        return _error(400, str(exc))
    return _error(404, f"no admin action {method} {action}")


def _settings(org: Org, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply the given settings (all validated first), then report them all."""
    checked: dict[str, Any] = {}
    if "session_seconds" in changes:
        checked["session_seconds"] = float(changes["session_seconds"])
        if not 0 < checked["session_seconds"] < math.inf:
            raise ValueError("session_seconds must be a positive number")
    if "upsert_update_status" in changes:
        checked["upsert_update_status"] = int(changes["upsert_update_status"])
        if checked["upsert_update_status"] not in (200, 204):
            raise ValueError("upsert_update_status must be 200 or 204")
    if "daily_api_limit" in changes:
        checked["daily_api_limit"] = int(changes["daily_api_limit"])
        if checked["daily_api_limit"] < 0:
            raise ValueError("daily_api_limit must not be negative")
    if "bulk_delay_seconds" in changes:
        checked["bulk_delay_seconds"] = float(changes["bulk_delay_seconds"])
        if not 0 <= checked["bulk_delay_seconds"] < math.inf:
            raise ValueError("bulk_delay_seconds must be a number of seconds, 0 or more")
    if changes.get("reset_api_usage"):
        org.reset_api_usage()
    for key, value in checked.items():
        if key == "daily_api_limit":
            org.set_daily_api_limit(value)
        else:
            setattr(org, key, value)
    return {
        "session_seconds": org.session_seconds,
        "upsert_update_status": org.upsert_update_status,
        "daily_api_limit": org.daily_api_limit,
        "api_used": org.api_used(),
        "bulk_delay_seconds": org.bulk_delay_seconds,
        "task_external_id_field": org.task_external_id_field,
    }


def _clock(org: Org) -> dict[str, Any]:
    return {"now": format_datetime(org.now()), "offset_seconds": org.clock.offset_seconds}


def _advance_clock(org: Org, body: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - {"advance_seconds"})
    if unknown:
        raise ValueError(f"unknown clock input {', '.join(unknown)}: the clock takes advance_seconds only")
    if "advance_seconds" not in body:
        raise ValueError("advance_seconds is required (a number of seconds above 0)")
    org.advance_clock(body["advance_seconds"])
    return _clock(org)
