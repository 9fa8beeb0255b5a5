"""A store pulled from a stand-in org, and the web app over it: what the Renew tests that go through a real pull
share (issue 13). The contracts, quotes, contacts and reps are the org's own (pulled with a preset's mapping),
so a change made in the org as a rep would (a re-priced quote, a renewal won) reaches the store only through
the pull, exactly as in production; the emails whose links are clicked are made in the store (as the sender
would have sent them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from simple_salesforce import Salesforce
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings, load_settings
from email_actions.mail.links import LINKS, Links, Purpose
from email_actions.web.app import create_app
from sync_service.outbox.writeback import live_quote
from sync_service.pull.service import pull_all
from sync_service.renewability import active_rules, refusal
from sync_service.store import mapping_versions, models
from sync_service.store.db import Database
from sync_service.store.models import utcnow
from tests.conftest import TEST_SECRET_KEY
from tests.factories import make_email, make_sent_reminder_email
from tests.standin_org import RunningOrg, start_seeded_copy, stop_org

COUNTED = {
    "renewals": models.Renewal,
    "outbox_items": models.OutboxItem,
    "renewal_intents": models.RenewalIntent,
}


class OrgScene:
    """The store at `database_url` (migrated) pulled from `org` through `preset`, and the app over it."""

    def __init__(self, org: RunningOrg, database_url: str, redis_url: str, preset: str = "salesforce_cpq"):
        self.org = org
        self.preset = preset
        self.settings: Settings = load_settings(
            {
                "RENEWALS_SECRET_KEYS": TEST_SECRET_KEY,
                "RENEWALS_DATABASE_URL": database_url,
                "RENEWALS_REDIS_URL": redis_url,
                "RENEWALS_PUBLIC_BASE_URL": "http://renewals.test",
                **org.salesforce_env(),
            }
        )
        self.db = Database(database_url)
        self.sessions = self.db.sessionmaker
        with self.db.session_scope() as session:
            version = mapping_versions.import_preset(session, preset, author="test")
            mapping_versions.activate(session, version.name, version.version, [])
        self.sf: Salesforce = org.salesforce()
        self._app: Flask | None = None

    @property
    def app(self) -> Flask:
        if self._app is None:
            self._app = create_app(self.settings)
            self._app.config["TESTING"] = True
        return self._app

    def close(self) -> None:
        if self._app is not None:
            self._app.extensions["renewals.database"].dispose()
        self.db.dispose()

    def pull(self, *, full: bool = False) -> None:
        [result] = pull_all(self.db, self.settings, full=full)
        assert getattr(result, "status", None) == "succeeded", result

    def contract_where(self, test: Callable[[Session, models.Contract], bool]) -> int:
        """The first pulled contract a customer can be emailed about (contact with an address, active rep, a
        live quote) that `test` accepts."""
        with self.sessions() as session:
            for contract in session.scalars(
                select(models.Contract)
                .where(models.Contract.is_cancelled.is_(False), models.Contract.is_deleted.is_(False))
                .order_by(models.Contract.id)
            ):
                if (
                    contract.contact is not None
                    and contract.contact.email
                    and contract.rep is not None
                    and contract.rep.is_active
                    and contract.rep.email
                    and live_quote(session, contract) is not None
                    and test(session, contract)
                ):
                    return contract.id
        raise AssertionError(f"the seeded {self.preset} org has no such contract")

    def renewable_contract(self, sf_ids: set[str] | None = None) -> int:
        """A pulled contract whose quote the preset's rules let the customer renew now (one of `sf_ids` if given)."""
        today = utcnow().date()
        return self.contract_where(
            lambda session, c: (
                (sf_ids is None or c.sf_id in sf_ids)
                and refusal(c, live_quote(session, c), active_rules(session), today=today) is None
            )
        )

    def quote(self, contract_id: int) -> models.RenewalQuote:
        with self.sessions() as session:
            quote = live_quote(session, session.get_one(models.Contract, contract_id))
            assert quote is not None
            return quote

    def contract(self, contract_id: int) -> models.Contract:
        with self.sessions() as session:
            return session.get_one(models.Contract, contract_id)

    def emails(self, contract_id: int) -> tuple[int, int]:
        """The customer's reminder (sent two hours ago) and the rep's copy of it, as the sender made them."""
        with self.db.session_scope() as session:
            contract = session.get_one(models.Contract, contract_id)
            sent = utcnow() - timedelta(hours=2)
            reminder = make_sent_reminder_email(session, contract, due_on=utcnow().date(), sent_at=sent)
            rep_copy = make_email(session, contract, kind="rep_notice", sent_at=sent)
            return reminder.id, rep_copy.id

    def path(self, purpose: Purpose, message_id: int) -> str:
        with self.sessions() as session:
            message = session.get_one(models.EmailMessage, message_id)
            return f"{LINKS[purpose].path}{Links(self.settings).token(purpose, message.id, message.nonce)}"

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def counts(self) -> dict[str, int]:
        with self.sessions() as session:
            return {
                name: int(session.scalar(select(func.count()).select_from(model)) or 0)
                for name, model in COUNTED.items()
            }

    def org_record(self, sobject: str, sf_id: str) -> dict[str, Any]:
        return dict(getattr(self.sf, sobject).get(sf_id))

    def change_in_org(self, sobject: str, sf_id: str, values: dict[str, Any]) -> None:
        """What a rep does in Salesforce: edit the record."""
        self.sf.restful(f"sobjects/{sobject}/{sf_id}", method="PATCH", json=values)


@contextmanager
def cpq_scene(tmp_path: Path, store: sessionmaker[Session], redis_url: str) -> Iterator[OrgScene]:
    """A seeded CPQ org of the test's own (the test changes it), fully pulled into `store`'s database."""
    org = start_seeded_copy(tmp_path / "org", "--seed-contracts", "30", "--flavour", "salesforce_cpq")
    running = OrgScene(org, store.kw["bind"].url.render_as_string(hide_password=False), redis_url)
    try:
        running.pull(full=True)
        yield running
    finally:
        running.close()
        stop_org(org)
