"""The stand-in org's WSGI application: authentication, API accounting, faults and error shapes around
the REST router, plus the login endpoints, the admin hooks and the read-only web view.

Routing uses the raw request URI, not the decoded PATH_INFO, so an external id containing an encoded '/'
stays one path segment (reference 1.3.4). No request ever gets a stack trace: unexpected errors answer 500
in Salesforce's UNKNOWN_EXCEPTION shape and are logged to stderr.
"""

from __future__ import annotations

import logging
import re
import time
import traceback
from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request

from sync_service.devorg.errors import ApiError
from sync_service.devorg.faults import error_for
from sync_service.devorg.server import admin, auth, rest, web_auth, webview
from sync_service.devorg.server.call import Call
from sync_service.devorg.server.reply import Reply, json_reply

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from sync_service.devorg.org import Org

log = logging.getLogger("devorg")
_DATA = re.compile(r"^/services/data/v(\d+\.\d+)(?:/(.*))?$")
_SOAP = re.compile(r"^/services/Soap/u/(\d+\.\d+)/?$")
_VERSIONS = [
    {"label": label, "url": f"/services/data/v{v}", "version": v}
    for label, v in (
        ("Winter '24", "59.0"),
        ("Spring '24", "60.0"),
        ("Summer '24", "61.0"),
        ("Winter '25", "62.0"),
        ("Spring '25", "63.0"),
        ("Summer '25", "64.0"),
    )
]
_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    300: "Multiple Choices",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    414: "URI Too Long",
    500: "Server Error",
    503: "Service Unavailable",
}


class DevOrgApp:
    def __init__(self, org: Org):
        self.org = org

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        raw = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.path)
        raw_path, _, raw_query = raw.partition("?")
        base_url = f"https://{request.host}"
        started = time.monotonic()
        try:
            reply = self.handle(request, raw_path, raw_query, base_url)
        except Exception:
            log.error("unexpected error on %s %s\n%s", request.method, raw_path, traceback.format_exc())
            reply = json_reply(500, error_for("500").body())
        body = reply.encode()
        # A 304 carries no content and so no representation headers (RFC 9110 §15.4.5; Salesforce's documented
        # 304s show none): a Content-Length there would have to be the 200's length.
        not_modified = reply.status == 304
        headers = [] if not_modified else [("Content-Type", reply.content_type)]
        headers.extend(reply.headers.items())
        if reply.status != 204 and not not_modified:
            headers.append(("Content-Length", str(len(body))))
        self._log(request.method, raw_path, reply.status, time.monotonic() - started)
        start_response(f"{reply.status} {_REASONS.get(reply.status, 'Unknown')}", headers)
        return [] if reply.status in (204, 304) or request.method == "HEAD" else [body]

    def _log(self, method: str, path: str, status: int, seconds: float) -> None:
        entries = self.org.request_log
        entries.append(
            {"method": method, "path": path, "status": status, "ms": round(seconds * 1000, 2), "at": time.time()}
        )
        if len(entries) > 20_000:
            del entries[:10_000]

    def handle(self, request: Request, raw_path: str, raw_query: str, base_url: str) -> Reply:
        org = self.org
        if raw_path.startswith("/_devorg"):
            return (
                webview.handle(org, request, raw_path)
                if not raw_path.startswith("/_devorg/admin")
                else admin.handle(org, request, raw_path)
            )
        if raw_path in ("/services/data", "/services/data/"):
            return json_reply(200, _VERSIONS)
        soap = _SOAP.match(raw_path)
        if soap and request.method == "POST":
            return self._faulted("login") or auth.soap_login(org, request, soap.group(1), base_url)
        if raw_path.rstrip("/") == "/services/oauth2/token" and request.method == "POST":
            return self._faulted("login") or auth.oauth_token(org, request, base_url)
        if web_auth.owns(raw_path):
            return web_auth.handle(org, request, raw_path, base_url)
        data = _DATA.match(raw_path)
        if data is None:
            return json_reply(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
        call = Call(
            method=request.method,
            version=data.group(1),
            path=data.group(2) or "",
            query=raw_query,
            raw_body=request.get_data(),
            headers=dict(request.headers),
        )
        return self._api(call, request)

    def _faulted(self, family: str) -> Reply | None:
        delay = self.org.faults.delay_seconds()
        if delay:
            time.sleep(delay)
        fault = self.org.faults.request_fault(family)
        if fault is None:
            return None
        if fault == "malformed_json":
            return Reply(200, b'{"totalSize": 1, "done": tr')
        return json_reply(error_for(fault).status, error_for(fault).body())

    def _api(self, call: Call, request: Request) -> Reply:
        org = self.org
        authorization = request.headers.get("Authorization", "")
        token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
        try:
            session = org.check_session(token)
        except ApiError as err:
            return json_reply(err.status, err.body())
        call.user_id = session.user_id
        faulted = self._faulted(rest.family(call))
        try:
            org.count_api_call()
            reply = faulted or rest.route(org, call)
        except ApiError as err:
            reply = json_reply(err.status, err.body())
        reply.headers["Sforce-Limit-Info"] = org.limit_header()
        return reply
