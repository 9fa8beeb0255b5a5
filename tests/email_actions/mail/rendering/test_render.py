"""Rendering the emails: every kind at every stage under both brands; links, locale formatting, the text
part, CSS inlined once per template and brand, template problems, and the MIME message."""

from __future__ import annotations

import email
import re
import shutil
from datetime import date, timedelta
from decimal import Decimal
from email import policy
from pathlib import Path

import pytest
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from markupsafe import escape
from sqlalchemy.orm import Session

from config.settings import DEFAULT_BRANDS_FILE
from email_actions.mail.brands import BrandBook, load_brands
from email_actions.mail.links import LINKS, LinkInvalid, Links
from email_actions.mail.rendering.context import EmailContext
from email_actions.mail.rendering.formatting import normalise_locale
from email_actions.mail.rendering.mime import MIME_POLICY, ONE_CLICK, compose, compose_email
from email_actions.mail.rendering.render import TEMPLATES_DIR, RenderedEmail, Renderer, TemplateProblem
from tests.email_actions.emails_helpers import (
    context_for,
    html_links,
    link_settings,
    make_message,
    parse_html,
    split_link,
    text_links,
)

KINDS = ("reminder", "rep_notice", "confirmation", "contact_request")
# Stages around the end date: 30 and 1 days before, the day itself, 7 days after.
STAGES = (-30, -1, 0, 7)
BRANDS = {"northwind": None, "partner": "Some Partner"}  # brand → the contract's reseller
ANCHOR_PURPOSES = {
    "reminder": {"renew", "review", "contact", "quote", "unsubscribe"},
    "rep_notice": {"rep", "quote"},
    "confirmation": {"review", "quote"},
    "contact_request": {"rep"},
}
REMINDER_WORDING = {
    -30: "expires in 30 days",
    -1: "expires in 1 day",
    0: "is due for renewal today",
    7: "expired 7 days ago and is overdue",
}


@pytest.fixture(scope="module")
def links() -> Links:
    return Links(link_settings())


@pytest.fixture(scope="module")
def book() -> BrandBook:
    return load_brands(DEFAULT_BRANDS_FILE)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


@pytest.mark.parametrize("brand_key", BRANDS)
@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_stage_and_brand_renders_with_links_that_verify(
    db_session: Session, links: Links, book: BrandBook, renderer: Renderer, kind: str, stage: int, brand_key: str
) -> None:
    data = {"message": "Call me <b>please</b>", "preferred_time": "mornings", "channel": "phone"}
    message = make_message(db_session, kind=kind, stage=stage, reseller=BRANDS[brand_key], data=data)
    context = context_for(db_session, message, book=book, links=links, stage=stage)
    assert context.brand.key == brand_key
    assert context.days_to_end == -stage
    rendered = renderer.render(context)

    # Every anchor is a signed link of this email, for the purpose its kind calls for.
    anchors = html_links(rendered.html)
    purposes = {split_link(url)[0] for url in anchors}
    assert purposes == ANCHOR_PURPOSES[kind]
    for url in anchors:
        purpose, token = split_link(url)
        claims = links.verify(purpose, token)
        assert (claims.message_id, claims.nonce) == (message.id, message.nonce)
        for other in LINKS:
            if other != purpose:
                with pytest.raises(LinkInvalid):
                    links.verify(other, token)  # type: ignore[arg-type]
    # The plain-text part carries exactly the same links.
    assert sorted(set(text_links(rendered.text))) == sorted(set(anchors))

    # The open pixel: reminders only, a 1x1 image of the open link.
    pixels = [img for img in parse_html(rendered.html).images if "/o/" in str(img["src"])]
    if kind == "reminder":
        assert len(pixels) == 1 and pixels[0]["width"] == "1" and pixels[0]["height"] == "1"
        assert pixels[0]["alt"] == ""
        purpose, token = split_link(str(pixels[0]["src"]))
        assert purpose == "open" and links.verify("open", token).message_id == message.id
        assert "Unsubscribe" in rendered.html
    else:
        assert pixels == []

    # Stage wording, brand, contract and lines.
    if kind in ("reminder", "rep_notice"):
        assert REMINDER_WORDING[stage] in rendered.subject
        assert REMINDER_WORDING[stage] in rendered.text
        assert REMINDER_WORDING[stage] in rendered.html
    assert message.contract.number in rendered.subject
    brand = book.brands[brand_key]
    assert f'src="https://renewals.test/brand/{brand_key}/logo.png"' in rendered.html
    assert f'alt="{brand.name}"' in rendered.html
    assert brand.colours.primary in rendered.html
    for part in (rendered.text, rendered.html):
        assert str(escape(brand.footer)) in part or brand.footer in part
        assert "Analytics Platform - Enterprise" in part and "Premium Support" in part
    if kind == "contact_request":
        assert "Call me &lt;b&gt;please&lt;/b&gt;" in rendered.html  # autoescaped
        assert "Call me <b>please</b>" in rendered.text
        assert "mornings" in rendered.text and "phone" in rendered.html


