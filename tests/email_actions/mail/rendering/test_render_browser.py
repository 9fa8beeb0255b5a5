"""The rendered HTML in a real browser (Debian's Chromium via Playwright): every stage of the reminder and
every other kind, under both brands, with the logo served by the app itself. Screenshots are saved to
``test-artifacts/emails/`` for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import Browser, Request

from config.settings import DEFAULT_BRANDS_FILE
from email_actions.mail.brands import load_brands
from email_actions.mail.links import Links
from email_actions.mail.rendering.context import LINK_PURPOSES, EmailContext, EmailLine
from email_actions.mail.rendering.render import Renderer
from email_actions.web.app import create_app
from sync_service.store.models import new_nonce
from tests.email_actions.emails_helpers import link_settings
from tests.paths import ARTIFACTS as ARTIFACTS_ROOT
from tests.processes import LateApp, serve_wsgi

ARTIFACTS = ARTIFACTS_ROOT / "emails"
CASES = [("reminder", stage) for stage in (-30, 0, 7)] + [
    ("rep_notice", -30),
    ("confirmation", 0),
    ("contact_request", 0),
]
END_DATE = date(2026, 3, 31)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The web app on a free local port in a thread; yields its base URL (the emails' public base URL)."""
    database = tmp_path_factory.mktemp("browser") / "renewals.db"
    web = LateApp()  # served first: the app's settings name its URL
    with serve_wsgi(web) as base_url:
        web.app = create_app(link_settings(base_url, RENEWALS_DATABASE_URL=f"sqlite:///{database}"))
        try:
            yield base_url
        finally:
            web.app.extensions["renewals.database"].dispose()


@pytest.fixture(scope="module")
def browser(chromium: Browser) -> Browser:
    return chromium


def _context(kind: str, stage: int, brand_key: str, base_url: str) -> EmailContext:
    links = Links(link_settings(base_url))
    brand = load_brands(DEFAULT_BRANDS_FILE).brands[brand_key]
    lines = (
        EmailLine("Analytics Platform - Enterprise", "Platform", Decimal(10), Decimal("1000.00"), Decimal("10000.00")),
        EmailLine("Premium Support", "Services", Decimal(1), Decimal("2500.00"), Decimal("2500.00")),
    )
    return EmailContext(
        kind=kind,  # type: ignore[arg-type]
        message_id=7,
        stage=stage if kind == "reminder" else None,
        today=END_DATE + timedelta(days=stage),
        brand=brand,
        locale="de_DE",
        recipient_name="Riley Rep" if kind in ("rep_notice", "contact_request") else "Dana",
        contact_name="Dana Scully",
        contact_email="buyer@customer.example",
        customer_name="Acme Manufacturing GmbH",
        reseller_name="Some Partner" if brand_key == "partner" else None,
        contract_number="00004711",
        end_date=END_DATE,
        auto_renew=False,
        amount=Decimal("12500.00"),
        currency="EUR",
        quote_number="Q-00042",
        quote_total=Decimal("12500.00"),
        quote_currency="EUR",
        quote_valid_until=END_DATE,
        lines=lines,
        rep_name="Riley Rep",
        rep_email="riley.rep@vendor.example",
        links=links.urls(7, new_nonce(), LINK_PURPOSES[kind]),
        public_base_url=base_url,
        data={"message": "Können Sie mich anrufen?", "preferred_time": "vormittags", "channel": "phone"},
    )


@pytest.mark.parametrize("brand_key", ["northwind", "partner"])
@pytest.mark.parametrize(("kind", "stage"), CASES)
def test_chromium_shows_every_email_without_broken_images_or_other_hosts(
    server: str, browser: Browser, kind: str, stage: int, brand_key: str
) -> None:
    html = Renderer().render(_context(kind, stage, brand_key, server)).html
    page = browser.new_page(viewport={"width": 720, "height": 900})
    requested: list[str] = []

    def record(request: Request) -> None:
        requested.append(request.url)

    page.on("request", record)
    try:
        page.set_content(html, wait_until="load")
        images = page.evaluate(
            "() => Array.from(document.images).map(i => ({src: i.src, complete: i.complete, width: i.naturalWidth}))"
        )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{kind}_{stage:+d}_{brand_key}.png"), full_page=True)
        title = page.title()
    finally:
        page.close()

    pictures = [image for image in images if "/o/" not in image["src"]]  # the open pixel is not a picture
    assert pictures and all(image["src"].startswith(server + "/brand/") for image in pictures)
    assert all(image["complete"] and image["width"] > 0 for image in pictures), pictures
    assert requested and all(url.startswith(server + "/") for url in requested), requested
    assert f"{server}/brand/{brand_key}/logo.png" in requested
    assert "00004711" in title
