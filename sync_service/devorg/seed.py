"""Deterministic, realistic seed data for the stand-in org: people, partners, catalogue and contracts.

`seed_org` fills an empty `OrgStore` through the same validating `insert`/`update` calls the REST API uses,
so seeded records are exactly what an API client could have created (and the org's derived fields, roll-ups
and Files plumbing run as they would in Salesforce). The same (contracts, flavour, seed, today) always gives
the same records: every random draw comes from one `random.Random(seed)` and dates are relative to `today`.

Contracts are written account by account in transactions of about `BATCH_CONTRACTS`, so each commit is a
bounded SQLite write and nothing but a few lookup tables is held between batches. Users, partners and the
catalogue come from `seed_people.py`, the renewal object graph of each flavour (Salesforce CPQ, Conga,
standard objects) from `seed_flavours.py`, and the fixed reference data from `seed_data.py`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sync_service.devorg.automation import add_months
from sync_service.devorg.seed_data import CANCELLATION_REASONS, CONTACT_TITLES, COUNTRIES, RATES, SEAT_COUNTS
from sync_service.devorg.seed_flavours import FLAVOUR_WRITERS
from sync_service.devorg.seed_model import AccountCtx, ContractPlan, LinePlan, SeedContext, money
from sync_service.devorg.seed_people import Directory
from sync_service.devorg.store import OrgStore

FLAVOURS = ("salesforce_cpq", "conga_cpq", "standard")
BATCH_CONTRACTS = 500
# Where contract end dates fall relative to today: (share %, first day offset, last day offset).
END_DATE_BUCKETS = ((20, -365, -1), (45, 0, 90), (35, 91, 730))
TERMS = ((12, 60), (24, 20), (36, 20))  # (months, weight)
CANCELLED_SHARE = 0.05
AUTO_RENEW_SHARE = 0.08
RESOLD_SHARE = 1 / 3


@dataclass(frozen=True)
class SeedSummary:
    """What one `seed_org` call wrote. `counts` holds every object's record count, including the records the
    org created by itself (ContentDocument, ContentDocumentLink)."""

    flavour: str
    contracts: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def seed_org(
    store: OrgStore,
    *,
    contracts: int,
    flavour: str,
    seed: int = 1,
    today: date | None = None,
    org_name: str = "Stand-in Org",
    api_username: str,
    progress: Callable[[int], None] | None = None,
) -> SeedSummary:
    """Fill the empty `store` with an org of `contracts` contracts in the given flavour.

    `api_username` becomes the first User (the integration user, so `store.default_user_id()` is the API
    user); `progress` is called with the number of contracts done after each committed batch.
    """
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r}: expected one of {', '.join(FLAVOURS)}")
    if contracts < 0:
        raise ValueError("contracts must be zero or more")
    if store.count("User") or store.count("Organization"):
        raise ValueError("seed_org needs an empty org: this store already holds users")
    directory = Directory(store, random.Random(seed), today or datetime.now(UTC).date(), org_name, api_username)
    with store.transaction():
        ctx = directory.build(contracts)
    seeder = _ContractWriter(directory, ctx, flavour)
    done = 0
    while done < contracts:
        target = min(contracts, done + BATCH_CONTRACTS)
        with store.transaction():
            # An account's contracts stay in one batch; the batch may overshoot `target` by a few.
            while done < target:
                done += seeder.account_with_contracts(contracts - done)
        if progress is not None:
            progress(done)
    counts = {obj.name: store.count(obj.name) for obj in store.schema if store.count(obj.name)}
    return SeedSummary(flavour=flavour, contracts=contracts, counts=counts)


class _ContractWriter:
    """Plans each contract from the directory's people and products and hands it to the flavour's writer."""

    def __init__(self, directory: Directory, ctx: SeedContext, flavour: str):
        self.directory = directory
        self.ctx = ctx
        self.rng = ctx.rng
        self.today = ctx.today
        self.writer = FLAVOUR_WRITERS[flavour]
        self.renewable = [p for p in directory.products if p.renewable]
        self.platforms = [p for p in directory.products if p.code.startswith("SW-PLAT")]

    def account_with_contracts(self, remaining: int) -> int:
        """One customer account with its contacts and up to five contracts; returns the contracts written."""
        people = self.directory
        country = self.rng.choices(COUNTRIES, weights=people.country_weights)[0]
        account = people.account(country, "Customer", people.rep_for(country))
        used: set[str] = set()
        for _ in range(self.rng.choices((1, 2, 3), weights=(40, 40, 20))[0]):
            account.contacts.append(people.contact(account, self.rng.choice(CONTACT_TITLES), used))
        count = min(remaining, self.rng.randint(1, 5))
        for _ in range(count):
            self.writer(self.ctx, self._plan(account))
        return count

    def _plan(self, account: AccountCtx) -> ContractPlan:
        rng = self.rng
        _, first_day, last_day = rng.choices(END_DATE_BUCKETS, weights=[b[0] for b in END_DATE_BUCKETS])[0]
        wanted_end = self.today + timedelta(days=rng.randint(first_day, last_day))
        term = rng.choices([t for t, _ in TERMS], weights=[w for _, w in TERMS])[0]
        start = add_months(wanted_end + timedelta(days=1), -term)
        # The same formula as the org's Contract.EndDate, so every flavour agrees with a Contract's EndDate.
        end = add_months(start, term) - timedelta(days=1)
        currency = account.country.currency
        reseller = None
        if rng.random() < RESOLD_SHARE:
            reseller = rng.choice(self.directory.resellers_by_currency.get(currency) or self.directory.all_resellers)
        partner_discount = rng.choice((0.10, 0.15, 0.20)) if reseller else 0.0
        count = rng.choices((1, 2, 3, 4, 5), weights=(25, 30, 25, 12, 8))[0]
        # Every contract carries a platform subscription; the add-ons are distinct renewable products.
        chosen = [rng.choice(self.platforms)]
        chosen += rng.sample([p for p in self.renewable if p not in chosen], count - 1)
        lines = []
        for product in chosen:
            list_price = money(product.spec.annual_usd * RATES[currency] * term / 12, currency)
            discount = rng.choice((0, 0, 5, 10, 15, 20, 25))
            customer_price = money(list_price * (100 - discount) / 100, currency)
            quantity = rng.choice(SEAT_COUNTS) if product.spec.per_seat else rng.choice((1, 1, 1, 2))
            net = money(customer_price * (1 - partner_discount), currency)
            lines.append(LinePlan(product, float(quantity), list_price, customer_price, net, float(discount)))
        cancelled = rng.random() < CANCELLED_SHARE
        signed = start - timedelta(days=rng.randint(3, 30))
        # Renewals far out have mostly not been worked yet; those due soon or overdue are mid-negotiation.
        far = end > self.today + timedelta(days=120)
        status = rng.choices(("Draft", "Presented", "Approved"), weights=(85, 10, 5) if far else (30, 45, 25))[0]
        return ContractPlan(
            account=account,
            # Mostly the account's first (main) contact, as orgs usually sign with one person.
            contact=account.contacts[0] if rng.random() < 0.7 else rng.choice(account.contacts),
            rep=account.owner,
            reseller=reseller,
            currency=currency,
            start=start,
            term=term,
            end=end,
            signed=signed,
            lines=lines,
            uplift=rng.choice((3.0, 5.0, 5.0, 7.0)),
            auto_renew=rng.random() < AUTO_RENEW_SHARE,
            cancelled=cancelled,
            cancel_reason=rng.choice(CANCELLATION_REASONS) if cancelled else None,
            quote_status=status,
            notice=rng.choice(("30", "60", "90")),
        )


__all__ = ["BATCH_CONTRACTS", "FLAVOURS", "SeedSummary", "seed_org"]
