"""`renewals web`: gunicorn's own lines and its access lines come out in the app's one format, once each, the
access line ending with the request id the app answered with."""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from config.commands.web import ACCESS_LOG_FORMAT, GunicornServer, RoutedGunicornLogger
from config.settings import Settings
from tests.log_capture import captured_log


def gunicorn_config() -> Config:
    cfg = Config()
    for key, value in {
        "accesslog": "-",
        "errorlog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "logger_class": RoutedGunicornLogger,
        "loglevel": "info",
    }.items():
        cfg.set(key, value)
    return cfg


def test_gunicorn_lines_are_in_our_format_once_each(tmp_path: Path) -> None:
    with captured_log(tmp_path / "web.log", level="INFO") as log:
        cfg = gunicorn_config()
        gunicorn_log = cfg.logger_class(cfg)
        gunicorn_log.info("Booting worker with pid: %s", 1234)
        gunicorn_log.debug("not at INFO")
        response = SimpleNamespace(status="200 OK", sent=807, headers=[("X-Request-ID", "abc-123")])
        environ = {
            "REQUEST_METHOD": "GET",
            "RAW_URI": "/healthz",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_USER_AGENT": "curl/8",
        }
        gunicorn_log.access(response, SimpleNamespace(headers=[]), environ, datetime.timedelta(milliseconds=5))

    booting, access = log.lines()
    assert re.fullmatch(
        r'timestamp=\S+Z level=info logger=gunicorn.error event="Booting worker with pid: 1234"', booting
    )
    assert re.fullmatch(
        r'timestamp=\S+Z level=info logger=gunicorn.access event="127.0.0.1 \\"GET /healthz HTTP/1.1\\" 200 807 '
        r'\\"-\\" \\"curl/8\\" 0.005000s request_id=abc-123"',
        access,
    )


def test_the_server_is_configured_with_the_routed_logger(settings: Settings) -> None:
    cfg = GunicornServer(settings).cfg
    assert cfg.logger_class is RoutedGunicornLogger
    assert cfg.access_log_format == ACCESS_LOG_FORMAT


@pytest.mark.parametrize("path", ["/auth/salesforce/callback", "/admin/auth/salesforce/callback"])
def test_the_sign_in_callback_access_line_never_holds_its_code(tmp_path: Path, path: str) -> None:
    with captured_log(tmp_path / "web.log", level="INFO") as log:
        cfg = gunicorn_config()
        response = SimpleNamespace(status="303 SEE OTHER", sent=0, headers=[("X-Request-ID", "abc-123")])
        environ = {
            "REQUEST_METHOD": "GET",
            "RAW_URI": f"{path}?code=aPrxSECRETCODE%3D%3D&state=STATE123",
            "QUERY_STRING": "code=aPrxSECRETCODE%3D%3D&state=STATE123",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
        }
        cfg.logger_class(cfg).access(response, SimpleNamespace(headers=[]), environ, datetime.timedelta(0))
    (access,) = log.lines()
    assert f"GET {path}?[redacted] HTTP/1.1" in access
    assert "SECRETCODE" not in access and "STATE123" not in access