def test_the_reminder_says_renews_for_an_auto_renewing_contract(
    db_session: Session, links: Links, book: BrandBook, renderer: Renderer
) -> None:
    message = make_message(db_session, stage=-60, auto_renew=True)
    rendered = renderer.render(context_for(db_session, message, book=book, links=links, stage=-60))
    assert "renews in 60 days" in rendered.subject


def test_html_is_accessible_email_markup(
    db_session: Session, links: Links, book: BrandBook, renderer: Renderer
) -> None:
    message = make_message(db_session)
    html = renderer.render(context_for(db_session, message, book=book, links=links)).html
    page = parse_html(html)
    assert page.html_attributes.get("lang") == "en"
    layout_tables = [t for t in page.tables if t.get("class") != "lines"]
    assert layout_tables and all(t.get("role") == "presentation" for t in layout_tables)
    assert all(img.get("alt") is not None for img in page.images)
    assert 'class="preheader"' in html and "display:none" in html
    assert "<script" not in html.lower()
    # Only the service's own host: no CDN, no web fonts, no remote CSS.
    hosts = {url.split("/")[2] for url in html_links(html) + [str(img["src"]) for img in page.images]}
    assert hosts == {"renewals.test"}


def test_buttons_are_inlined_bulletproof_cells(
    db_session: Session, links: Links, book: BrandBook, renderer: Renderer
) -> None:
    message = make_message(db_session)
    context = context_for(db_session, message, book=book, links=links)
    html = renderer.render(context).html
    primary = context.brand.colours.primary
    buttons = [a for a in parse_html(html).anchors if str(a.get("class", "")).startswith("button")]
    assert {split_link(str(a["href"]))[0] for a in buttons} == {"renew", "review", "contact"}
    for button in buttons:
        style = str(button.get("style"))
        assert "display:inline-block" in style and f"border:2px solid {primary}" in style
    assert f'bgcolor="{primary}"' in html  # the cell behind the Renew button, for Outlook
    # The non-inlinable rules (media queries) stay in a style block; the class rules were inlined.
    assert "@media" in html and ".button {" not in html


@pytest.mark.parametrize(
    ("locale", "currency", "amount"),
    [
        ("de_DE", "EUR", Decimal("12500.00")),
        ("fr_FR", "EUR", Decimal("1234567.89")),
        ("en_US", "USD", Decimal("12500.00")),
        ("ja_JP", "JPY", Decimal("1250000")),
    ],
)
def test_amounts_dates_and_quantities_follow_the_contacts_locale(
    db_session: Session,
    links: Links,
    book: BrandBook,
    renderer: Renderer,
    locale: str,
    currency: str,
    amount: Decimal,
) -> None:
    lines = [("Analytics Platform - Enterprise", "Platform", Decimal(1250), Decimal("1234.50"))]
    message = make_message(db_session, locale=locale, currency=currency, amount=amount, lines=lines)
    context = context_for(db_session, message, book=book, links=links)
    assert context.locale == locale
    rendered = renderer.render(context)
    expected = [
        format_currency(amount, currency, locale=locale),
        format_date(message.contract.end_date, format="long", locale=locale),
        format_decimal(Decimal(1250), locale=locale),
        format_currency(Decimal("1234.50"), currency, locale=locale),
        format_currency(Decimal("1234.50") * 1250, currency, locale=locale),
    ]
    for value in expected:
        assert value in rendered.text, value
        assert str(escape(value)) in rendered.html, value


