"""``renewals web``: the web app under gunicorn, as the Procfile's ``web`` process runs it.

Gunicorn's own lines (``gunicorn.error``) and its access lines (``gunicorn.access``) come out in the same format as
the app's (config/settings/logs.py): its logger class keeps no handlers of its own and hands every record to ours.
"""

from __future__ import annotations

import logging
from typing import Any

import click
from gunicorn.app.base import BaseApplication
from gunicorn.config import Config
from gunicorn.glogging import Logger as GunicornLogger
from gunicorn.util import import_app

from config.commands.cli import settings_from_environment
from config.settings import Settings
from config.settings.logs import configure_logging
from email_actions.web.app import create_app
from email_actions.web.console.salesforce_sign_in import CALLBACK_PATH as ADMIN_CALLBACK_PATH
from email_actions.web.rep_sign_in import CALLBACK_PATH

WSGI_APP = "email_actions.web.wsgi:app"

# Gunicorn's default access line without its own timestamp (ours leads the line) and with the request id the app
# answered with (email_actions/web/request_ids.py), to find the app's lines of that request.
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(L)ss request_id=%({x-request-id}o)s'
# Paths whose query string is never written to the access log: the Salesforce sign-in callbacks' (the reps' and the
# console's) carry a one-time authorization code (and the state), which no log may hold.
REDACTED_QUERY_PATHS = frozenset({CALLBACK_PATH, ADMIN_CALLBACK_PATH})
REDACTED = "[redacted]"


class RoutedGunicornLogger(GunicornLogger):
    """Gunicorn's logger, minus its handlers and formats: its records propagate to the root handler (ours)."""

    def setup(self, cfg: Config) -> None:
        self.loglevel = self.LOG_LEVELS.get(cfg.loglevel.lower(), logging.INFO)
        self.error_log.setLevel(self.loglevel)
        # As gunicorn does: access lines whatever the level (they are the request log, not diagnostics).
        self.access_log.setLevel(logging.INFO)
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
            log.propagate = True

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        path, _, query = str(environ.get("RAW_URI", "")).partition("?")
        if query and path in REDACTED_QUERY_PATHS:
            atoms["r"] = f"{environ.get('REQUEST_METHOD')} {path}?{REDACTED} {environ.get('SERVER_PROTOCOL')}"
            for key in ("q", "{raw_uri}e", "{query_string}e"):
                if key in atoms:
                    atoms[key] = REDACTED
        return atoms


class GunicornServer(BaseApplication):
    """Gunicorn configured from our settings instead of its command line."""

    def __init__(self, settings: Settings, wsgi_app: str = WSGI_APP) -> None:
        self.settings = settings
        self.wsgi_app = wsgi_app  # "module:attribute"; the benchmarks serve the app with a baseline route added
        super().__init__()

    def load_config(self) -> None:
        options = {
            "bind": f"{self.settings.web_host}:{self.settings.web_port}",
            "workers": self.settings.web_workers,
            # Threads, not one request per process: a client that trickles its request in (or reads its answer
            # slowly) holds one thread while the worker's others go on serving. Production still puts a buffering
            # reverse proxy in front (README: "Serving behind a reverse proxy").
            "worker_class": "gthread",
            "threads": self.settings.web_threads,
            # "-": on; where the lines go is the logger class's business (the root handler, stderr).
            "accesslog": "-",
            "errorlog": "-",
            "access_log_format": ACCESS_LOG_FORMAT,
            "logger_class": RoutedGunicornLogger,
            "loglevel": self.settings.log_level.lower(),
            # Each worker builds its own app after the fork, so no database connection is shared.
            "preload_app": False,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return import_app(self.wsgi_app)


@click.command()
@click.option("--dev", is_flag=True, help="Flask's development server with auto-reload, instead of gunicorn.")
def web(dev: bool) -> None:
    """Serve the web app on RENEWALS_WEB_HOST:RENEWALS_WEB_PORT."""
    settings = settings_from_environment()
    configure_logging(settings.log_level)
    if dev:
        create_app(settings).run(host=settings.web_host, port=settings.web_port, use_reloader=True)
        return
    GunicornServer(settings).run()
