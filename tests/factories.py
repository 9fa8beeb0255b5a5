"""Store rows for tests that do not need a pulled org: one call makes a contract with its account, contact,
rep, reseller and a renewal quote with lines and a document, as a pull would have written them."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from sync_service.store import models

_ids = itertools.count(1)


def sf_id(prefix: str) -> str:
    """A unique 18-character Salesforce-shaped id with the object's key prefix."""
    return f"{prefix}{next(_ids):012d}AAA"


def make_contract(
    session: Session,
    *,
    end_date: date,
    email: str | None = "buyer@customer.example",
    locale: str | None = "en_US",
    currency: str = "USD",
    amount: Decimal | None = Decimal("12500.00"),
    reseller: str | None = None,
    rep_active: bool = True,
    lines: list[tuple[str, str, Decimal, Decimal]] | None = None,
    number: str | None = None,
    **contract_fields: Any,
) -> models.Contract:
    """A contract as a pull writes it; `lines` are (product, product line, quantity, unit price)."""
    account = models.Account(sf_id=sf_id("001"), name="Acme Manufacturing GmbH", currency=currency)
    contact = models.Contact(
        sf_id=sf_id("003"), account=account, email=email, first_name="Dana", last_name="Scully", locale=locale
    )
    rep = models.Rep(sf_id=sf_id("005"), name="Riley Rep", email="riley.rep@vendor.example", is_active=rep_active)
    reseller_account = None
    if reseller is not None:
        reseller_account = models.Account(sf_id=sf_id("001"), name=reseller, is_reseller=True, currency=currency)
    contract = models.Contract(
        sf_id=sf_id("800"),
        number=number or f"{next(_ids):08d}",
        account=account,
        contact=contact,
        rep=rep,
        reseller_account=reseller_account,
        start_date=date(end_date.year - 1, end_date.month, min(end_date.day, 28)),
        end_date=end_date,
        status="Activated",
        amount=amount,
        currency=currency,
        **contract_fields,
    )
    session.add(contract)
    quote = models.RenewalQuote(
        sf_id=sf_id("a0Q"),
        contract=contract,
        number=f"Q-{next(_ids):05d}",
        status="Presented",
        total=amount,
        currency=currency,
        valid_until=end_date,
    )
    session.add(quote)
    for product, product_line, quantity, unit_price in lines or [
        ("Analytics Platform - Enterprise", "Platform", Decimal(10), Decimal("1000.00")),
        ("Premium Support", "Services", Decimal(1), Decimal("2500.00")),
    ]:
        quote.lines.append(
            models.QuoteLine(
                sf_id=sf_id("a0R"),
                product=product,
                product_line=product_line,
                quantity=quantity,
                unit_price=unit_price,
                net=quantity * unit_price,
            )
        )
    quote.documents.append(
        models.QuoteDocument(
            sf_id=sf_id("068"), source_object="ContentVersion", title=f"{quote.number}.pdf", blob_sf_id=sf_id("068")
        )
    )
    session.flush()
    return contract