@pytest.mark.parametrize(
    ("stored", "used"),
    [(None, "en_US"), ("", "en_US"), ("xx_QQ", "en_US"), ("de_DE_EURO", "de_DE"), ("en-GB", "en_GB"), ("fr", "fr")],
)
def test_a_missing_or_unknown_locale_falls_back(stored: str | None, used: str) -> None:
    assert normalise_locale(stored) == used


def test_the_messages_own_locale_wins_over_the_contacts(db_session: Session, links: Links, book: BrandBook) -> None:
    message = make_message(db_session, locale="en_US")
    message.locale = "de_DE"
    assert context_for(db_session, message, book=book, links=links).locale == "de_DE"


def test_without_a_quote_document_there_is_no_quote_link(
    db_session: Session, links: Links, book: BrandBook, renderer: Renderer
) -> None:
    message = make_message(db_session)
    for quote in message.contract.quotes:
        quote.documents.clear()
    db_session.flush()
    context = context_for(db_session, message, book=book, links=links)
    assert "quote" not in context.links
    rendered = renderer.render(context)
    assert {split_link(url)[0] for url in html_links(rendered.html)} == {"renew", "review", "contact", "unsubscribe"}
    assert sorted(set(text_links(rendered.text))) == sorted(set(html_links(rendered.html)))


def test_premailer_runs_once_per_template_and_brand(db_session: Session, links: Links, book: BrandBook) -> None:
    renderer = Renderer()
    contexts = []
    for kind in KINDS:
        for reseller in BRANDS.values():
            message = make_message(db_session, kind=kind, reseller=reseller)
            contexts.append(context_for(db_session, message, book=book, links=links))
    for _ in range(10):
        for context in contexts:
            renderer.render(context)
    assert renderer.premailer_runs == len(KINDS) * len(BRANDS)

    # A brand whose colours change (a new fingerprint) gets its templates inlined again, once.
    recoloured_brand = contexts[0].brand.model_copy(
        update={
            "colours": contexts[0].brand.colours.model_copy(update={"primary": "#123456"}),
            "fingerprint": "recoloured",
        }
    )
    recoloured = EmailContext(**{**vars(contexts[0]), "brand": recoloured_brand})
    for _ in range(3):
        assert "#123456" in renderer.render(recoloured).html
    assert renderer.premailer_runs == len(KINDS) * len(BRANDS) + 1


def test_the_bare_renderer_is_the_same_email_without_inlining(
    db_session: Session, links: Links, book: BrandBook
) -> None:
    context = context_for(db_session, make_message(db_session), book=book, links=links)
    inlined, bare = Renderer().render(context), Renderer(inline=False).render(context)
    assert (bare.subject, bare.text) == (inlined.subject, inlined.text)
    assert sorted(html_links(bare.html)) == sorted(html_links(inlined.html))
    assert ".button {" in bare.html and 'style="display:inline-block' not in bare.html


# --- Template problems -------------------------------------------------------------------------------------


@pytest.fixture
def template_copy(tmp_path: Path) -> Path:
    directory = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, directory)
    return directory


@pytest.fixture
def reminder_context(db_session: Session, links: Links, book: BrandBook) -> EmailContext:
    return context_for(db_session, make_message(db_session), book=book, links=links)


def _problem(templates: Path, context: EmailContext) -> TemplateProblem:
    with pytest.raises(TemplateProblem) as caught:
        Renderer(templates).render(context)
    return caught.value


def test_a_syntax_error_names_the_template_and_line(template_copy: Path, reminder_context: EmailContext) -> None:
    path = template_copy / "reminder.html"
    path.write_text(path.read_text().replace("{% endif %}", "", 1))
    problem = _problem(template_copy, reminder_context)
    assert "reminder.html" in str(problem) and "syntax error" in str(problem)
    assert "line" in str(problem)


def test_an_undefined_value_names_the_template_and_the_name(
    template_copy: Path, reminder_context: EmailContext
) -> None:
    path = template_copy / "reminder.txt"
    path.write_text(path.read_text() + "{{ contract_numbr }}\n")
    problem = _problem(template_copy, reminder_context)
    assert problem.template == "reminder.txt"
    assert "contract_numbr" in str(problem) and "undefined" in str(problem)


