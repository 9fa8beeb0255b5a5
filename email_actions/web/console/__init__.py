"""The admin console (``/admin``): sign-in, the mappings editor, settings, operations, reports and the audit
log. See :mod:`email_actions.web.console.auth` for who may do what."""

from __future__ import annotations

from flask import Flask

from email_actions.web.console.blueprint import bp


def init_app(app: Flask) -> None:
    # Each module adds its views to the blueprint when imported.
    from email_actions.web.console import audit, mappings_views, operations, reports, settings_views, views  # noqa: F401

    app.register_blueprint(bp)
