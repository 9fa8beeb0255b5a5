"""``renewals bench render``: emails rendered per second with the cached, CSS-inlined templates, beside a
bare Jinja render of the same templates (no inlining) in the same run.

Contexts are made in memory (no store, no network) and vary the way real mail does: locales, currencies,
stages before, on and after the end date, both brands, one to twelve quote lines, all four kinds. They are
built and their links signed before the clock starts: the figures are rendering only. The first render of
each template and brand inlines its CSS, inside the timed run; ``premailer_runs`` shows how often that
happened. ``uncached_emails_per_second`` is what running premailer for every email would give (measured on
a few hundred emails), for scale.
"""

from __future__ import annotations

import itertools
import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from config.settings import DEFAULT_BRANDS_FILE, load_settings
from email_actions.mail.brands import Brand, load_brands
from email_actions.mail.links import Links
from email_actions.mail.rendering.context import LINK_PURPOSES, EmailContext, EmailLine
from email_actions.mail.rendering.render import Renderer
from sync_service.store.models import new_nonce

LOCALES = ("en_US", "de_DE", "fr_FR", "ja_JP", "en_GB", "es_ES", "it_IT", "nl_NL", "pt_BR", "sv_SE")
CURRENCIES = ("USD", "EUR", "EUR", "JPY", "GBP", "EUR", "EUR", "EUR", "BRL", "SEK")
STAGES = (-90, -60, -30, -7, 0, 7, 30)
# Mostly reminders, as in real traffic; the other kinds in proportion.
KINDS = ("reminder",) * 7 + ("rep_notice", "confirmation", "contact_request")
PRODUCTS = (
    ("Analytics Platform - Enterprise", "Platform"),
    ("Premium Support", "Services"),
    ("Data Connector Pack", "Add-ons"),
    ("Training Credits", "Services"),
    ("Sandbox Environment", "Platform"),
    ("Single Sign-On", "Add-ons"),
)
UNCACHED_SAMPLE = 200
# Not a secret: it signs the links of throwaway benchmark emails.
BENCH_SECRET = "bench-signing-key-0123456789-abcdefghijkl"


def sample_context(index: int, *, brands: list[Brand], links: Links, today: date) -> EmailContext:
    """The ``index``-th benchmark context: a deterministic mix of locale, currency, stage, brand, kind and
    quote lines."""
    kind = KINDS[index % len(KINDS)]
    locale = LOCALES[index % len(LOCALES)]
    currency = CURRENCIES[index % len(LOCALES)]
    stage = STAGES[index % len(STAGES)]
    brand = brands[(index // 3) % len(brands)]
    unit = Decimal(100 + index % 900) * (100 if currency == "JPY" else 1)
    lines = tuple(
        EmailLine(product, product_line, Decimal(1 + (index + n) % 25), unit, unit * (1 + (index + n) % 25))
        for n, (product, product_line) in zip(range(1 + index % 12), itertools.cycle(PRODUCTS), strict=False)
    )
    total = sum((line.net or Decimal(0) for line in lines), Decimal(0))
    end_date = today - timedelta(days=stage)
    message_id = index + 1
    return EmailContext(
        kind=kind,  # type: ignore[arg-type]  # one of KINDS
        message_id=message_id,
        stage=stage if kind == "reminder" else None,
        today=today,
        brand=brand,
        locale=locale,
        recipient_name="Riley Rep" if kind in ("rep_notice", "contact_request") else "Dana",
        contact_name="Dana Scully",
        contact_email=f"buyer{index}@customer.example",
        customer_name=f"Customer {index % 997} GmbH & Co. KG",
        reseller_name="Some Partner Ltd" if index % 3 == 0 else None,
        contract_number=f"{index:08d}",
        end_date=end_date,
        auto_renew=index % 5 == 0,
        amount=total,
        currency=currency,
        quote_number=f"Q-{index:06d}",
        quote_total=total,
        quote_currency=currency,
        quote_valid_until=end_date,
        lines=lines,
        rep_name="Riley Rep",
        rep_email="riley.rep@vendor.example",
        links=links.urls(message_id, new_nonce(), LINK_PURPOSES[kind]),
        public_base_url=links.base_url,
        data={"message": "Please call me about adding seats.", "preferred_time": "mornings", "channel": "phone"}
        if kind == "contact_request"
        else {},
    )


def _timed(renderer: Renderer, contexts: list[EmailContext]) -> tuple[float, int]:
    size = 0
    started = time.perf_counter()
    for context in contexts:
        rendered = renderer.render(context)
        size += len(rendered.html) + len(rendered.text)
    return time.perf_counter() - started, size


def render_figures(emails: int) -> dict[str, Any]:
    """Render ``emails`` emails with the cached renderer and with bare Jinja; the figures as a dict."""
    if emails < 1:
        raise ValueError("render at least one email")
    settings = load_settings(
        {"RENEWALS_SECRET_KEYS": BENCH_SECRET, "RENEWALS_PUBLIC_BASE_URL": "https://renewals.example.com"}
    )
    links = Links(settings)
    book = load_brands(DEFAULT_BRANDS_FILE)
    brands = list(book.brands.values())
    today = date(2025, 6, 1)
    started = time.perf_counter()
    contexts = [sample_context(i, brands=brands, links=links, today=today) for i in range(emails)]
    context_seconds = time.perf_counter() - started

    cached = Renderer()
    seconds, html_bytes = _timed(cached, contexts)
    bare = Renderer(inline=False)
    bare_seconds, _ = _timed(bare, contexts)
    # Fresh renderers with an empty cache each time: CSS inlined for every email, as without the cache.
    sample = contexts[:UNCACHED_SAMPLE]
    uncached_seconds = 0.0
    for context in sample:
        uncached_seconds += _timed(Renderer(), [context])[0]

    rate = emails / seconds
    bare_rate = emails / bare_seconds
    return {
        "emails": emails,
        "seconds": round(seconds, 3),
        "emails_per_second": round(rate, 1),
        "bare_seconds": round(bare_seconds, 3),
        "bare_emails_per_second": round(bare_rate, 1),
        "ratio_vs_bare": round(rate / bare_rate, 3),
        "premailer_runs": cached.premailer_runs,
        "templates_x_brands": len({(c.kind, c.brand.fingerprint) for c in contexts}),
        "uncached_emails_per_second": round(len(sample) / uncached_seconds, 1),
        "average_html_and_text_bytes": html_bytes // emails,
        "context_build_seconds": round(context_seconds, 3),
    }