def test_a_brand_stage_error_names_the_template_and_brand(template_copy: Path, reminder_context: EmailContext) -> None:
    path = template_copy / "layout.html"
    path.write_text(path.read_text().replace("[[ colours.accent ]]", "[[ colours.highlight ]]", 1))
    problem = _problem(template_copy, reminder_context)
    assert problem.template == f"reminder.html (brand {reminder_context.brand.key})"
    assert "highlight" in str(problem)


def test_a_template_tag_lost_by_inlining_is_a_problem_not_a_broken_email(
    template_copy: Path, reminder_context: EmailContext
) -> None:
    path = template_copy / "layout.html"
    path.write_text(path.read_text().replace("<style>", "<style>{% if true %}.x { color: red; }{% endif %}", 1))
    problem = _problem(template_copy, reminder_context)
    assert "did not survive CSS inlining" in str(problem)
    # The problem is remembered: the next emails of that template fail at once, without inlining again.
    renderer = Renderer(template_copy)
    for _ in range(3):
        with pytest.raises(TemplateProblem, match="did not survive CSS inlining"):
            renderer.render(reminder_context)
    assert renderer.premailer_runs == 1


def test_a_missing_template_is_a_problem(template_copy: Path, reminder_context: EmailContext) -> None:
    (template_copy / "reminder.subject.txt").unlink()
    problem = _problem(template_copy, reminder_context)
    assert "reminder.subject.txt" in str(problem) and "missing" in str(problem)


def test_a_broken_template_spoils_only_its_own_kind(
    template_copy: Path, db_session: Session, links: Links, book: BrandBook
) -> None:
    (template_copy / "reminder.html").write_text("[% extends 'layout.html' %][% block content %]{{ [% endblock %]")
    renderer = Renderer(template_copy)
    reminder = context_for(db_session, make_message(db_session), book=book, links=links)
    notice = context_for(db_session, make_message(db_session, kind="rep_notice"), book=book, links=links)
    with pytest.raises(TemplateProblem):
        renderer.render(reminder)
    assert "Renewal reminder sent" in renderer.render(notice).html


# --- MIME ---------------------------------------------------------------------------------------------------


def _parse(raw: bytes) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_a_reminder_is_multipart_alternative_with_one_click_unsubscribe(
    db_session: Session, links: Links, book: BrandBook, renderer: Renderer
) -> None:
    message = make_message(db_session)
    context = context_for(db_session, message, book=book, links=links)
    rendered = renderer.render(context)
    raw = compose_email(rendered, context, to="Dana Scully <buyer@customer.example>")
    parsed = _parse(raw)
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    # SMTP line ends (CRLF) on the wire; the content is the rendered text.
    assert parts[0].get_content().replace("\r\n", "\n") == rendered.text
    assert parts[1].get_content().replace("\r\n", "\n").rstrip("\n") == rendered.html.rstrip("\n")
    assert parsed["List-Unsubscribe"] == f"<{context.links['unsubscribe']}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Reply-To"] == "riley.rep@vendor.example"
    assert parsed["From"] == context.brand.sender
    assert parsed["Subject"] == rendered.subject
    assert parsed["Message-ID"] is None
    # The signed URL stays one unbroken header line, within RFC 5322's 998 characters.
    assert f"List-Unsubscribe: <{context.links['unsubscribe']}>\r\n".encode() in raw
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


@pytest.mark.parametrize("kind", ["rep_notice", "contact_request", "confirmation"])
def test_other_mail_has_no_unsubscribe_headers(
    db_session: Session, links: Links, book: BrandBook, renderer: Renderer, kind: str
) -> None:
    message = make_message(db_session, kind=kind)
    context = context_for(db_session, message, book=book, links=links)
    parsed = _parse(compose_email(renderer.render(context), context, to="riley.rep@vendor.example"))
    assert parsed["List-Unsubscribe"] is None and parsed["List-Unsubscribe-Post"] is None
    expected_reply_to = {
        "rep_notice": None,
        "contact_request": "buyer@customer.example",  # the rep answers the customer directly
        "confirmation": "riley.rep@vendor.example",
    }[kind]
    assert parsed["Reply-To"] == expected_reply_to


