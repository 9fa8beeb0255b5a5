"""Deterministic, realistic seed data for the stand-in org: people, partners, catalogue and contracts.

`seed_org` fills an empty `OrgStore` through the same validating `insert`/`update` calls the REST API uses,
so seeded records are exactly what an API client could have created (and the org's derived fields, roll-ups
and Files plumbing run as they would in Salesforce). The same (contracts, flavour, seed, today) always gives
the same records: every random draw comes from one `random.Random(seed)` and dates are relative to `today`.

Contracts are written account by account in transactions of about `BATCH_CONTRACTS`, so each commit is a
bounded SQLite write and nothing but a few lookup tables is held between batches. The renewal object graph
of each flavour (Salesforce CPQ, Conga, standard objects) is built in `seed_flavours.py`.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from .automation import add_months
from .seed_data import (
    CANCELLATION_REASONS,
    COMPANY_STEMS,
    COMPANY_TAILS,
    COMPANY_WORDS,
    CONTACT_TITLES,
    COUNTRIES,
    DISTRIBUTOR_WORDS,
    INDUSTRIES,
    PARTNER_TITLES,
    PRODUCTS,
    RATES,
    REP_TITLES,
    RESELLER_WORDS,
    SEAT_COUNTS,
    STREETS,
    Country,
)
from .seed_flavours import (
    FLAVOUR_WRITERS,
    AccountCtx,
    ContractPlan,
    LinePlan,
    Person,
    ProductCtx,
    SeedContext,
    money,
)
from .store import OrgStore

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
    seeder = _Seeder(store, random.Random(seed), today or datetime.now(UTC).date(), flavour, org_name, api_username)
    with store.transaction():
        seeder.org_and_people(contracts)
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


def slug(text: str) -> str:
    """ASCII, lower-case, dash-separated form of `text` for email addresses and domains."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


