"""A small hand-built store for the report tests, with every figure it should produce worked out by hand.

Today is 2026-06-15 and the period is the first half of 2026. Contracts (amounts in their currency):

=====  =========  ==========  ========  =========================================================  ========
name   account    end         amount    what happened                                              brand
=====  =========  ==========  ========  =========================================================  ========
A      Acme       2026-02-10  USD 1000  reminder delivered, human open + renew click, renewed      northwind
B      Acme       2026-02-20  USD 2000  reminder sent, machine open + machine click only           northwind
C      Globex     2026-03-05  EUR 500   reminder sent, human open                                  northwind
D      Globex     2026-03-31  USD 3000  cancelled, never emailed                                   —
E      Initech    2026-07-15  USD 4000  renewed (outside the period)                               —
F      Acme       2026-02-01  USD 9999  deleted in Salesforce                                      —
G      Acme       2026-06-25  USD 1500  reminder sent, human quote download; reseller Partner Co   partner
H      Initech    2026-06-20  USD 900   reminder sent, no events, a contact request                northwind
I      Initech    2026-07-01  USD 5000  reminder sent, machine open only                           northwind
J      Initech    2026-06-30  USD 800   reminder sent, human open, renewed                         northwind
K      Globex     2026-07-10  EUR 700   reminder sent, human click on unsubscribe                  northwind
L      Acme       2026-05-05  USD 100   reminder only queued; the rep's notice opened by the rep   —
=====  =========  ==========  ========  =========================================================  ========

Reps: Riley (A, B, C, D, E, F, L), Sam (G, H, I, J, K). Product lines (live quote): every contract has a
"Platform" line of 80 % of its amount and a "Services" line of 20 %, except A whose newer quote was deleted
(its live quote is the older one, lines Platform 1000 only) and J whose older quote is superseded by a newer
one (Services 800 only).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync_service.reports import SENT_STATUSES, Period
from sync_service.store import models
from tests.factories import make_email, make_email_event, sf_id

TODAY = date(2026, 6, 15)
PERIOD = Period(date(2026, 1, 1), date(2026, 6, 30))
_ids = itertools.count(1)


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


@dataclass
class Store:
    contracts: dict[str, models.Contract]
    accounts: dict[str, models.Account]
    reps: dict[str, models.Rep]


class Builder:
    def __init__(self, session: Session) -> None:
        self.session = session

    def account(self, name: str, *, reseller: bool = False) -> models.Account:
        account = models.Account(sf_id=sf_id("001"), name=name, is_reseller=reseller)
        self.session.add(account)
        return account

    def rep(self, name: str) -> models.Rep:
        rep = models.Rep(sf_id=sf_id("005"), name=name, email=f"{name.lower()}@vendor.example")
        self.session.add(rep)
        return rep

    def contract(
        self,
        account: models.Account,
        rep: models.Rep,
        end: str,
        amount: str | None,
        currency: str,
        *,
        lines: list[tuple[str, str]] | None = None,
        **fields: object,
    ) -> models.Contract:
        contact = models.Contact(
            sf_id=sf_id("003"), account=account, email=f"buyer{next(_ids)}@customer.example", first_name="Dana"
        )
        contract = models.Contract(
            sf_id=sf_id("800"),
            number=f"C-{next(_ids):05d}",
            account=account,
            contact=contact,
            rep=rep,
            end_date=date.fromisoformat(end),
            status="Activated",
            amount=Decimal(amount) if amount is not None else None,
            currency=currency,
            **fields,
        )
        self.session.add(contract)
        if amount is not None:
            total = Decimal(amount)
            self.quote(
                contract,
                lines or [("Platform", str(total * Decimal("0.8"))), ("Services", str(total * Decimal("0.2")))],
            )
        return contract

    def quote(
        self, contract: models.Contract, lines: list[tuple[str, str]], *, deleted: bool = False
    ) -> models.RenewalQuote:
        quote = models.RenewalQuote(
            sf_id=sf_id("a0Q"),
            contract=contract,
            number=f"Q-{next(_ids)}",
            currency=contract.currency,
            is_deleted=deleted,
        )
        for product_line, net in lines:
            quote.lines.append(
                models.QuoteLine(
                    sf_id=sf_id("a0R"),
                    product=f"{product_line} product",
                    product_line=product_line,
                    quantity=Decimal(1),
                    unit_price=Decimal(net).quantize(Decimal("0.01")),
                    net=Decimal(net).quantize(Decimal("0.01")),
                )
            )
        self.session.add(quote)
        self.session.flush()
        return quote

    def email(
        self,
        contract: models.Contract,
        *,
        status: str = "sent",
        kind: str = "reminder",
        brand: str = "northwind",
        sent: str = "2026-01-10",
    ) -> models.EmailMessage:
        return make_email(
            self.session,
            contract,
            kind=kind,
            status=status,
            brand=brand,
            sent_at=at(sent) if status not in ("queued", "skipped") else None,
        )

    def event(
        self, message: models.EmailMessage, kind: str, label: str, *, purpose: str = "open", day: str = "2026-01-11"
    ) -> None:
        make_email_event(self.session, message, kind=kind, label=label, purpose=purpose, occurred_at=at(day))

    def renewal(self, contract: models.Contract, amount: str, currency: str, day: str = "2026-01-20") -> None:
        contract.renewed_at, contract.renewed_via = at(day), "email"
        self.session.add(
            models.Renewal(
                contract=contract, amount=Decimal(amount), currency=currency, source="email", renewed_at=at(day)
            )
        )

    def renewed_in_salesforce(self, contract: models.Contract, day: str = "2026-06-12") -> None:
        """What the pull leaves on a contract a rep renewed in Salesforce: its mark, and no renewals row."""
        contract.renewed_at, contract.renewed_via, contract.renewed_in_org = at(day), "salesforce", True


def build(session: Session) -> Store:
    b = Builder(session)
    acme, globex, initech = b.account("Acme"), b.account("Globex"), b.account("Initech")
    partner = b.account("Partner Co", reseller=True)
    riley, sam = b.rep("Riley"), b.rep("Sam")
    c: dict[str, models.Contract] = {}
    c["A"] = b.contract(acme, riley, "2026-02-10", "1000.00", "USD", lines=[("Platform", "1000.00")])
    b.quote(c["A"], [("Services", "1000.00")], deleted=True)
    c["B"] = b.contract(acme, riley, "2026-02-20", "2000.00", "USD")
    c["C"] = b.contract(globex, riley, "2026-03-05", "500.00", "EUR")
    c["D"] = b.contract(globex, riley, "2026-03-31", "3000.00", "USD", is_cancelled=True)
    c["E"] = b.contract(initech, riley, "2026-07-15", "4000.00", "USD")
    c["F"] = b.contract(acme, riley, "2026-02-01", "9999.00", "USD", is_deleted=True)
    c["G"] = b.contract(acme, sam, "2026-06-25", "1500.00", "USD", reseller_account=partner)
    c["H"] = b.contract(initech, sam, "2026-06-20", "900.00", "USD")
    c["I"] = b.contract(initech, sam, "2026-07-01", "5000.00", "USD")
    c["J"] = b.contract(initech, sam, "2026-06-30", "800.00", "USD", lines=[("Platform", "800.00")])
    b.quote(c["J"], [("Services", "800.00")])
    c["K"] = b.contract(globex, sam, "2026-07-10", "700.00", "EUR")
    c["L"] = b.contract(acme, riley, "2026-05-05", "100.00", "USD")

    a = b.email(c["A"], status="delivered")
    b.event(a, "open", "human")
    b.event(a, "click", "human", purpose="renew")
    b.renewal(c["A"], "1000.00", "USD")
    bm = b.email(c["B"])
    b.event(bm, "open", "machine")
    b.event(bm, "click", "machine", purpose="renew")
    b.event(b.email(c["C"]), "open", "human")
    b.renewal(c["E"], "4000.00", "USD")
    b.event(b.email(c["G"], brand="partner"), "download", "human", purpose="quote")
    h = b.email(c["H"])
    session.add(
        models.ContactRequest(
            contract_id=c["H"].id, email_message_id=h.id, form_nonce="form-h", created_at=at("2026-06-01")
        )
    )
    b.event(b.email(c["I"]), "open", "machine")
    b.event(b.email(c["J"]), "open", "human")
    b.renewal(c["J"], "800.00", "USD", "2026-06-10")
    b.event(b.email(c["K"]), "click", "human", purpose="unsubscribe")
    b.email(c["L"], status="queued")
    b.event(b.email(c["L"], kind="rep_notice"), "open", "human")
    session.flush()
    return Store(
        c, {"Acme": acme, "Globex": globex, "Initech": initech, "Partner Co": partner}, {"Riley": riley, "Sam": sam}
    )


def csv_figures(rows: list[dict[str, str]], key: str) -> dict[str, tuple[int, int, int, Decimal, Decimal]]:
    """A report CSV's figures by its `key` column, in the shape of :meth:`Reference.figures`."""
    return {
        row[key]: (
            int(row["due"]),
            int(row["renewed"]),
            int(row["renewed_in_salesforce"]),
            Decimal(row["due_amount"]),
            Decimal(row["renewed_amount"]),
        )
        for row in rows
    }


