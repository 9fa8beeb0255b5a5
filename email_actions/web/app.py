"""The Flask application factory.

``create_app`` wires each subsystem through its ``init_app(app)``; nothing connects at import or here:
the database and Redis are reached on first use.
"""

from __future__ import annotations

from flask import Flask

from config.settings import Settings, load_settings
from email_actions.mail.brands import check_brands_file
from email_actions.web import (
    brand_assets,
    console,
    dev_outbox,
    errors,
    rep_sign_in,
    request_ids,
    security,
    sns_intake,
    status,
    token_pages,
)
from email_actions.web.act import actions, pixel_and_quote
from email_actions.web.portal import views as portal
from sync_service.planning.cadence import check_cadence_file
from sync_service.store import db


def create_app(settings: Settings | None = None) -> Flask:
    if settings is None:
        settings = load_settings()
        # Checked at start, like every process's settings (see config.commands.cli.settings_from_environment).
        check_cadence_file(settings)
        check_brands_file(settings)
    app = Flask(__name__)
    app.extensions["renewals.settings"] = settings
    app.config.update(
        RENEWALS_SETTINGS=settings,
        # Flask's own session cookie follows the same key rotation as the email links.
        SECRET_KEY=settings.signing_key.reveal(),
        SECRET_KEY_FALLBACKS=[key.reveal() for key in settings.secret_keys[:-1]],
    )

    request_ids.init_app(app)  # before every other hook: a request they refuse has its id too
    pixel_and_quote.init_app(app)  # before security: its Cache-Control hook must run after the security headers' hook
    security.init_app(app, settings)
    db.init_app(app)
    token_pages.init_app(app, settings)
    status.init_app(app)
    brand_assets.init_app(app)
    dev_outbox.init_app(app)
    sns_intake.init_app(app)
    actions.init_app(app)
    portal.init_app(app)
    rep_sign_in.init_app(app)
    console.init_app(app)
    errors.init_app(app)
    return app
