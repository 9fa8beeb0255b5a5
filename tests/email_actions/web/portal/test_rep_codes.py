"""Reps sign in before they change anything (issue 14, part 1): a rep link alone opens only the sign-in page; a
partner rep signs in with a one-time code emailed to their address on file (email_actions.web.portal.rep_access,
sync_service.rep_sign_in_codes), and each misuse of a code is refused by name. The code email goes through moto's
SES server, as every email does. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import email
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from email_actions.web.session_cookies import REP_KEY
from sync_service import rep_sign_in_codes as codes
from sync_service.store import mapping_versions, models
from tests.conftest import sent_emails
from tests.email_actions.web.portal.portal_site import CSRF, TODAY, Portal, message_for, start_portal
from tests.factories import make_contract, sf_id
from tests.standin_org import RunningOrg

CODE = re.compile(r"\b(\d{8})\b")


@pytest.fixture
def site(settings: Settings, store: sessionmaker[Session], cpq_org: RunningOrg, ses_endpoint: str) -> Iterator[Portal]:
    url = store.kw["bind"].url.render_as_string(hide_password=False)
    configured = dataclasses.replace(
        settings, ses_endpoint_url=ses_endpoint, ses_max_send_rate=50.0, ses_daily_quota=1000
    )
    running = start_portal(configured, url, cpq_org)
    yield running
    running.app.extensions["renewals.database"].dispose()


@dataclasses.dataclass
class Partners:
    pat_message: int  # a rep notice to Pat, a partner rep at Reseller One
    quinn_message: int  # a rep notice to Quinn, a partner rep at Reseller Two
    contract: int  # Pat's contract (through Reseller One)


def seed(site: Portal) -> Partners:
    with site.sessions.begin() as session:
        contract = make_contract(session, end_date=TODAY + timedelta(days=30), number="VIA-R1")
        reseller = models.Account(sf_id=sf_id("001"), name="Reseller One", is_reseller=True)
        other = models.Account(sf_id=sf_id("001"), name="Reseller Two", is_reseller=True)
        pat = models.Rep(sf_id=sf_id("005"), name="Pat Partner", email="Pat@Reseller-One.example")
        pat.reseller_account = reseller
        quinn = models.Rep(sf_id=sf_id("005"), name="Quinn Partner", email="quinn@reseller-two.example")
        quinn.reseller_account = other
        contract.rep, contract.reseller_account = pat, reseller
        second = make_contract(session, end_date=TODAY + timedelta(days=40), number="VIA-R2")
        second.rep, second.reseller_account = quinn, other
        row = mapping_versions.import_preset(session, "salesforce_cpq", author="test")
        mapping_versions.activate(session, row.name, row.version, [])
        pat_message = message_for(session, contract, kind="rep_notice")
        quinn_message = message_for(session, second, kind="rep_notice")
        session.flush()
        return Partners(pat_message.id, quinn_message.id, contract.id)


def csrf_of(page: Any) -> str:
    match = CSRF.search(page.get_data(as_text=True))
    assert match is not None
    return match.group(1)


def ask_for_code(site: Portal, client: FlaskClient, message_id: int) -> str:
    """Open the rep link in `client`, ask for a code; the code from the email moto's SES accepted."""
    before = len(sent_emails(site.settings.ses_endpoint_url or ""))
    landing = client.get(f"/rep/{site.token('rep', message_id)}")
    assert landing.status_code == 303 and landing.headers["Location"] == "/rep/sign-in"
    page = client.get("/rep/sign-in")
    assert "Email me a sign-in code" in page.get_data(as_text=True)
    asked = client.post("/rep/sign-in/code", data={"csrf_token": csrf_of(page)})
    assert asked.status_code == 303 and asked.headers["Location"] == "/rep/sign-in/code"
    sent = sent_emails(site.settings.ses_endpoint_url or "")
    assert len(sent) == before + 1
    mail = email.message_from_string(sent[-1]["raw_data"], policy=policy.default)
    text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    match = CODE.search(text)
    assert match is not None
    assert "http" not in text  # the code email carries no link
    return match.group(1)


def enter(client: FlaskClient, code: str) -> Any:
    page = client.get("/rep/sign-in/code")
    return client.post("/rep/sign-in/code/verify", data={"csrf_token": csrf_of(page), "code": code})


def recipients(site: Portal) -> list[str]:
    sent = sent_emails(site.settings.ses_endpoint_url or "")
    return [email.message_from_string(item["raw_data"], policy=policy.default)["To"] for item in sent]


