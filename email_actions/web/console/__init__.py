"""The admin console (``/admin``): sign-in, the mappings editor, settings, operations, reports and the audit
log. See :mod:`email_actions.web.console.auth` for who may do what."""

from __future__ import annotations

from flask import Flask

# Each module adds its views to the blueprint when imported: importing them here completes the blueprint.
from email_actions.web.console import (  # noqa: F401
    audit,
    mappings_editor,
    mappings_versions,
    operations,
    operations_conflicts,
    operations_jobs,
    operations_outbox,
    operations_suppressions,
    reports,
    salesforce_sign_in,
    settings_sign_in,
    settings_views,
    views,
)
from email_actions.web.console.blueprint import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    # Sign in with Salesforce: a blueprint of its own, outside the console's guard (the sign-in itself).
    salesforce_sign_in.init_app(app)
