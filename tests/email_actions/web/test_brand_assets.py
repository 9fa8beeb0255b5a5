"""The brands' logos, served by the app at /brand/<key>/logo.png."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from flask.testing import FlaskClient

from config.settings import DEFAULT_BRANDS_FILE, Settings
from email_actions.web.app import create_app


def test_a_brands_logo_is_served_as_a_cacheable_png(client: FlaskClient) -> None:
    response = client.get("/brand/northwind/logo.png")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.data == (DEFAULT_BRANDS_FILE.parent / "brands" / "northwind.png").read_bytes()
    assert response.cache_control.public and response.cache_control.max_age == 86400
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    again = client.get("/brand/northwind/logo.png", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_every_brand_has_its_own_logo(client: FlaskClient) -> None:
    northwind = client.get("/brand/northwind/logo.png").data
    partner = client.get("/brand/partner/logo.png").data
    assert partner.startswith(b"\x89PNG") and partner != northwind


def test_an_unknown_brand_is_404(client: FlaskClient) -> None:
    assert client.get("/brand/nobody/logo.png").status_code == 404
    assert client.get("/brand/../brands.yaml/logo.png").status_code == 404


def test_a_brand_that_cannot_be_used_is_404(settings: Settings, tmp_path: Path) -> None:
    shutil.copytree(DEFAULT_BRANDS_FILE.parent / "brands", tmp_path / "brands")
    text = DEFAULT_BRANDS_FILE.read_text().replace('primary: "#2d5f3f"', 'primary: "#dddddd"')
    (tmp_path / "brands.yaml").write_text(text)
    app = create_app(dataclasses.replace(settings, brands_file=tmp_path / "brands.yaml"))
    client = app.test_client()
    assert client.get("/brand/partner/logo.png").status_code == 404
    assert client.get("/brand/northwind/logo.png").status_code == 200
    app.extensions["renewals.database"].dispose()