def test_a_rep_link_alone_opens_only_the_sign_in_and_changes_nothing(site: Portal) -> None:
    partners = seed(site)
    response = site.open_rep(partners.pat_message, sign_in=False)
    assert response.status_code == 303 and response.headers["Location"] == "/rep/sign-in"
    assert site.client.get("/rep").headers["Location"] == "/rep/sign-in"
    page = site.client.get("/rep/sign-in").get_data(as_text=True)
    assert "VIA-R1" not in page and "Pat Partner" not in page and "p•••@reseller-one.example" in page
    hold = site.client.post(
        f"/rep/contracts/{partners.contract}/hold", data={"csrf_token": csrf_of(site.client.get("/rep/sign-in"))}
    )
    assert hold.status_code == 403
    assert site.client.get(f"/rep/contracts/{partners.contract}/quote").status_code == 303
    assert site.rows(models.AuditEntry) == [] and site.rows(models.OutboxItem) == []
    assert not site.contract(partners.contract).is_held


def test_a_partner_rep_signs_in_with_an_emailed_code_and_changes_a_control(site: Portal) -> None:
    partners = seed(site)
    code = ask_for_code(site, site.client, partners.pat_message)
    assert recipients(site) == ["pat@reseller-one.example"]
    signed_in = enter(site.client, code)
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/rep"
    page = site.client.get("/rep")
    assert page.status_code == 200 and "VIA-R1" in page.get_data(as_text=True)
    held = site.client.post(f"/rep/contracts/{partners.contract}/hold", data={"csrf_token": csrf_of(page)})
    assert held.status_code == 303
    assert site.contract(partners.contract).is_held
    (entry,) = site.rows(models.AuditEntry)
    assert entry.after["by"]["rep_email"] == "Pat@Reseller-One.example"
    assert entry.after["by"]["signed_in_via"] == "code"
    with site.client.session_transaction() as cookie:
        assert cookie[REP_KEY]["signed_in"]["via"] == "code"
    (row,) = site.rows(models.RepSignInCode)
    assert row.used_at is not None and code not in (row.code_hash, row.salt)
    # Signing out ends the rep session: the portal is the sign-in again.
    out = site.client.post("/rep/sign-out", data={"csrf_token": csrf_of(site.client.get("/rep"))})
    assert out.status_code == 200
    assert site.client.get("/rep").headers["Location"] == "/rep/sign-in"


def test_a_used_code_is_refused(site: Portal) -> None:
    partners = seed(site)
    code = ask_for_code(site, site.client, partners.pat_message)
    assert enter(site.client, code).status_code == 303
    # The same browser opens the link again (signed out first) and types the old code: refused.
    site.client.post("/rep/sign-out", data={"csrf_token": csrf_of(site.client.get("/rep"))})
    again = site.app.test_client()
    ask_for_code(site, again, partners.pat_message)
    with again.session_transaction() as cookie:
        value = dict(cookie[REP_KEY])
        used = site.rows(models.RepSignInCode)[0]
        value["code"] = {**value["code"], "id": used.id}  # point at the used code, as a replayed form would
        cookie[REP_KEY] = value
    refused = enter(again, code)
    assert refused.status_code == 400 and "already used" in refused.get_data(as_text=True)


