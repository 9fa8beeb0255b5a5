"""The report queries against a small hand-built store (``reports_data``: every figure below is worked out
there by hand), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from sync_service import reports
from sync_service.reports import Period, PeriodError
from sync_service.store import models
from tests.sync_service.reports.data import PERIOD, TODAY, Builder, Store, at, build


@pytest.fixture
def data(db_session: Session) -> Store:
    return build(db_session)


def money(value: str) -> Decimal:
    return Decimal(value)


def test_the_funnel_counts_each_step_and_ignores_machine_events(db_session: Session, data: Store) -> None:
    # Due: A B C D G H J L (E ends after the period, F is deleted). Emailed: not D (never) nor L (only queued).
    # Opened: A C G J (B's events are machine ones; L's open is the rep's, on the rep's notice). Clicked: A's
    # renew click and G's download. Renewed: A J. Cancelled: D.
    funnel = reports.funnel(db_session, PERIOD)
    assert funnel == reports.Funnel(
        due=8, emailed=6, opened=4, clicked=2, renewed=2, cancelled=1, renewed_in_salesforce=0
    )
    assert funnel.renewal_rate == 2 / 8
    assert [step for step, _ in funnel.steps] == ["Due", "Emailed", "Opened by a human", "Clicked", "Renewed"]
    assert funnel.channels == [("Renewed from the email", 2), ("Renewed in Salesforce", 0)]


def test_a_contract_renewed_in_salesforce_counts_as_renewed_in_every_report_with_its_channel(
    db_session: Session, data: Store
) -> None:
    # A rep closed B (Acme, USD 2000, February; only machine events) and H (Initech, USD 900, June; at risk with
    # a contact request) in Salesforce: the pull marked them, with no renewals row.
    b = Builder(db_session)
    b.renewed_in_salesforce(data.contracts["B"])
    b.renewed_in_salesforce(data.contracts["H"])
    db_session.flush()
    funnel = reports.funnel(db_session, PERIOD)
    assert (funnel.renewed, funnel.renewed_from_email, funnel.renewed_in_salesforce) == (4, 2, 2)
    assert funnel.renewal_rate == 4 / 8
    assert funnel.channels == [("Renewed from the email", 2), ("Renewed in Salesforce", 2)]

    usd = {m.month: m for m in reports.revenue_by_month(db_session, PERIOD, "USD")}
    february, june = usd[date(2026, 2, 1)], usd[date(2026, 6, 1)]
    # A from the email (its renewal's 1000) and B in Salesforce (its own amount, 2000: what was due was kept).
    assert (february.due, february.renewed, february.renewed_in_salesforce, february.renewed_from_email) == (2, 2, 1, 1)
    assert (february.due_amount, february.renewed_amount) == (money("3000.00"), money("3000.00"))
    assert (june.renewed, june.renewed_in_salesforce, june.renewed_amount) == (2, 1, money("1700.00"))  # J + H

    by_rep = {
        g.label: (g.due, g.renewed, g.renewed_in_salesforce)
        for g in reports.breakdown(db_session, PERIOD, "USD", "rep")
    }
    assert by_rep == {"Riley": (4, 2, 1), "Sam": (3, 2, 1)}
    lines = {
        g.label: (g.renewed, g.renewed_in_salesforce)
        for g in reports.breakdown(db_session, PERIOD, "USD", "product_line")
    }
    assert lines == {"Platform": (3, 2), "Services": (3, 2)}

    # H is renewed: off the at-risk list (K and G remain).
    c = data.contracts
    assert [row.contract_id for row in reports.at_risk(db_session, TODAY, 30).rows] == [c["K"].id, c["G"].id]

    # Acme: ended A B L, renewed A (email) and B (Salesforce): 60*2//3 = 40; engaged 26; overdue L only: -10.
    acme = next(h for h in reports.account_health(db_session, TODAY).rows if h.account == "Acme")
    assert (acme.ended, acme.renewed, acme.renewed_in_salesforce, acme.overdue, acme.score) == (3, 2, 1, 1, 56)


def test_a_renewal_salesforce_took_back_stops_counting(db_session: Session, data: Store) -> None:
    b = Builder(db_session)
    b.renewed_in_salesforce(data.contracts["B"])
    db_session.flush()
    assert reports.funnel(db_session, PERIOD).renewed_in_salesforce == 1
    # The opportunity reopened: the pull clears the mark it set.
    contract = data.contracts["B"]
    contract.renewed_at, contract.renewed_via, contract.renewed_in_org = None, None, False
    db_session.flush()
    funnel = reports.funnel(db_session, PERIOD)
    assert (funnel.renewed, funnel.renewed_in_salesforce) == (2, 0)


def test_a_machine_click_does_not_count_but_a_human_one_does(db_session: Session, data: Store) -> None:
    [b_reminder] = db_session.scalars(
        select(models.EmailMessage).where(models.EmailMessage.contract_id == data.contracts["B"].id)
    )
    before = reports.funnel(db_session, PERIOD)
    Builder(db_session).event(b_reminder, "click", "human", purpose="review")
    db_session.flush()
    after = reports.funnel(db_session, PERIOD)
    assert (after.opened, after.clicked) == (before.opened + 1, before.clicked + 1)


def test_currencies_come_most_common_first(db_session: Session, data: Store) -> None:
    assert reports.currencies(db_session, PERIOD) == [
        reports.CurrencyCount("USD", 7),
        reports.CurrencyCount("EUR", 1),
    ]


def test_revenue_is_bucketed_by_month_of_the_end_date_and_never_mixes_currencies(
    db_session: Session, data: Store
) -> None:
    usd = reports.revenue_by_month(db_session, PERIOD, "USD")
    assert [(m.month, m.due, m.renewed, m.due_amount, m.renewed_amount) for m in usd] == [
        (date(2026, 1, 1), 0, 0, money("0.00"), money("0.00")),
        (date(2026, 2, 1), 2, 1, money("3000.00"), money("1000.00")),  # A B; A renewed
        (date(2026, 3, 1), 1, 0, money("3000.00"), money("0.00")),  # D (cancelled; C is in EUR)
        (date(2026, 4, 1), 0, 0, money("0.00"), money("0.00")),
        (date(2026, 5, 1), 1, 0, money("100.00"), money("0.00")),  # L
        (date(2026, 6, 1), 3, 1, money("3200.00"), money("800.00")),  # G H J; J renewed
    ]
    eur = reports.revenue_by_month(db_session, PERIOD, "EUR")
    assert [(m.month, m.due, m.due_amount) for m in eur if m.due] == [(date(2026, 3, 1), 1, money("500.00"))]
    assert reports.revenue_by_month(db_session, PERIOD, "GBP")[1].due == 0


def test_a_renewal_in_another_currency_counts_in_its_own(db_session: Session, data: Store) -> None:
    Builder(db_session).renewal(data.contracts["B"], "1800.00", "EUR")
    db_session.flush()
    february = reports.revenue_by_month(db_session, PERIOD, "USD")[1]
    assert (february.due_amount, february.renewed_amount) == (money("3000.00"), money("1000.00"))
    assert reports.revenue_by_month(db_session, PERIOD, "EUR")[1].renewed_amount == money("1800.00")


def test_months_bucket_at_month_boundaries(db_session: Session) -> None:
    b = Builder(db_session)
    account, rep = b.account("Edge"), b.rep("Edgar")
    for end in ("2025-12-31", "2026-01-01", "2026-01-31", "2026-02-01", "2028-02-29"):
        b.contract(account, rep, end, "10.00", "CHF")
    db_session.flush()
    period = Period(date(2025, 12, 1), date(2028, 2, 29))
    months = {m.month: m.due for m in reports.revenue_by_month(db_session, period, "CHF") if m.due}
    assert months == {date(2025, 12, 1): 1, date(2026, 1, 1): 2, date(2026, 2, 1): 1, date(2028, 2, 1): 1}
    assert len(period.months()) == 27


def test_breakdowns_by_each_dimension(db_session: Session, data: Store) -> None:
    def figures(dimension: str) -> list[tuple[str, int, int, Decimal, Decimal]]:
        return [
            (g.label, g.due, g.renewed, g.due_amount, g.renewed_amount)
            for g in reports.breakdown(db_session, PERIOD, "USD", dimension)
        ]

    # A's live quote is its older one (the newer was deleted); J's is its newer one.
    assert figures("product_line") == [
        ("Platform", 6, 1, money("7000.00"), money("1000.00")),
        ("Services", 6, 1, money("2300.00"), money("800.00")),
    ]
    assert figures("rep") == [
        ("Riley", 4, 1, money("6100.00"), money("1000.00")),
        ("Sam", 3, 1, money("3200.00"), money("800.00")),
    ]
    assert figures("reseller") == [
        ("(direct)", 6, 2, money("7800.00"), money("1800.00")),
        ("Partner Co", 1, 0, money("1500.00"), money("0.00")),
    ]
    assert figures("brand") == [
        ("northwind", 4, 2, money("4700.00"), money("1800.00")),
        ("(not emailed)", 2, 0, money("3100.00"), money("0.00")),
        ("partner", 1, 0, money("1500.00"), money("0.00")),
    ]
    assert figures("customer") == [
        ("Acme", 4, 1, money("4600.00"), money("1000.00")),
        ("Globex", 1, 0, money("3000.00"), money("0.00")),
        ("Initech", 2, 1, money("1700.00"), money("800.00")),
    ]
    with pytest.raises(ValueError, match="unknown dimension"):
        reports.breakdown(db_session, PERIOD, "USD", "planet")


def test_rankings_by_revenue_and_by_rate(db_session: Session, data: Store) -> None:
    by_revenue = reports.breakdown(db_session, PERIOD, "USD", "customer", order="revenue", limit=2)
    assert [g.label for g in by_revenue] == ["Acme", "Initech"]
    # By rate: only groups with at least MIN_DUE_FOR_RATE contracts due (Sam 1/3 beats Riley 1/4).
    by_rate = reports.breakdown(db_session, PERIOD, "USD", "rep", order="rate")
    assert [(g.label, g.renewal_rate) for g in by_rate] == [("Sam", 1 / 3), ("Riley", 1 / 4)]
    assert reports.breakdown(db_session, PERIOD, "USD", "customer", order="rate") == [
        g for g in reports.breakdown(db_session, PERIOD, "USD", "customer") if g.due >= reports.MIN_DUE_FOR_RATE
    ]


def test_cancellations_by_month_and_the_list(db_session: Session, data: Store) -> None:
    months = reports.cancellations_by_month(db_session, PERIOD, "USD")
    assert [(m.month, m.due, m.cancelled, m.cancelled_amount) for m in months if m.due] == [
        (date(2026, 2, 1), 2, 0, money("0.00")),
        (date(2026, 3, 1), 1, 1, money("3000.00")),
        (date(2026, 5, 1), 1, 0, money("0.00")),
        (date(2026, 6, 1), 3, 0, money("0.00")),
    ]
    listed = reports.cancelled_contracts(db_session, PERIOD, "USD")
    assert (listed.total, [row.contract_id for row in listed.rows]) == (1, [data.contracts["D"].id])
    assert listed.rows[0].account == "Globex"
    assert reports.cancelled_contracts(db_session, PERIOD, "EUR").total == 0


def test_the_at_risk_list_is_engaged_unrenewed_contracts_due_soon_largest_first(
    db_session: Session, data: Store
) -> None:
    # Window 2026-06-15..07-15: G (human download), H (contact request), K (a human opened it, if only to
    # unsubscribe). Not I (machine open only), J and E (renewed), D (cancelled, and not due soon).
    found = reports.at_risk(db_session, TODAY, 30)
    c = data.contracts
    assert [row.contract_id for row in found.rows] == [c["K"].id, c["G"].id, c["H"].id]  # EUR first, then USD
    assert found.total == 3
    usd = reports.at_risk(db_session, TODAY, 30, currency="USD", limit=1)
    assert ([row.contract_id for row in usd.rows], usd.total) == ([c["G"].id], 2)
    g = usd.rows[0]
    assert (g.account, g.rep, g.rep_email, g.contact, g.downloads, g.opens) == (
        "Acme",
        "Sam",
        "sam@vendor.example",
        "Dana",
        1,
        0,
    )
    assert g.days_left(TODAY) == 10
    h = found.rows[2]
    assert (h.contact_requests, h.last_engaged_at) == (1, at("2026-06-01"))
    # Nine days ahead: only H (06-20); G ends on 06-25, ten days from today (both ends are included).
    assert [row.contract_id for row in reports.at_risk(db_session, TODAY, 9).rows] == [c["H"].id]
    assert len(reports.at_risk(db_session, TODAY, 10).rows) == 2


def test_the_health_score_follows_its_formula(db_session: Session, data: Store) -> None:
    page = reports.account_health(db_session, TODAY)
    scores = {(h.account, h.ended, h.renewed, h.emailed, h.engaged, h.overdue): h.score for h in page.rows}
    assert scores == {
        # ended A B L, renewed A: 60*1//3 = 20; emailed A B G, engaged A G: 40*2//3 = 26; overdue B L: -20.
        ("Acme", 3, 1, 3, 2, 2): 26,
        # ended C D, none renewed: 0; emailed C K, both engaged: 40; overdue C (D is cancelled): -10.
        ("Globex", 2, 0, 2, 2, 1): 30,
        # none ended: 30; emailed H I J, engaged H (contact request) and J: 26; nothing overdue.
        ("Initech", 0, 0, 3, 2, 0): 56,
    }
    assert [h.account for h in page.rows] == ["Acme", "Globex", "Initech"]  # least healthy first
    assert page.total == 3
    assert [(b.low, b.accounts) for b in reports.health_bands(db_session, TODAY)] == [
        (0, 0),
        (20, 2),
        (40, 1),
        (60, 0),
        (80, 0),
    ]


def test_the_health_score_stays_within_0_and_100(db_session: Session) -> None:
    b = Builder(db_session)
    rep = b.rep("Rita")
    gone, great = b.account("Gone Ltd"), b.account("Great plc")
    for end in ("2026-01-10", "2026-02-10", "2026-03-10", "2026-04-10"):
        b.contract(gone, rep, end, "10.00", "USD")  # four overdue, never emailed: 0 + 20 - 30, floored at 0
        renewed = b.contract(great, rep, end, "10.00", "USD")
        b.renewal(renewed, "10.00", "USD")
        b.event(b.email(renewed), "open", "human")
    db_session.flush()
    scores = {h.account: h.score for h in reports.account_health(db_session, TODAY).rows}
    assert scores == {"Gone Ltd": 0, "Great plc": 100}


def test_each_report_is_one_statement_whatever_the_store_holds(
    db_session: Session, db_engine: Engine, data: Store
) -> None:
    def statements() -> list[int]:
        counts = []
        for run in (
            lambda: reports.funnel(db_session, PERIOD),
            lambda: reports.currencies(db_session, PERIOD),
            lambda: reports.revenue_by_month(db_session, PERIOD, "USD"),
            *(lambda d=d: reports.breakdown(db_session, PERIOD, "USD", d) for d in reports.DIMENSIONS),
            lambda: reports.cancellations_by_month(db_session, PERIOD, "USD"),
            lambda: reports.cancelled_contracts(db_session, PERIOD, "USD"),
            lambda: reports.at_risk(db_session, TODAY, 30),
            lambda: reports.account_health(db_session, TODAY),
            lambda: reports.health_bands(db_session, TODAY),
        ):
            seen: list[str] = []

            def count(*args: object, seen: list[str] = seen) -> None:
                seen.append(str(args[2]))

            event.listen(db_engine, "before_cursor_execute", count)
            try:
                run()
            finally:
                event.remove(db_engine, "before_cursor_execute", count)
            counts.append(len(seen))
        return counts

    db_session.flush()
    small = statements()
    b = Builder(db_session)
    rep = b.rep("More")
    for n in range(30):
        contract = b.contract(b.account(f"More {n}"), rep, f"2026-06-{n % 28 + 1:02d}", "10.00", "USD")
        b.event(b.email(contract), "open", "human")
    db_session.flush()
    assert statements() == small == [1] * len(small)


@pytest.mark.parametrize(
    ("start", "end", "errors"),
    [
        ("2026-02-30", "", {"from": "“2026-02-30” is not a date: use YYYY-MM-DD, e.g. 2025-07-01."}),
        ("", "June", {"to": "“June” is not a date: use YYYY-MM-DD, e.g. 2026-06-30."}),
        ("2026-03-01", "2026-02-01", {"to": "The end of the period is before its start."}),
        ("2020-01-01", "2026-01-01", {"to": "A period is at most five years long."}),
    ],
)
def test_a_bad_period_says_which_field_and_why(start: str, end: str, errors: dict[str, str]) -> None:
    with pytest.raises(PeriodError) as raised:
        reports.parse_period(start, end, TODAY)
    assert raised.value.errors == errors


def test_periods() -> None:
    assert reports.default_period(TODAY) == Period(date(2025, 7, 1), date(2026, 6, 30))
    assert reports.default_period(date(2026, 12, 31)) == Period(date(2026, 1, 1), date(2026, 12, 31))
    assert reports.parse_period("", "", TODAY) == reports.default_period(TODAY)
    assert reports.parse_period(" 2026-01-01 ", "2026-01-01", TODAY) == Period(date(2026, 1, 1), date(2026, 1, 1))
    assert Period(date(2025, 11, 15), date(2026, 2, 1)).months() == [
        date(2025, 11, 1),
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]
