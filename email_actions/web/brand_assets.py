"""The brands' logos, served by the web app itself: ``GET /brand/<key>/logo.png``.

Emails show the logo from this URL (under ``RENEWALS_PUBLIC_BASE_URL``), so no image comes from a CDN or
any other host. The file is the one the brands file names (``RENEWALS_BRANDS_FILE``), checked to be a PNG
when the file was loaded; a brand that is unknown or cannot be used is a 404. Logos change rarely and the
URL carries no personal data, so responses may be cached publicly for a day. The brands are the ones in
force: the admin console's (their logos kept in the store) when an admin changed them.
"""

from __future__ import annotations

import io

from flask import Blueprint, Flask, Response, abort, send_file

from config.settings import get_settings
from email_actions.mail import brand_settings
from sync_service.store.db import current_session

MAX_AGE = 86400

bp = Blueprint("brand_assets", __name__)


@bp.get("/brand/<key>/logo.png")
def logo(key: str) -> Response:
    book = brand_settings.brands_for_pages(current_session(), get_settings())
    brand = book.brands.get(key)
    if brand is None:
        abort(404)
    # Read whole (logos are under 200 kB): no file stays open behind the response. The brand's fingerprint
    # covers the logo's bytes, so it is the ETag.
    data = brand.logo_bytes()
    response = send_file(
        io.BytesIO(data), mimetype="image/png", max_age=MAX_AGE, etag=brand.fingerprint, conditional=True
    )
    response.cache_control.public = True
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
