"""The org's people and catalogue for the seeder: users (with their profiles), reps, partners, accounts,
contacts, products.

`Directory` writes these records and keeps the few lookup tables contracts need (reps by territory, resellers
by currency, products and price book entries); accounts and contacts themselves are not kept.
"""

from __future__ import annotations

import random
from datetime import date

from sync_service.devorg.profiles import (
    PARTNER_COMMUNITY_USER,
    RENEWALS_ADMIN,
    STANDARD_USER,
    SYSTEM_ADMINISTRATOR,
    add_permission_set,
    stamp_creator,
    standard_profiles,
)
from sync_service.devorg.seed_data import (
    COMPANY_STEMS,
    COMPANY_TAILS,
    COMPANY_WORDS,
    COUNTRIES,
    DISTRIBUTOR_WORDS,
    INDUSTRIES,
    PARTNER_TITLES,
    PRODUCTS,
    RATES,
    REP_TITLES,
    RESELLER_WORDS,
    STREETS,
    Country,
)
from sync_service.devorg.seed_model import AccountCtx, Person, ProductCtx, SeedContext, money, slug
from sync_service.devorg.store import OrgStore


class Directory:
    """Writes the org's users, partners, accounts and catalogue; remembers who can own or resell a contract."""

    def __init__(self, store: OrgStore, rng: random.Random, today: date, org: str, api_user: str):
        self.store = store
        self.rng = rng
        self.today = today
        self.domain = api_user.split("@", 1)[1] if "@" in api_user else f"{slug(org) or 'org'}.example.com"
        self.api_username = api_user
        self.org_name = org
        # Usernames are unique org-wide and account names should read as distinct companies.
        self.usernames: set[str] = set()
        self.account_names: set[str] = set()
        self.account_seq = 0
        self.reps_by_country: dict[str, list[Person]] = {}
        self.reps_by_currency: dict[str, list[Person]] = {}
        self.all_reps: list[Person] = []
        self.resellers_by_currency: dict[str, list[AccountCtx]] = {}
        self.all_resellers: list[AccountCtx] = []
        self.products: list[ProductCtx] = []
        self.api_id: str | None = None  # None until the integration user exists
        self.profiles: dict[str, str] = {}  # profile name -> id
        self.country_weights = [c.weight for c in COUNTRIES]

    def build(self, contracts: int) -> SeedContext:
        """The org record, its users, catalogue and partners, sized for `contracts`; the context for contracts."""
        self.profiles = standard_profiles(self.store)
        api = self._user(
            self.api_username,
            "Integration",
            "User",
            "Integration User",
            COUNTRIES[0],
            email=self._api_email(),
            profile=SYSTEM_ADMINISTRATOR,
        )
        self.api_id = api.id
        # The first user has nobody to be created by: it records itself, as an org's first admin does.
        self.store.update("User", api.id, {"CreatedById": api.id, "LastModifiedById": api.id}, api.id, system=True)
        stamp_creator(self.store, api.id)
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
        admin = self._unique_username("admin", "", self.domain)
        alex = self._user(admin, "Alex", "Admin", "System Administrator", COUNTRIES[0], profile=SYSTEM_ADMINISTRATOR)
        add_permission_set(self.store, *RENEWALS_ADMIN, assignees=[alex.id])
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
        self.products, pricebook_id, entries = self._catalogue(api.id)
        for index in range(max(3, round(contracts / 400))):
            # One partner in four is a distributor, so even the smallest org has both kinds.
            self._reseller("Distributor" if index % 4 == 1 else "Reseller")
        return SeedContext(
            store=self.store,
            rng=self.rng,
            today=self.today,
            org_name=self.org_name,
            api_user_id=api.id,
            pricebook_id=pricebook_id,
            entries=entries,
        )

    def _api_email(self) -> str:
        return self.api_username if "@" in self.api_username else f"integration@{self.domain}"

    def _rep_country(self) -> Country:
        based = [c for c in COUNTRIES if c.user_locale is not None]
        return self.rng.choices(based, weights=[c.weight for c in based])[0]

    def name(self, country: Country) -> tuple[str, str]:
        return self.rng.choice(country.first_names), self.rng.choice(country.last_names)

    def _unique_username(self, first: str, last: str, domain: str) -> str:
        base = f"{slug(first)}.{slug(last)}".strip(".") or "user"
        candidate, n = f"{base}@{domain}", 1
        while candidate in self.usernames:
            n += 1
            candidate = f"{base}{n}@{domain}"
        return candidate

    def _internal_user(self, title: str, country: Country, manager_id: str | None) -> Person:
        first, last = self.name(country)
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
        profile: str | None = None,
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
            # Partner users have the partner profile; the in-house team the standard one.
            "ProfileId": self.profiles[profile or (PARTNER_COMMUNITY_USER if contact_id else STANDARD_USER)],
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

    def account(self, country: Country, kind: str, owner: Person) -> AccountCtx:
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

    def contact(self, account: AccountCtx, title: str, used: set[str]) -> Person:
        country = account.country
        first, last = self.name(country)
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

    def _reseller(self, kind: str) -> None:
        """A partner account whose own reps are contacts there with partner-community (PowerPartner) users."""
        country = self.rng.choices(COUNTRIES, weights=self.country_weights)[0]
        account = self.account(country, kind, self.rep_for(country))
        used: set[str] = set()
        for _ in range(self.rng.randint(1, 3)):
            title = self.rng.choice(PARTNER_TITLES)
            contact = self.contact(account, title, used)
            first, last = contact.name.split(" ", 1)
            partner = self._user(contact.email, first, last, title, country, email=contact.email, contact_id=contact.id)
            account.contacts.append(contact)
            account.partner_users.append(partner)
        self.resellers_by_currency.setdefault(country.currency, []).append(account)
        self.all_resellers.append(account)

    def rep_for(self, country: Country) -> Person:
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
