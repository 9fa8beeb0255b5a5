"""``renewals web``: the web app under gunicorn, as the Procfile's ``web`` process runs it."""

from __future__ import annotations

from typing import Any

import click
from gunicorn.app.base import BaseApplication

from config.commands.cli import settings_from_environment
from config.settings import Settings
from config.settings.logs import configure_logging

WSGI_APP = "email_actions.web.wsgi:app"


class GunicornServer(BaseApplication):
    """Gunicorn configured from our settings instead of its command line."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        options = {
            "bind": f"{self.settings.web_host}:{self.settings.web_port}",
            "workers": self.settings.web_workers,
            "accesslog": "-",
            "errorlog": "-",
            "loglevel": self.settings.log_level.lower(),
            # Each worker builds its own app after the fork, so no database connection is shared.
            "preload_app": False,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from gunicorn.util import import_app

        return import_app(WSGI_APP)


@click.command()
@click.option("--dev", is_flag=True, help="Flask's development server with auto-reload, instead of gunicorn.")
def web(dev: bool) -> None:
    """Serve the web app on RENEWALS_WEB_HOST:RENEWALS_WEB_PORT."""
    settings = settings_from_environment()
    configure_logging(settings.log_level)
    if dev:
        from email_actions.web.app import create_app

        create_app(settings).run(host=settings.web_host, port=settings.web_port, use_reloader=True)
        return
    GunicornServer(settings).run()
