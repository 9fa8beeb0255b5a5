"""Console fixtures: users of each role, and test clients signed in as them (through the real sign-in form)."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from email_actions.web.console.auth import create_user

PASSWORD = "correct horse battery staple"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_user(app: Flask, username: str, role: str = "admin", password: str = PASSWORD) -> None:
    with app.extensions["renewals.database"].session_scope() as session:
        create_user(session, username, password, role)


def csrf_of(client: FlaskClient, path: str = "/admin/login") -> str:
    """The CSRF token of the form on the page at `path` (as a browser would post it)."""
    page = client.get(path)
    match = CSRF_FIELD.search(page.get_data(as_text=True))
    assert match, f"no CSRF field on {path} ({page.status_code})"
    return match.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD, **extra: str) -> TestResponse:
    token = csrf_of(client)
    return client.post("/admin/login", data={"csrf_token": token, "username": username, "password": password, **extra})


def post_form(client: FlaskClient, page: str, action: str, data: dict[str, str]) -> TestResponse:
    """POST `data` to `action` with the CSRF token taken from `page` (a console page with a form)."""
    return client.post(action, data={"csrf_token": csrf_of(client, page), **data})


@pytest.fixture
def admin_client(app: Flask) -> FlaskClient:
    add_user(app, "alice", "admin")
    client = app.test_client()
    assert sign_in(client, "alice").status_code == 302
    return client


@pytest.fixture
def viewer_client(app: Flask) -> FlaskClient:
    add_user(app, "victor", "viewer")
    client = app.test_client()
    assert sign_in(client, "victor").status_code == 302
    return client
