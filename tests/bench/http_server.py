"""The web app as `renewals web` serves it (the product's own gunicorn set-up, `config.commands.web`), plus the
trivial endpoint `renewals bench http` compares against: `python -m tests.bench.http_server`, from the checkout's
root, with the same RENEWALS_* environment. The product itself has no benchmark route."""

from __future__ import annotations

from flask import Flask

from config.commands.cli import settings_from_environment
from config.commands.web import GunicornServer
from config.settings.logs import configure_logging
from email_actions.web.app import create_app

TRIVIAL_PATH = "/_bench/trivial"


def bench_app() -> Flask:
    """The web app with the trivial endpoint: the same app, workers and middleware as the pixel it is compared with."""
    app = create_app()

    @app.get(TRIVIAL_PATH)
    def bench_trivial() -> tuple[str, int]:
        return "", 200

    return app


def main() -> None:
    settings = settings_from_environment()
    configure_logging(settings.log_level)
    GunicornServer(settings, wsgi_app="tests.bench.http_server:bench_app()").run()


if __name__ == "__main__":
    main()