def test_an_expired_code_is_refused(site: Portal) -> None:
    partners = seed(site)
    code = ask_for_code(site, site.client, partners.pat_message)
    with site.sessions.begin() as session:
        session.execute(update(models.RepSignInCode).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    refused = enter(site.client, code)
    assert refused.status_code == 400 and "expired" in refused.get_data(as_text=True)
    assert site.client.get("/rep").headers["Location"] == "/rep/sign-in"


def test_a_code_sent_to_another_address_is_refused(site: Portal) -> None:
    partners = seed(site)
    quinns = site.app.test_client()
    quinn_code = ask_for_code(site, quinns, partners.quinn_message)
    ask_for_code(site, site.client, partners.pat_message)
    refused = enter(site.client, quinn_code)
    assert refused.status_code == 400 and "not the code we sent" in refused.get_data(as_text=True)
    assert site.client.get("/rep").headers["Location"] == "/rep/sign-in"


def test_a_code_typed_in_another_browser_fails_its_pkce_check(site: Portal) -> None:
    partners = seed(site)
    code = ask_for_code(site, site.client, partners.pat_message)
    with site.client.session_transaction() as cookie:
        value = dict(cookie[REP_KEY])
    # Another browser holding the same pending sign-in but its own verifier (it never saw this one).
    other = site.app.test_client()
    other.get(f"/rep/{site.token('rep', partners.pat_message)}")
    with other.session_transaction() as cookie:
        cookie[REP_KEY] = {**value, "code": {**value["code"], "verifier": "x" * 64}}
    refused = enter(other, code)
    assert refused.status_code == 400 and "another browser" in refused.get_data(as_text=True)
    # ...and the code still works where it was asked for (a PKCE failure does not burn it).
    assert enter(site.client, code).status_code == 303


def test_a_code_for_an_address_changed_since_is_refused(site: Portal) -> None:
    partners = seed(site)
    code = ask_for_code(site, site.client, partners.pat_message)
    with site.sessions.begin() as session:
        session.execute(update(models.Rep).where(models.Rep.name == "Pat Partner").values(email="pat@new.example"))
    refused = enter(site.client, code)
    assert refused.status_code == 400 and "address on file has changed" in refused.get_data(as_text=True)


def test_wrong_codes_burn_the_code_and_bad_input_is_named(site: Portal) -> None:
    partners = seed(site)
    code = ask_for_code(site, site.client, partners.pat_message)
    bad = enter(site.client, "12ab")
    assert bad.status_code == 400 and "8-digit code" in bad.get_data(as_text=True)
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for _ in range(codes.MAX_FAILED_ATTEMPTS):
        assert enter(site.client, wrong).status_code == 400
    refused = enter(site.client, code)
    assert refused.status_code == 400 and "Too many wrong codes" in refused.get_data(as_text=True)


def test_codes_to_one_address_are_rate_limited(site: Portal) -> None:
    partners = seed(site)
    for _ in range(codes.MAX_CODES_PER_WINDOW):
        ask_for_code(site, site.app.test_client(), partners.pat_message)
    client = site.app.test_client()
    client.get(f"/rep/{site.token('rep', partners.pat_message)}")
    page = client.get("/rep/sign-in")
    refused = client.post("/rep/sign-in/code", data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 429 and "use the latest one" in refused.get_data(as_text=True)
    assert recipients(site) == ["pat@reseller-one.example"] * codes.MAX_CODES_PER_WINDOW


def test_an_in_house_rep_is_sent_to_salesforce_not_offered_a_code(site: Portal) -> None:
    from config.settings.secret import Secret

    data = seed(site)
    with site.sessions.begin() as session:
        session.execute(update(models.Rep).values(reseller_account_id=None))
    site.app.extensions["renewals.settings"] = dataclasses.replace(
        site.app.extensions["renewals.settings"], salesforce_client_id="id", salesforce_client_secret=Secret("s")
    )
    site.open_rep(data.pat_message, sign_in=False)
    page = site.client.get("/rep/sign-in")
    text = page.get_data(as_text=True)
    assert "Sign in with Salesforce" in text and "Email me a sign-in code" not in text
    # A forged request for a code anyway (the CSRF token of another page of the site): refused, nothing sent.
    refused = site.client.post("/rep/sign-in/code", data={"csrf_token": site.csrf("/admin/login")})
    assert refused.status_code == 403 and site.rows(models.RepSignInCode) == []


def test_a_rep_signed_in_is_not_signed_in_as_another_rep(site: Portal) -> None:
    partners = seed(site)
    site.sign_in_rep(partners.quinn_message)
    assert site.client.get("/rep").status_code == 200
    # Quinn opens Pat's link (forwarded to them): the sign-in, as Pat, not Pat's portal under Quinn's sign-in.
    opened = site.open_rep(partners.pat_message, sign_in=False)
    assert opened.headers["Location"] == "/rep/sign-in"
    assert site.client.get("/rep").headers["Location"] == "/rep/sign-in"
    # A cookie naming Pat's email under Quinn's sign-in (as if edited) opens nothing either.
    site.sign_in_rep(partners.quinn_message)
    with site.client.session_transaction() as cookie:
        cookie[REP_KEY] = {**cookie[REP_KEY], "email_message_id": partners.pat_message}
    assert site.client.get("/rep").headers["Location"] == "/rep/sign-in"
    csrf = site.csrf("/admin/login")
    assert site.client.post(f"/rep/contracts/{partners.contract}/hold", data={"csrf_token": csrf}).status_code == 403
    assert site.rows(models.AuditEntry) == []
