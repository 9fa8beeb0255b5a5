"""Fixtures of the portal tests: the app on each backend, and the quote download's stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Response
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from email_actions.web.portal import views
from sync_service.store import models
from tests.email_actions.web.portal.portal_site import Portal, start_portal
from tests.standin_org import RunningOrg


@pytest.fixture
def site(settings: Settings, store: sessionmaker[Session], cpq_org: RunningOrg) -> Iterator[Portal]:
    """The app over a freshly migrated store on each backend, reading quotes live from the CPQ stand-in org."""
    url = store.kw["bind"].url.render_as_string(hide_password=False)
    running = start_portal(settings, url, cpq_org)
    yield running
    running.app.extensions["renewals.database"].dispose()


@pytest.fixture
def served_quotes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Stands in for the evidence module's fetch-and-cache of a quote PDF: records (quote id, brand key)."""
    served: list[tuple[int, str]] = []

    def respond(db: Session, quote: models.RenewalQuote, *, brand: Any = None) -> Response:
        served.append((quote.id, brand.key if brand is not None else ""))
        response = Response(b"%PDF-1.4 test", mimetype="application/pdf")
        response.headers["Content-Disposition"] = f'attachment; filename="{quote.number}.pdf"'
        return response

    monkeypatch.setattr(views, "quote_pdf_response", respond)
    return served
