"""The pieces of `renewals demo` that decide what runs with which configuration."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from config.commands.demo import DemoError, OrgInfo, demo_environment, ensure_secret, where_to_click
from config.settings import Settings, load_settings

ORG_LINE = json.dumps(
    {
        "instance_url": "https://127.0.0.1:8443",
        "ca_cert": "/tmp/demo-ca.pem",
        "username": "admin@renewals.demo",
        "password": "demo-password",
        "security_token": "demo-token",
        "client_id": "demo-client",
        "client_secret": "demo-client-secret",
        "user_password": "Renewals-demo-1",
        "extra": "ignored",
    }
)


def test_the_secret_is_generated_once_and_readable_by_the_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "demo" / "secret"
    first = ensure_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert ensure_secret(path) == first


def test_the_org_announcement_is_parsed() -> None:
    org = OrgInfo.from_line(ORG_LINE + "\n")
    assert org.instance_url == "https://127.0.0.1:8443"
    assert org.client_secret == "demo-client-secret"


@pytest.mark.parametrize("line", ["starting...", "[]", json.dumps({"instance_url": "https://x"})])
def test_a_bad_org_announcement_says_what_is_wrong(line: str) -> None:
    with pytest.raises(DemoError):
        OrgInfo.from_line(line)


def test_the_services_get_a_complete_valid_configuration_pointing_at_the_demo(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    org = OrgInfo.from_line(ORG_LINE.replace("/tmp/demo-ca.pem", str(ca)))
    base = {"PATH": "/usr/bin", "RENEWALS_DATABASE_URL": "postgresql+psycopg://prod/renewals"}
    env = demo_environment(org, "s" * 43, tmp_path, base)

    assert env["PATH"] == "/usr/bin"
    settings = load_settings(env)
    assert settings.database_url == f"sqlite:///{tmp_path / 'renewals.db'}"
    assert settings.redis_url == "redis://127.0.0.1:6390/0"
    assert settings.salesforce_auth == "password"
    assert settings.salesforce_login_url == "https://127.0.0.1:8443"
    assert settings.salesforce_ca_bundle == ca
    assert settings.dev_outbox is True
    assert settings.ses_endpoint_url == "http://127.0.0.1:5025"
    assert settings.sns_certificate_endpoint_url == settings.ses_endpoint_url
    assert settings.sns_topic_arns == ("arn:aws:sns:us-east-1:123456789012:renewals-ses-events",)
    assert env["AWS_ACCESS_KEY_ID"] == "demo"
    assert settings.salesforce_missing() == []


def test_where_to_click_shows_the_app_and_the_org_view() -> None:
    text = where_to_click(OrgInfo.from_line(ORG_LINE), Path("var/demo/logs"))
    assert "http://127.0.0.1:5000/" in text
    assert "http://127.0.0.1:5000/dev/outbox" in text
    assert "https://127.0.0.1:8443/_devorg/" in text


def test_where_to_click_points_at_the_console_and_its_password_files_never_a_password(tmp_path: Path) -> None:
    text = where_to_click(OrgInfo.from_line(ORG_LINE), tmp_path / "logs", tmp_path)
    assert "http://127.0.0.1:5000/admin/" in text
    assert str(tmp_path / "admin-password") in text and str(tmp_path / "viewer-password") in text


def test_the_demo_console_users_are_created_once_with_private_passwords(tmp_path: Path, settings: Any) -> None:
    import os
    import sys

    from sqlalchemy import create_engine, select

    from config.commands.demo import console_users
    from sync_service.store.models import AdminUser

    renewals = str(Path(sys.executable).with_name("renewals"))
    env = {**os.environ, "RENEWALS_DATABASE_URL": settings.database_url, "RENEWALS_SECRET_KEYS": "k" * 43}
    for _ in range(2):  # the second start finds them
        console_users(renewals, env, tmp_path, tmp_path / "admin.log")
    assert (tmp_path / "admin-password").stat().st_mode & 0o777 == 0o600
    engine = create_engine(settings.database_url)
    with engine.connect() as connection:
        users = dict(connection.execute(select(AdminUser.username, AdminUser.role)).all())
    engine.dispose()
    assert users == {"admin": "admin", "viewer": "viewer"}
    assert (tmp_path / "admin-password").read_text().strip() not in (tmp_path / "admin.log").read_text()


def test_the_demo_changes_three_contracts_in_salesforce_once_and_the_store_follows(
    tmp_path: Path, settings: Any
) -> None:
    import os
    import re
    import subprocess
    import sys

    from sqlalchemy import create_engine, select

    from config.commands.demo import salesforce_changes
    from sync_service.store.models import Contact, Contract, Rep
    from tests.standin_org import start_org

    renewals = str(Path(sys.executable).with_name("renewals"))
    with start_org(tmp_path / "org", "--seed-contracts", "200", "--flavour", "salesforce_cpq") as org:
        env = {
            **os.environ,
            **org.salesforce_env(),
            "RENEWALS_DATABASE_URL": settings.database_url,
            "RENEWALS_SECRET_KEYS": "k" * 43,
        }
        for argv in (["mappings", "import", "--preset", "salesforce_cpq", "--activate"], ["sync", "--full"]):
            subprocess.run([renewals, *argv], env=env, check=True, capture_output=True)
        summary = salesforce_changes(renewals, env, tmp_path, tmp_path / "sync.log")
        # A restart finds the marker: the same summary, nothing changed again.
        assert salesforce_changes(renewals, env, tmp_path, tmp_path / "sync.log") == summary
    numbers = re.findall(r"contract (\S+):", summary)
    assert len(numbers) == 4, summary
    won, held, opted_out, partnered = numbers
    engine = create_engine(settings.database_url)
    with engine.connect() as connection:
        contracts = {
            number: (via, is_held, contact_opted_out)
            for number, via, is_held, contact_opted_out in connection.execute(
                select(Contract.number, Contract.renewed_via, Contract.is_held, Contact.email_opted_out)
                .join(Contact, Contact.id == Contract.contact_id)
                .where(Contract.number.in_(numbers))
            )
        }
        partner_rep = connection.execute(
            select(Rep.reseller_account_id, Rep.email)
            .join(Contract, Contract.rep_id == Rep.id)
            .where(Contract.number == partnered)
        ).one()
    engine.dispose()
    assert partner_rep[0] is not None and partner_rep[1]  # a partner rep, with an address for the sign-in code
    assert contracts[won][0] == "salesforce"
    assert contracts[held][0] is None and contracts[held][1] is True
    assert contracts[opted_out][0] is None and contracts[opted_out][2] is True


def test_the_demo_gives_sign_in_with_salesforce_its_rules_once_and_never_over_an_admins(settings: Settings) -> None:
    from sqlalchemy.orm import Session

    from config.commands.demo import console_salesforce_roles
    from sync_service.console_settings.salesforce_roles import check_salesforce_roles, salesforce_roles
    from sync_service.console_settings.store import SALESFORCE_ROLES, store
    from sync_service.store.db import make_engine

    env = {"RENEWALS_DATABASE_URL": settings.database_url, "RENEWALS_SECRET_KEYS": "k" * 43}
    console_salesforce_roles(env)
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        assert [rule.text for rule in salesforce_roles(session)] == [
            "permission_set Renewals_Admin admin",
            "profile Standard User viewer",
        ]
    with Session(engine) as session, session.begin():
        store(session, SALESFORCE_ROLES, check_salesforce_roles("profile Standard User admin"), actor="admin:alice")
    console_salesforce_roles(env)
    with Session(engine) as session:
        assert [rule.text for rule in salesforce_roles(session)] == ["profile Standard User admin"]
    engine.dispose()
