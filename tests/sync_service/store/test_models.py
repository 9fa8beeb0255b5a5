"""Store models round-trip exactly on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from sync_service.store.db import SQLITE_CACHE_KIB, make_engine
from sync_service.store.models import (
    Account,
    ApiUsage,
    Contact,
    Contract,
    MappingVersion,
    QuoteDocument,
    QuoteLine,
    RenewalQuote,
    Rep,
    SyncRun,
)


def sf_id(prefix: str, n: int) -> str:
    return f"{prefix}{n:015d}"


def make_contract(session: Session, n: int = 1, amount: Decimal | None = Decimal("1200.00")) -> Contract:
    account = Account(sf_id=sf_id("001", n), name=f"Customer {n}", currency="EUR")
    reseller = Account(sf_id=sf_id("001", 1000 + n), name=f"Reseller {n}", is_reseller=True)
    contact = Contact(sf_id=sf_id("003", n), account=account, email=f"buyer{n}@example.com", locale="de_DE")
    rep = Rep(sf_id=sf_id("005", n), name="Rita Rep", email="rita@vendor.example", reseller_account=reseller)
    contract = Contract(
        sf_id=sf_id("800", n),
        number=f"C-{n:05d}",
        account=account,
        contact=contact,
        rep=rep,
        reseller_account=reseller,
        start_date=date(2025, 1, 1),
        end_date=date(2025, 12, 31),
        status="Activated",
        amount=amount,
        currency="EUR",
        sf_system_modstamp=datetime(2025, 6, 1, 12, 0, tzinfo=UTC),
    )
    session.add(contract)
    session.flush()
    return contract


def test_a_contract_with_its_quote_round_trips(db_session: Session) -> None:
    contract = make_contract(db_session)
    quote = RenewalQuote(sf_id=sf_id("a0x", 1), contract=contract, number="Q-1", total=Decimal("1234.56"))
    db_session.add(quote)
    quote.lines.append(
        QuoteLine(
            sf_id=sf_id("a0y", 1),
            product="Support",
            product_line="Services",
            quantity=Decimal("2.5"),
            unit_price=Decimal("493.82"),
            net=Decimal("1234.55"),
        )
    )
    quote.documents.append(QuoteDocument(sf_id=sf_id("068", 1), source_object="ContentVersion", title="Q-1.pdf"))
    db_session.commit()
    db_session.expunge_all()

    loaded = db_session.scalars(select(Contract).where(Contract.sf_id == sf_id("800", 1))).one()
    assert loaded.account.name == "Customer 1"
    assert loaded.reseller_account is not None and loaded.reseller_account.is_reseller
    assert loaded.rep is not None and loaded.rep.email == "rita@vendor.example"
    assert loaded.contact is not None and loaded.contact.locale == "de_DE"
    assert loaded.auto_renew is False and loaded.is_held is False and loaded.is_cancelled is False
    [loaded_quote] = loaded.quotes
    assert loaded_quote.lines[0].quantity == Decimal("2.5000")
    assert loaded_quote.documents[0].content_type == "application/pdf"


def test_a_second_row_with_the_same_sf_id_is_refused(db_session: Session) -> None:
    db_session.add(Account(sf_id=sf_id("001", 7), name="First"))
    db_session.commit()
    db_session.add(Account(sf_id=sf_id("001", 7), name="Duplicate"))
    with pytest.raises(IntegrityError):
        db_session.commit()
    db_session.rollback()


def test_foreign_keys_are_enforced(db_session: Session) -> None:
    db_session.add(Contact(sf_id=sf_id("003", 9), account_id=999_999))
    with pytest.raises(IntegrityError):
        db_session.flush()
    db_session.rollback()


@pytest.mark.parametrize(
    "amount", [Decimal("0.01"), Decimal("0.10"), Decimal("9999999999999999.99"), Decimal("-1234567.89")]
)
def test_money_is_exact(db_session: Session, amount: Decimal) -> None:
    contract = make_contract(db_session, amount=amount)
    db_session.commit()
    db_session.expunge_all()
    assert db_session.get(Contract, contract.id).amount == amount  # type: ignore[union-attr]


def test_sums_of_money_are_exact(db_session: Session) -> None:
    for n in range(1, 11):
        make_contract(db_session, n, amount=Decimal("0.10"))
    db_session.commit()
    assert db_session.scalar(select(func.sum(Contract.amount))) == Decimal("1.00")


def test_money_with_too_many_decimals_or_floats_is_refused(db_session: Session) -> None:
    with pytest.raises(StatementError, match="more than 2 decimal places"):
        make_contract(db_session, 1, amount=Decimal("1.005"))
    db_session.rollback()
    with pytest.raises(StatementError, match="expected Decimal"):
        make_contract(db_session, 2, amount=1.1)  # type: ignore[arg-type]
    db_session.rollback()


def test_datetimes_come_back_aware_in_utc(db_session: Session) -> None:
    local = datetime(2025, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    run = SyncRun(mapping_name="salesforce_cpq", kind="incremental", started_at=local, rows={"Contract": 3})
    db_session.add(run)
    db_session.commit()
    db_session.expunge_all()
    loaded = db_session.get(SyncRun, run.id)
    assert loaded is not None
    assert loaded.started_at == local and loaded.started_at.tzinfo == UTC
    assert loaded.rows == {"Contract": 3} and loaded.status == "running"


def test_naive_datetimes_are_refused(db_session: Session) -> None:
    db_session.add(SyncRun(mapping_name="m", kind="full", started_at=datetime(2025, 1, 1)))  # noqa: DTZ001
    with pytest.raises(StatementError):
        db_session.flush()
    db_session.rollback()


def test_mapping_versions_are_unique_per_name(db_session: Session) -> None:
    db_session.add(MappingVersion(name="salesforce_cpq", version=1, yaml="objects: {}", author="admin"))
    db_session.add(MappingVersion(name="conga_cpq", version=1, yaml="objects: {}", author="admin"))
    db_session.commit()
    db_session.add(MappingVersion(name="salesforce_cpq", version=1, yaml="objects: {}", author="admin"))
    with pytest.raises(IntegrityError):
        db_session.commit()
    db_session.rollback()


def test_api_usage_is_one_row_per_day_and_job(db_session: Session) -> None:
    db_session.add(ApiUsage(day=date(2025, 1, 1), job_name="pull", calls=10))
    db_session.commit()
    db_session.add(ApiUsage(day=date(2025, 1, 1), job_name="pull", calls=1))
    with pytest.raises(IntegrityError):
        db_session.commit()
    db_session.rollback()


def test_each_test_starts_from_an_empty_store(db_session: Session) -> None:
    # Runs after tests that committed rows: their work was rolled back.
    assert db_session.scalar(select(func.count()).select_from(Account)) == 0


def test_a_sqlite_connection_keeps_its_pages_in_a_cache_of_the_configured_size(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_CACHE_KIB
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