def test_non_ascii_names_and_subjects_are_encoded() -> None:
    rendered = RenderedEmail(subject="Verlängerung für Zoë: Vertrag 42", text="Grüße\n", html="<p>Grüße</p>")
    raw = compose(
        rendered,
        sender="Nørdwind Renewals <renewals@northwind.example>",
        to="Zoë Müller <zoe@kunde.example>",
        reply_to="Jürgen Rep <juergen@northwind.example>",
        list_unsubscribe=None,
        headers={"X-Renewals-Kind": "reminder"},
    )
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert headers.isascii()
    parsed = _parse(raw)
    assert parsed["Subject"] == rendered.subject
    assert parsed["To"].addresses[0].display_name == "Zoë Müller"
    assert parsed["From"].addresses[0].display_name == "Nørdwind Renewals"
    assert parsed["Reply-To"].addresses[0].username == "juergen"
    assert parsed["X-Renewals-Kind"] == "reminder"
    assert [p.get_content().replace("\r\n", "\n") for p in parsed.iter_parts()] == ["Grüße\n", "<p>Grüße</p>\n"]


def _compose_with_email_package(
    rendered: RenderedEmail,
    *,
    sender: str,
    to: str,
    reply_to: str | None,
    list_unsubscribe: str | None,
    headers: dict[str, str],
) -> bytes:
    """The same message built the standard library's way, which `compose` must match byte for byte."""
    message = email.message.EmailMessage(policy=MIME_POLICY)
    message["From"] = sender
    message["To"] = to
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = rendered.subject
    message["Date"] = "Mon, 07 Dec 2026 22:08:23 +0000"
    if list_unsubscribe is not None:
        message["List-Unsubscribe"] = f"<{list_unsubscribe}>"
        message["List-Unsubscribe-Post"] = ONE_CLICK
    for name, value in headers.items():
        message[name] = value
    message.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message.as_bytes()


MIME_ADDRESSES = [
    ("Northwind Renewals <renewals@northwind.example>", "buyer@customer.example", "riley.rep@vendor.example"),
    ("Nørdwind Renewals <renewals@northwind.example>", "Zoë Müller <zoe@kunde.example>", "Jürgen <j@n.example>"),
    ("Riley Rep, Inc. <a@b.example>", '"Quoted Name" <q@x.example>', None),
    ("a@b.example", "x.y+z@sub.x.example", "Dana Scully <buyer@customer.example>"),
]
MIME_BODIES = [
    ("Verlängerung für Zoë: Vertrag 42", "Grüße\n", "<p>Grüße</p>"),
    (
        "Your  contract 42 ",
        "one\r\ntwo " + "x" * 1200 + "\n\nend =3D trailing space \n",
        "<a>" + "é" * 600 + "</a>\n\n",
    ),
    ("x" * 1100, "", "\n"),
    ("=?utf-8?q?x?= looks encoded", "--===============1234567890123456789==\n", "a\rb"),
]


@pytest.mark.parametrize("addresses", MIME_ADDRESSES)
@pytest.mark.parametrize("body", MIME_BODIES)
def test_compose_writes_what_the_email_package_writes(
    addresses: tuple[str, str, str | None], body: tuple[str, str, str]
) -> None:
    sender, to, reply_to = addresses
    rendered = RenderedEmail(*body)
    arguments = {
        "sender": sender,
        "to": to,
        "reply_to": reply_to,
        "list_unsubscribe": "https://renewals.example/u/" + "t" * 300 if reply_to else None,
        "headers": {"X-Renewals-Email": "reminder-7", "X-Note": body[0]},
    }
    ours = compose(rendered, **arguments)  # type: ignore[arg-type]
    theirs = _compose_with_email_package(rendered, **arguments)  # type: ignore[arg-type]

    def same_date_and_boundary(raw: bytes) -> bytes:
        raw = re.sub(rb"\r\nDate: [^\r]*\r\n", b"\r\nDate: Mon, 07 Dec 2026 22:08:23 +0000\r\n", raw)
        return re.sub(rb"={15}\d{19}==", b"BOUNDARY", raw)

    assert same_date_and_boundary(ours) == same_date_and_boundary(theirs)


def test_contexts_count_days_from_the_day_they_are_written(db_session: Session, links: Links, book: BrandBook) -> None:
    message = make_message(db_session, end_date=date(2026, 1, 10))
    context = context_for(db_session, message, book=book, links=links, stage=-3)
    assert context.today == date(2026, 1, 7) and context.days_to_end == 3 and context.timing == "before"
    later = EmailContext(**{**vars(context), "today": context.today + timedelta(days=5)})
    assert later.days_to_end == -2 and later.timing == "after"
