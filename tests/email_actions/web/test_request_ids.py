"""Every response carries an X-Request-ID (the client's when well formed, else a fresh one), and every line the
app writes while answering carries it too."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import structlog
from flask import Blueprint, Flask
from flask.testing import FlaskClient

from email_actions.web.request_ids import HEADER, MAX_LENGTH, current_request_id, request_id_from
from tests.log_capture import captured_log

GENERATED = re.compile(r"[0-9a-f]{32}")


def test_a_response_carries_a_fresh_request_id(client: FlaskClient) -> None:
    first = client.get("/healthz").headers[HEADER]
    second = client.get("/healthz").headers[HEADER]
    assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second)
    assert first != second


@pytest.mark.parametrize(
    "incoming",
    ["3f2a6c1e-8d4b-4e8a-9b1c-0d2e3f4a5b6c", "req_01:abc.DEF-9", "a" * MAX_LENGTH],
)
def test_a_well_formed_incoming_id_is_echoed(client: FlaskClient, incoming: str) -> None:
    response = client.get("/healthz", headers={HEADER: incoming})
    assert response.headers[HEADER] == incoming


@pytest.mark.parametrize(
    "incoming",
    [
        "",
        "a" * (MAX_LENGTH + 1),
        "two words",
        'quote"d',
        "line\\nbreak",
        "<script>alert(1)</script>",
        "id=forged level=error",
        "caf\u00e9",
    ],
)
def test_a_malformed_or_oversized_id_is_replaced(client: FlaskClient, incoming: str) -> None:
    response = client.get("/healthz", headers={HEADER: incoming})
    assert GENERATED.fullmatch(response.headers[HEADER])


def test_error_responses_carry_it_too(client: FlaskClient) -> None:
    missing = client.get("/no-such-page", headers={HEADER: "lost-1"})
    bad_link = client.get("/a/renew/not-a-token", headers={HEADER: "bad-link-1"})
    assert (missing.status_code, missing.headers[HEADER]) == (404, "lost-1")
    assert bad_link.status_code >= 400 and bad_link.headers[HEADER] == "bad-link-1"


def test_request_id_from_keeps_only_well_formed_ids() -> None:
    assert request_id_from("abc-1") == "abc-1"
    assert GENERATED.fullmatch(request_id_from(None))
    assert GENERATED.fullmatch(request_id_from("a b"))


def test_a_line_written_during_the_request_carries_it(app: Flask, tmp_path: Path) -> None:
    probe = Blueprint("probe", __name__)

    @probe.get("/_probe")
    def write_lines() -> dict[str, str | None]:
        structlog.get_logger("email_actions.web.probe").info("probe answered", items=2)
        logging.getLogger("email_actions.web.library").warning("a library line")
        return {"request_id": current_request_id()}

    app.register_blueprint(probe)
    client = app.test_client()
    with captured_log(tmp_path / "web.log", level="INFO") as log:
        given = client.get("/_probe", headers={HEADER: "trace-42"})
        fresh = client.get("/_probe")
        structlog.get_logger("email_actions.web.probe").info("between requests")

    assert given.json == {"request_id": "trace-42"}
    fresh_id = fresh.headers[HEADER]
    assert fresh.json == {"request_id": fresh_id}
    lines = log.lines()
    assert [line for line in lines if "request_id=trace-42" in line] == lines[:2]
    assert [line for line in lines if f"request_id={fresh_id}" in line] == lines[2:4]
    assert 'event="probe answered" request_id=trace-42 items=2' in lines[0]
    assert "logger=email_actions.web.library" in lines[1]
    assert "request_id=" not in lines[4] and 'event="between requests"' in lines[4]
    assert structlog.contextvars.get_contextvars() == {}
