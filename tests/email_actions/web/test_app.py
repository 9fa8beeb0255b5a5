"""The app factory, the front page, the health check and the error pages."""

from __future__ import annotations

import dataclasses

from flask import Flask
from flask.testing import FlaskClient

from config.settings import Settings
from email_actions.web.app import create_app


def test_the_app_carries_its_settings_and_signing_key(app: Flask, settings: Settings) -> None:
    assert app.extensions["renewals.settings"] is settings
    assert app.config["SECRET_KEY"] == settings.signing_key.reveal()


def test_create_app_connects_to_nothing(settings: Settings) -> None:
    unreachable = dataclasses.replace(
        settings, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none", redis_url="redis://127.0.0.1:1/0"
    )
    assert create_app(unreachable).name == "email_actions.web.app"


def test_the_front_page_says_what_the_service_is(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert b"renewal" in response.data.lower()
    assert b"<script" not in response.data and b"http" not in response.data


def test_healthz_reports_the_database(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "database": "ok",
        "outbox_oldest_pending_seconds": None,
        "stale_mappings": [],
    }


def test_healthz_is_503_when_the_database_is_unreachable(settings: Settings) -> None:
    unreachable = dataclasses.replace(settings, database_url="postgresql+psycopg://nobody:pw@127.0.0.1:1/none")
    response = create_app(unreachable).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "unreachable"}
    assert b"127.0.0.1" not in response.data


def test_404_is_a_friendly_page(client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"Page not found" in response.data


def test_500_never_shows_the_exception(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals: /srv/app/models.py line 42")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert b"Something went wrong" in response.data
    assert b"secret internals" not in response.data and b"Traceback" not in response.data
