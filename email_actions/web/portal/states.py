"""What the portals' contract list shows: each contract's state in colour *and* words, and the rows of the table,
most urgent first.

States: red Expired / Overdue, amber Due soon (live, ending within :data:`DUE_SOON_DAYS`), green Live or
Renewed (saying where: in Salesforce, or online by the customer), black Cancelled; the :data:`LEGEND` says what
each means. Renewed is the contract's mark, whoever set it: the customer here, or the pull when Salesforce
says the contract is renewed (then no Renew is offered: :attr:`Row.renewable`). Pure functions of the loaded
contracts and the day: nothing here queries or writes the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from email_actions.mail.rendering.formatting import Formatter
from mappings.model import Mapping
from sync_service.renewability import Refusal, refusal
from sync_service.store import models
from sync_service.store.models import utcnow

DUE_SOON_DAYS = 60


@dataclass(frozen=True)
class State:
    """A contract's state as the portal shows it: a colour, and always words beside it."""

    key: str  # expired, overdue, due_soon, live, renewed, cancelled
    colour: str  # red, amber, green, black
    label: str
    detail: str
    rank: int  # sort order: most urgent first


LEGEND: tuple[tuple[str, str, str], ...] = (
    ("red", "Expired / Overdue", "The end date has passed and the contract has not been renewed."),
    ("amber", "Due soon", f"Live, ending within {DUE_SOON_DAYS} days."),
    ("green", "Live / Renewed", f"Live with more than {DUE_SOON_DAYS} days to go, or already renewed."),
    ("black", "Cancelled", "The contract was cancelled."),
)


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def state_of(contract: models.Contract, today: date, fmt: Formatter) -> State:
    """The state of `contract` on `today` (cancelled, then renewed, then by the end date)."""
    if contract.is_cancelled:
        return State("cancelled", "black", "Cancelled", "No renewal is due.", 4)
    if contract.renewed_at is not None:
        return State("renewed", "green", "Renewed", _renewed_detail(contract, fmt), 3)
    if contract.end_date is None:
        return State("live", "green", "Live", "No end date.", 2)
    days = (contract.end_date - today).days
    if days < 0:
        ended = f"Ended {_days(-days)} ago."
        if "expired" in (contract.status or "").lower():
            return State("expired", "red", "Expired", ended, 0)
        return State("overdue", "red", "Overdue", f"{ended} Renewal not received.", 0)
    ends = "Ends today." if days == 0 else f"Ends in {_days(days)}."
    if days <= DUE_SOON_DAYS:
        return State("due_soon", "amber", "Due soon", ends, 1)
    return State("live", "green", "Live", ends, 2)


def _renewed_detail(contract: models.Contract, fmt: Formatter) -> str:
    """When and where the contract was renewed: in Salesforce (a rep closed the renewal there; the pull saw
    it), or online by the customer (from the email or this portal)."""
    assert contract.renewed_at is not None
    on = fmt.date(contract.renewed_at.date())
    if contract.renewed_via == "salesforce":
        return f"Renewed in Salesforce on {on}"
    if contract.renewed_via in ("email", "portal"):
        return f"Renewed online on {on}"
    return f"Renewed on {on}"


@dataclass(frozen=True)
class Row:
    """One contract as a line of the portal's table."""

    contract: models.Contract
    quote: models.RenewalQuote | None
    state: State
    days_to_end: int | None
    number: str
    products: str
    amount: str
    end_date: str
    # Why the quote may not be renewed here now (sync_service.renewability), None when it may.
    refusal: Refusal | None = None

    @property
    def has_document(self) -> bool:
        return self.quote is not None and bool(self.quote.primary_document_sf_id or self.quote.documents)

    @property
    def renewable(self) -> bool:
        live = self.state.key in ("expired", "overdue", "due_soon", "live")
        return live and self.quote is not None and self.quote.total is not None and self.refusal is None

    @property
    def document_title(self) -> str:
        if self.quote is not None and self.quote.documents:
            return min(self.quote.documents, key=lambda document: document.id or 0).title
        return f"Quote {self.quote.number}" if self.quote is not None and self.quote.number else "Quote"


def live_quote(contract: models.Contract) -> models.RenewalQuote | None:
    """The newest quote not deleted in the org (as ``writeback.live_quote``, over the loaded quotes)."""
    live = [quote for quote in contract.quotes if not quote.is_deleted]
    return max(live, key=lambda quote: quote.id) if live else None


def _products(quote: models.RenewalQuote | None) -> str:
    if quote is None or not quote.lines:
        return "—"
    names = [line.product for line in sorted(quote.lines, key=lambda line: line.id or 0)]
    if len(names) <= 2:
        return ", ".join(names)
    return f"{names[0]}, {names[1]} and {len(names) - 2} more"


def make_rows(
    contracts: Iterable[models.Contract], today: date, fmt: Formatter, mapping: Mapping | None = None
) -> list[Row]:
    """The contracts as table rows, most urgent first (red, amber, green, renewed, cancelled; then by days to
    the end date, then number). `mapping`'s renewal rules say which may be renewed here."""
    rows = []
    for contract in contracts:
        quote = live_quote(contract)
        rows.append(
            Row(
                contract=contract,
                quote=quote,
                state=state_of(contract, today, fmt),
                days_to_end=(contract.end_date - today).days if contract.end_date is not None else None,
                number=contract.number or contract.sf_id,
                products=_products(quote),
                amount=fmt.money(contract.amount, contract.currency or contract.account.currency) or "—",
                end_date=fmt.date(contract.end_date, "medium") or "—",
                refusal=refusal(contract, quote, mapping, today=today),
            )
        )
    far = 10**6
    rows.sort(key=lambda row: (row.state.rank, far if row.days_to_end is None else row.days_to_end, row.number))
    return rows


def today() -> date:
    """The day the states are computed for (UTC, as the store's times)."""
    return utcnow().date()
