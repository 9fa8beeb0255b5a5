"""The Flask application factory.

``create_app`` wires each subsystem through its ``init_app(app)``; nothing connects at import or here:
the database and Redis are reached on first use.
"""

from __future__ import annotations

from flask import Flask

from config.settings import Settings, load_settings


def create_app(settings: Settings | None = None) -> Flask:
    if settings is None:
        settings = load_settings()
    app = Flask(__name__)
    app.extensions["renewals.settings"] = settings
    app.config.update(
        RENEWALS_SETTINGS=settings,
        # Flask's own session cookie follows the same key rotation as the email links.
        SECRET_KEY=settings.signing_key.reveal(),
        SECRET_KEY_FALLBACKS=[key.reveal() for key in settings.secret_keys[:-1]],
    )

    from email_actions import (
        actions,
        admin,
        brand_assets,
        dev_outbox,
        errors,
        evidence,
        portal,
        security,
        sns,
        status,
        tokens,
    )
    from sync_service.store import db

    evidence.init_app(app)  # first: its Cache-Control hook must run after the security headers' hook
    security.init_app(app, settings)
    db.init_app(app)
    tokens.init_app(app, settings)
    status.init_app(app)
    brand_assets.init_app(app)
    dev_outbox.init_app(app)
    sns.init_app(app)
    actions.init_app(app)
    portal.init_app(app)
    admin.init_app(app)
    errors.init_app(app)
    return app
