"""Helpers for the email rendering tests: test links, email message rows, and reading links back out of a
rendered email."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html.parser import HTMLParser
from typing import Any

from sqlalchemy.orm import Session

from config.settings import Settings, load_settings
from email_actions.mail.brands import BrandBook, brand_for_contract
from email_actions.mail.links import LINKS, Links, Purpose
from email_actions.mail.rendering.context import EmailContext, build_context
from sync_service.store import models
from tests.conftest import TEST_SECRET_KEY
from tests.factories import make_contract, make_email

BASE_URL = "https://renewals.test"
END_DATE = date(2026, 3, 31)
TEXT_URL = re.compile(r"https?://[^\s<>]+")


def link_settings(base_url: str = BASE_URL, **env: str) -> Settings:
    return load_settings({"RENEWALS_SECRET_KEYS": TEST_SECRET_KEY, "RENEWALS_PUBLIC_BASE_URL": base_url, **env})


def make_message(
    session: Session,
    *,
    kind: str = "reminder",
    stage: int = -30,
    reseller: str | None = None,
    data: dict[str, Any] | None = None,
    **contract_fields: Any,
) -> models.EmailMessage:
    """A flushed, queued email message of `kind` for a new contract ending on END_DATE (unless given)."""
    contract_fields.setdefault("end_date", END_DATE)
    contract = make_contract(session, reseller=reseller, **contract_fields)
    return make_email(
        session,
        contract,
        kind=kind,
        status="queued",
        stage=stage if kind == "reminder" else None,
        key=f"{kind}:test:{contract.id}",
        data=data or {},
    )


def context_for(
    session: Session, message: models.EmailMessage, *, book: BrandBook, links: Links, stage: int = -30
) -> EmailContext:
    """The message's context as of the day `stage` days from its contract's end date."""
    contract = message.contract
    brand = brand_for_contract(book, contract, use_reseller_brand=True)
    assert contract.end_date is not None
    return build_context(session, message, brand=brand, links=links, today=contract.end_date + timedelta(days=stage))


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []
        self.images: list[dict[str, str | None]] = []
        self.tables: list[dict[str, str | None]] = []
        self.html_attributes: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "a":
            self.anchors.append(attributes)
        elif tag == "img":
            self.images.append(attributes)
        elif tag == "table":
            self.tables.append(attributes)
        elif tag == "html":
            self.html_attributes = attributes


def parse_html(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector


def html_links(html: str) -> list[str]:
    return [str(a["href"]) for a in parse_html(html).anchors if a.get("href")]


def text_links(text: str) -> list[str]:
    return TEXT_URL.findall(text)


def split_link(url: str, base_url: str = BASE_URL) -> tuple[Purpose, str]:
    """The purpose and token of one of the service's signed links (by its path)."""
    assert url.startswith(base_url + "/"), url
    path = url[len(base_url) :]
    for purpose, kind in LINKS.items():
        if path.startswith(kind.path):
            token = path[len(kind.path) :]
            return purpose, token.removesuffix(".gif") if purpose == "open" else token  # type: ignore[return-value]
    raise AssertionError(f"not a signed link: {url}")
