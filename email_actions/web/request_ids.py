"""A request id in every log line the web app writes while it answers a request, and in the response.

The id is the client's (or the proxy's) ``X-Request-ID`` when that is well formed — so one id follows a request
through the proxy's log, gunicorn's access line and ours — else a fresh random one. It is bound with
``structlog.contextvars`` for the request's duration (config/settings/logs.py puts it in every line, structlog's
and the standard library's) and echoed in the response's ``X-Request-ID``.

An incoming value is never trusted beyond its shape: anything longer than ``MAX_LENGTH`` or with characters
outside ``[A-Za-z0-9._:-]`` is replaced, so a header can neither forge a log line nor smuggle markup. The id
identifies a request, nothing else: it is never a token or a key.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from contextvars import Token
from typing import Any

import structlog
from flask import Flask, Response, g, request

HEADER = "X-Request-ID"
MAX_LENGTH = 128
WELL_FORMED = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_LENGTH}}}")

_TOKENS = "renewals_request_id_tokens"


def request_id_from(incoming: str | None) -> str:
    """`incoming` if it is a well-formed request id, else a new random one."""
    if incoming is not None and WELL_FORMED.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request being answered (None outside a request, or before the id is bound)."""
    value = g.get("request_id")
    return value if isinstance(value, str) else None


def _bind() -> None:
    g.request_id = request_id_from(request.headers.get(HEADER))
    # The tokens restore what was bound before (nothing, under gunicorn), however the request ends.
    setattr(g, _TOKENS, structlog.contextvars.bind_contextvars(request_id=g.request_id))


def _echo(response: Response) -> Response:
    request_id = current_request_id()
    if request_id is not None:
        response.headers[HEADER] = request_id
    return response


def _unbind(_exc: BaseException | None) -> None:
    tokens: Mapping[str, Token[Any]] | None = g.pop(_TOKENS, None)
    if tokens is not None:
        structlog.contextvars.reset_contextvars(**tokens)


def init_app(app: Flask) -> None:
    """Register before every other hook, so that even a request another before_request hook refuses (a rate
    limit) has its id."""
    app.before_request(_bind)
    app.after_request(_echo)
    app.teardown_request(_unbind)
