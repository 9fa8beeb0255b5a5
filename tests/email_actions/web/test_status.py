"""`/healthz` carries the age of the oldest write still owed to Salesforce: null with none pending, the age in
seconds otherwise, and a stale outbox is information (200), not an unhealthy app."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from sync_service.store import models
from sync_service.store.models import utcnow


def _add(app: Flask, key: str, status: str, age: timedelta) -> None:
    with app.extensions["renewals.database"].session_scope() as session:
        session.add(models.OutboxItem(key=key, kind="task", sobject="Task", status=status, created_at=utcnow() - age))


def test_healthz_says_null_when_no_write_is_pending(app: Flask, client: FlaskClient) -> None:
    """Bad input: only a done write, recorded long ago."""
    _add(app, "done", "done", timedelta(days=5))
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "database": "ok",
        "outbox_oldest_pending_seconds": None,
        "stale_mappings": [],
    }


def test_healthz_shows_the_oldest_pending_writes_age_and_stays_200(app: Flask, client: FlaskClient) -> None:
    """Bad input: a write owed to Salesforce for two days (an outage), beside a fresh one and a dead letter."""
    _add(app, "owed", "pending", timedelta(days=2))
    _add(app, "fresh", "pending", timedelta(seconds=5))
    _add(app, "dead", "dead", timedelta(days=9))
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json
    assert body is not None and body["status"] == "ok"
    assert 2 * 86400 <= body["outbox_oldest_pending_seconds"] <= 2 * 86400 + 60
