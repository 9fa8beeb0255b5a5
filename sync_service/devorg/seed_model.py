"""The seeder's working data: the people, products and planned contracts it passes between its parts.

These are plain values held only while a batch is written (apart from the small directory of reps,
resellers and products), so seeding 60,000 contracts keeps a bounded working set.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from sync_service.devorg.seed_data import WHOLE_CURRENCIES, Country, ProductSpec
from sync_service.devorg.store import OrgStore


def slug(text: str) -> str:
    """ASCII, lower-case, dash-separated form of `text` for email addresses and domains."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def money(amount: float, currency: str) -> float:
    """`amount` rounded to the currency's minor unit."""
    return float(round(amount)) if currency in WHOLE_CURRENCIES else round(amount, 2)


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    email: str


@dataclass(frozen=True)
class ProductCtx:
    id: str
    spec: ProductSpec

    @property
    def renewable(self) -> bool:
        return self.spec.renewable

    @property
    def code(self) -> str:
        return self.spec.code


@dataclass
class AccountCtx:
    id: str
    name: str
    kind: str
    country: Country
    domain: str
    owner: Person
    contacts: list[Person]
    partner_users: list[Person] = field(default_factory=list)


@dataclass(frozen=True)
class LinePlan:
    product: ProductCtx
    quantity: float
    list_price: float  # per unit, for the whole term
    customer_price: float  # after the customer discount
    net_price: float  # after the partner discount too
    discount: float  # customer discount, percent


@dataclass(frozen=True)
class ContractPlan:
    account: AccountCtx
    contact: Person
    rep: Person
    reseller: AccountCtx | None
    currency: str
    start: date
    term: int
    end: date
    signed: date
    lines: list[LinePlan]
    uplift: float  # renewal uplift, percent
    auto_renew: bool
    cancelled: bool
    cancel_reason: str | None
    quote_status: str  # Draft / Presented / Approved
    notice: str  # OwnerExpirationNotice days

    @property
    def total_value(self) -> float:
        return round(sum(line.net_price * line.quantity for line in self.lines), 2)


@dataclass(frozen=True)
class SeedContext:
    store: OrgStore
    rng: random.Random
    today: date
    org_name: str
    api_user_id: str
    pricebook_id: str
    entries: dict[tuple[str, str], tuple[str, float]]  # (product id, currency) -> (entry id, unit price)


@dataclass(frozen=True)
class Renewal:
    """The renewal's dates and priced lines, shared by every flavour."""

    start: date
    end: date
    expires: date
    lines: list[LinePlan]

    @property
    def total(self) -> float:
        return round(sum(round(line.net_price * line.quantity, 2) for line in self.lines), 2)