class Reference:
    """The report figures computed the slow way, in Python over every row of the store, from the definitions
    on the pages: what the SQL and the CSV exports are checked against. Renewed is the contract's mark, whoever
    set it; one renewed in Salesforce has no renewals row and counts its own amount."""

    def __init__(self, session: Session) -> None:
        self.contracts = list(session.scalars(select(models.Contract).order_by(models.Contract.id)))
        self.renewals = {r.contract_id: r for r in session.scalars(select(models.Renewal))}
        self.reminders: dict[int, list[models.EmailMessage]] = defaultdict(list)
        for message in session.scalars(select(models.EmailMessage).where(models.EmailMessage.kind == "reminder")):
            self.reminders[message.contract_id].append(message)
        self.events: dict[int, list[models.EmailEvent]] = defaultdict(list)
        for item in session.scalars(select(models.EmailEvent)):
            self.events[item.email_message_id].append(item)
        self.requests: dict[int, list[models.ContactRequest]] = defaultdict(list)
        for request in session.scalars(select(models.ContactRequest)):
            self.requests[request.contract_id].append(request)
        self.names = {a.id: a.name for a in session.scalars(select(models.Account))}
        self.reps = {r.id: r.name for r in session.scalars(select(models.Rep))}

    def due(self, period: Period, currency: str | None = None) -> list[models.Contract]:
        return [
            c
            for c in self.contracts
            if not c.is_deleted
            and c.end_date is not None
            and period.start <= c.end_date <= period.end
            and (currency is None or (c.currency or "XXX") == currency)
        ]

    def sent(self, contract: models.Contract) -> list[models.EmailMessage]:
        return [m for m in self.reminders[contract.id] if m.status in SENT_STATUSES]

    def human(self, contract: models.Contract, kinds: tuple[str, ...] = ("open", "click", "download")) -> list[Any]:
        return [
            e for m in self.reminders[contract.id] for e in self.events[m.id] if e.label == "human" and e.kind in kinds
        ]

    def funnel(self, period: Period) -> dict[str, int]:
        due = self.due(period)
        return {
            "Due": len(due),
            "Emailed": sum(1 for c in due if self.sent(c)),
            "Opened by a human": sum(1 for c in due if self.human(c)),
            "Clicked": sum(
                1 for c in due if any(e.purpose != "unsubscribe" for e in self.human(c, ("click", "download")))
            ),
            "Renewed": sum(1 for c in due if self.renewed(c)),
            "Renewed from the email": sum(1 for c in due if self.renewed(c) and not self.in_salesforce(c)),
            "Renewed in Salesforce": sum(1 for c in due if self.in_salesforce(c)),
        }

    @staticmethod
    def renewed(c: models.Contract) -> bool:
        return c.renewed_at is not None

    @staticmethod
    def in_salesforce(c: models.Contract) -> bool:
        return c.renewed_at is not None and c.renewed_via == "salesforce"

    def renewed_amount(self, c: models.Contract) -> tuple[Decimal, str | None]:
        renewal = self.renewals.get(c.id)
        if renewal is None:
            return c.amount or Decimal(0), c.currency
        return renewal.amount or Decimal(0), renewal.currency or c.currency

    def figures(self, contracts: list[models.Contract], currency: str) -> tuple[int, int, int, Decimal, Decimal]:
        """(due, renewed, of which in Salesforce, due amount, renewed amount) of `contracts`, all in
        `currency`."""
        renewed = [c for c in contracts if self.renewed(c)]
        amounts = [self.renewed_amount(c) for c in renewed]
        return (
            len(contracts),
            len(renewed),
            sum(1 for c in renewed if self.in_salesforce(c)),
            sum((c.amount or Decimal(0) for c in contracts), Decimal("0.00")),
            sum((amount for amount, in_currency in amounts if in_currency == currency), Decimal("0.00")),
        )

    def by_month(self, period: Period, currency: str) -> dict[str, tuple[int, int, int, Decimal, Decimal]]:
        months: dict[str, list[models.Contract]] = {m.strftime("%Y-%m"): [] for m in period.months()}
        for c in self.due(period, currency):
            assert c.end_date is not None
            months[c.end_date.strftime("%Y-%m")].append(c)
        return {month: self.figures(contracts, currency) for month, contracts in months.items()}

    def by_group(
        self, period: Period, currency: str, key: Callable[[models.Contract], str]
    ) -> dict[str, tuple[int, int, int, Decimal, Decimal]]:
        groups: dict[str, list[models.Contract]] = defaultdict(list)
        for c in self.due(period, currency):
            groups[key(c)].append(c)
        return {name: self.figures(contracts, currency) for name, contracts in groups.items()}

    def rep(self, c: models.Contract) -> str:
        return self.reps[c.rep_id] if c.rep_id is not None else "(no rep)"

    def reseller(self, c: models.Contract) -> str:
        return self.names[c.reseller_account_id] if c.reseller_account_id is not None else "(direct)"

    def customer(self, c: models.Contract) -> str:
        return self.names[c.account_id]

    def brand(self, c: models.Contract) -> str:
        sent = self.sent(c)
        return (max(sent, key=lambda m: m.id).brand or "(not emailed)") if sent else "(not emailed)"

    def cancelled_by_month(self, period: Period, currency: str) -> dict[str, tuple[int, int, Decimal]]:
        """(due, cancelled, cancelled amount) by month of the end date."""
        months: dict[str, list[models.Contract]] = {m.strftime("%Y-%m"): [] for m in period.months()}
        for c in self.due(period, currency):
            assert c.end_date is not None
            months[c.end_date.strftime("%Y-%m")].append(c)
        return {
            month: (
                len(contracts),
                sum(1 for c in contracts if c.is_cancelled),
                sum((c.amount or Decimal(0) for c in contracts if c.is_cancelled), Decimal("0.00")),
            )
            for month, contracts in months.items()
        }

    def cancelled(self, period: Period, currency: str) -> list[str | None]:
        rows = [c for c in self.due(period, currency) if c.is_cancelled]
        return [c.number for c in sorted(rows, key=lambda c: (-(c.end_date or date.min).toordinal(), c.id))]

    def at_risk(self, today: date, days: int, currency: str | None = None) -> list[str | None]:
        """Contract numbers, in the list's order (by currency, then largest amount first)."""
        rows = [
            c
            for c in self.contracts
            if (currency is None or c.currency == currency)
            and not c.is_deleted
            and not c.is_cancelled
            and not self.renewed(c)
            and c.end_date is not None
            and 0 <= (c.end_date - today).days <= days
            and (self.human(c) or self.requests[c.id])
        ]
        rows.sort(key=lambda c: (c.currency or "XXX", c.amount is None, -(c.amount or 0), c.end_date, c.id))
        return [c.number for c in rows]

    def health(self, today: date) -> dict[str, int]:
        since = datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(days=365)
        accounts: dict[int, list[int]] = {}
        for c in self.contracts:
            if c.is_deleted or c.end_date is None:
                continue
            age = (today - c.end_date).days
            if not -365 <= age <= 730:
                continue
            ended = 0 < age <= 730
            recent = [m for m in self.sent(c) if m.sent_at is not None and m.sent_at >= since]
            emailed = bool(recent)
            engaged = emailed and (
                any(e.label == "human" for m in recent for e in self.events[m.id])
                or any(r.created_at >= since for r in self.requests[c.id])
            )
            overdue = 0 < age <= 365 and not c.is_cancelled and not self.renewed(c)
            sums = accounts.setdefault(c.account_id, [0, 0, 0, 0, 0])
            for index, flag in enumerate((ended, ended and self.renewed(c), emailed, engaged, overdue)):
                sums[index] += int(flag)
        scores = {}
        for account_id, (ended_n, renewed_n, emailed_n, engaged_n, overdue_n) in accounts.items():
            renewal = 60 * renewed_n // ended_n if ended_n else 30
            engagement = 40 * engaged_n // emailed_n if emailed_n else 20
            scores[self.names[account_id]] = max(0, renewal + engagement - min(30, 10 * overdue_n))
        return scores