class _Seeder:
    def __init__(self, store: OrgStore, rng: random.Random, today: date, flavour: str, org: str, api_user: str):
        self.store = store
        self.rng = rng
        self.today = today
        self.flavour = flavour
        self.domain = api_user.split("@", 1)[1] if "@" in api_user else f"{slug(org) or 'org'}.example.com"
        self.api_username = api_user
        self.org_name = org
        self.usernames: set[str] = set()
        self.account_names: set[str] = set()
        self.account_seq = 0
        self.reps_by_country: dict[str, list[Person]] = {}
        self.reps_by_currency: dict[str, list[Person]] = {}
        self.all_reps: list[Person] = []
        self.resellers_by_currency: dict[str, list[AccountCtx]] = {}
        self.all_resellers: list[AccountCtx] = []
        self.ctx: SeedContext | None = None
        self.api_id: str | None = None  # None until the integration user exists
        self.country_weights = [c.weight for c in COUNTRIES]

    # ------------------------------------------------------------------ people and catalogue

    def org_and_people(self, contracts: int) -> None:
        api = self._user(
            self.api_username, "Integration", "User", "Integration User", COUNTRIES[0], email=self._api_email()
        )
        self.api_id = api.id
        # The first user has nobody to be created by: it records itself, as an org's first admin does.
        self.store.update("User", api.id, {"CreatedById": api.id, "LastModifiedById": api.id}, api.id, system=True)
        self.store.insert(
            "Organization",
            {
                "Name": self.org_name,
                "IsSandbox": False,
                "OrganizationType": "Enterprise Edition",
                "TimeZoneSidKey": "America/Los_Angeles",
                "DefaultLocaleSidKey": "en_US",
            },
            api.id,
            system=True,
        )
        self._user(f"admin@{self.domain}", "Alex", "Admin", "System Administrator", COUNTRIES[0])
        vp = self._internal_user("VP Worldwide Sales", COUNTRIES[0], None)
        rep_count = max(5, round(contracts / 150))
        managers = [self._internal_user("Regional Sales Director", self._rep_country(), vp.id)]
        managers += [
            self._internal_user("Regional Sales Director", self._rep_country(), vp.id) for _ in range(rep_count // 8)
        ]
        for _ in range(rep_count):
            country = self._rep_country()
            rep = self._internal_user(self.rng.choice(REP_TITLES), country, self.rng.choice(managers).id)
            self.reps_by_country.setdefault(country.name, []).append(rep)
            self.reps_by_currency.setdefault(country.currency, []).append(rep)
            self.all_reps.append(rep)
        products, pricebook_id, entries = self._catalogue(api.id)
        self.ctx = SeedContext(
            store=self.store,
            rng=self.rng,
            today=self.today,
            org_name=self.org_name,
            api_user_id=api.id,
            pricebook_id=pricebook_id,
            entries=entries,
        )
        self.products = products
        self.renewable = [p for p in products if p.renewable]
        self.platforms = [p for p in products if p.code.startswith("SW-PLAT")]
        for _ in range(max(3, round(contracts / 400))):
            self._reseller()

    def _api_email(self) -> str:
        return self.api_username if "@" in self.api_username else f"integration@{self.domain}"

    def _rep_country(self) -> Country:
        based = [c for c in COUNTRIES if c.user_locale is not None]
        return self.rng.choices(based, weights=[c.weight for c in based])[0]

    def _name(self, country: Country) -> tuple[str, str]:
        return self.rng.choice(country.first_names), self.rng.choice(country.last_names)

    def _unique_username(self, first: str, last: str, domain: str) -> str:
        base = f"{slug(first)}.{slug(last)}".strip(".") or "user"
        candidate, n = f"{base}@{domain}", 1
        while candidate in self.usernames:
            n += 1
            candidate = f"{base}{n}@{domain}"
        return candidate

    def _internal_user(self, title: str, country: Country, manager_id: str | None) -> Person:
        first, last = self._name(country)
        return self._user(self._unique_username(first, last, self.domain), first, last, title, country, manager_id)

    def _user(
        self,
        username: str,
        first: str,
        last: str,
        title: str,
        country: Country,
        manager_id: str | None = None,
        *,
        email: str | None = None,
        contact_id: str | None = None,
    ) -> Person:
        self.usernames.add(username)
        alias = (slug(first)[:1] + slug(last).replace("-", ""))[:8] or "user"
        values = {
            "Username": username,
            "FirstName": first,
            "LastName": last,
            "Alias": alias,
            "Email": email or username,
            "Title": title,
            "Phone": self._phone(country),
            "UserType": "PowerPartner" if contact_id else "Standard",
            "ManagerId": manager_id,
            "ContactId": contact_id,
            "LanguageLocaleKey": country.language,
            "LocaleSidKey": country.user_locale or "en_GB",
            "TimeZoneSidKey": self.rng.choice(country.time_zones),
            "DefaultCurrencyIsoCode": country.currency,
            "CurrencyIsoCode": country.currency,
        }
        record = self.store.insert("User", values, self.api_id)
        return Person(record["Id"], f"{first} {last}", values["Email"] or username)

    def _phone(self, country: Country) -> str:
        rng = self.rng
        return f"{country.phone_prefix} {rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"

    def _catalogue(self, api_id: str) -> tuple[list[ProductCtx], str, dict[tuple[str, str], tuple[str, float]]]:
        pricebook = self.store.insert(
            "Pricebook2", {"Name": "Standard Price Book", "IsStandard": True, "IsActive": True}, api_id
        )
        products: list[ProductCtx] = []
        entries: dict[tuple[str, str], tuple[str, float]] = {}
        for spec in PRODUCTS:
            record = self.store.insert(
                "Product2",
                {
                    "Name": spec.name,
                    "ProductCode": spec.code,
                    "Family": spec.family,
                    "IsActive": True,
                    "Description": f"{spec.name} ({'per seat' if spec.per_seat else 'per unit'}"
                    f"{', annual subscription' if spec.renewable else ', one-off'})",
                },
                api_id,
            )
            products.append(ProductCtx(record["Id"], spec))
            # Multi-currency orgs hold one price book entry per product and currency.
            for currency, rate in RATES.items():
                price = money(spec.annual_usd * rate, currency)
                entry = self.store.insert(
                    "PricebookEntry",
                    {
                        "Pricebook2Id": pricebook["Id"],
                        "Product2Id": record["Id"],
                        "UnitPrice": price,
                        "IsActive": True,
                        "CurrencyIsoCode": currency,
                    },
                    api_id,
                )
                entries[(record["Id"], currency)] = (entry["Id"], price)
        return products, pricebook["Id"], entries

    # ------------------------------------------------------------------ accounts

    def _account(self, country: Country, kind: str, owner: Person) -> AccountCtx:
        self.account_seq += 1
        stem = self.rng.choice(COMPANY_STEMS)
        suffix = self.rng.choice(country.legal_suffixes)
        if kind == "Customer":
            words = [stem, self.rng.choice(COMPANY_WORDS), self.rng.choice(COMPANY_TAILS)]
        else:
            words = [stem, self.rng.choice(RESELLER_WORDS if kind == "Reseller" else DISTRIBUTOR_WORDS)]
        city, state, postal = self.rng.choice(country.cities)
        name = " ".join(w for w in [*words, suffix] if w)
        if name in self.account_names:
            name = f"{name} ({city})"
            n = 1
            while name in self.account_names:
                n += 1
                name = f"{' '.join(w for w in [*words, suffix] if w)} ({city} {n})"
        self.account_names.add(name)
        # A unique, recognisable mail domain per account keeps every contact address distinct.
        domain = f"{slug(stem)}-{self.account_seq}.example.com"
        employees = self.rng.choice((25, 80, 250, 600, 1500, 5000, 20000))
        values = {
            "Name": name,
            "Type": kind,
            "Industry": self.rng.choice(INDUSTRIES),
            "BillingStreet": f"{self.rng.randint(1, 400)} {self.rng.choice(STREETS)}",
            "BillingCity": city,
            "BillingState": state,
            "BillingPostalCode": postal,
            "BillingCountry": country.name,
            "ShippingState": state,
            "ShippingCountry": country.name,
            "Phone": self._phone(country),
            "Website": f"https://www.{domain}",
            "NumberOfEmployees": employees,
            "AnnualRevenue": float(round(employees * self.rng.uniform(80_000, 250_000) * RATES[country.currency], -3)),
            "IsPartner": kind != "Customer",
            "OwnerId": owner.id,
            "CurrencyIsoCode": country.currency,
        }
        record = self.store.insert("Account", values, self._api_id())
        return AccountCtx(record["Id"], name, kind, country, domain, owner, [])

    def _contact(self, account: AccountCtx, title: str, used: set[str]) -> Person:
        country = account.country
        first, last = self._name(country)
        local, n = f"{slug(first)}.{slug(last)}", 1
        while local in used:
            n += 1
            local = f"{slug(first)}.{slug(last)}{n}"
        used.add(local)
        email = f"{local}@{account.domain}"
        locales, weights = zip(*country.contact_locales, strict=True)
        record = self.store.insert(
            "Contact",
            {
                "AccountId": account.id,
                "FirstName": first,
                "LastName": last,
                "Email": email,
                "Phone": self._phone(country),
                "Title": title,
                "MailingCountry": country.name,
                "HasOptedOutOfEmail": self.rng.random() < 0.02,
                "Preferred_Locale__c": self.rng.choices(locales, weights=weights)[0],
                "OwnerId": account.owner.id,
                "CurrencyIsoCode": country.currency,
            },
            self._api_id(),
        )
        return Person(record["Id"], f"{first} {last}", email)

    def _reseller(self) -> None:
        country = self.rng.choices(COUNTRIES, weights=self.country_weights)[0]
        kind = "Distributor" if self.rng.random() < 0.25 else "Reseller"
        account = self._account(country, kind, self._rep_for(country))
        used: set[str] = set()
        for _ in range(self.rng.randint(1, 3)):
            contact = self._contact(account, self.rng.choice(PARTNER_TITLES), used)
            first, last = contact.name.split(" ", 1)
            partner = self._user(
                contact.email, first, last, "Partner Sales", country, email=contact.email, contact_id=contact.id
            )
            account.contacts.append(contact)
            account.partner_users.append(partner)
        self.resellers_by_currency.setdefault(country.currency, []).append(account)
        self.all_resellers.append(account)

    def _rep_for(self, country: Country) -> Person:
        pool = (
            self.reps_by_country.get(country.name)
            or self.reps_by_currency.get(country.currency)
            or self.reps_by_currency.get("USD")
            or self.all_reps
        )
        return self.rng.choice(pool)

    def _api_id(self) -> str:
        assert self.api_id is not None
        return self.api_id

    # ------------------------------------------------------------------ contracts

    def account_with_contracts(self, remaining: int) -> int:
        """One customer account with its contacts and up to five contracts; returns the contracts written."""
        assert self.ctx is not None
        country = self.rng.choices(COUNTRIES, weights=self.country_weights)[0]
        account = self._account(country, "Customer", self._rep_for(country))
        used: set[str] = set()
        for _ in range(self.rng.choices((1, 2, 3), weights=(40, 40, 20))[0]):
            account.contacts.append(self._contact(account, self.rng.choice(CONTACT_TITLES), used))
        count = min(remaining, self.rng.randint(1, 5))
        writer = FLAVOUR_WRITERS[self.flavour]
        for _ in range(count):
            writer(self.ctx, self._plan(account))
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
            reseller = rng.choice(self.resellers_by_currency.get(currency) or self.all_resellers)
        partner_discount = rng.choice((0.10, 0.15, 0.20)) if reseller else 0.0
        count = rng.choices((1, 2, 3, 4, 5), weights=(25, 30, 25, 12, 8))[0]
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
        far = end > self.today + timedelta(days=120)
        status = rng.choices(("Draft", "Presented", "Approved"), weights=(85, 10, 5) if far else (30, 45, 25))[0]
        return ContractPlan(
            account=account,
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
