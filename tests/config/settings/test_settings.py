"""Settings: strict parsing, clear errors that never show secrets, and the README documents every one."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from config.settings import NEW_KEY_COMMAND, Secret, Settings, SettingsError, load_settings, registry
from tests.paths import README as README_PATH

KEY = "k" * 43
README = README_PATH


def settings_from(**variables: str) -> Settings:
    return load_settings({"RENEWALS_SECRET_KEYS": KEY, **{f"RENEWALS_{k}": v for k, v in variables.items()}})


def error_from(**variables: str) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings({f"RENEWALS_{k}": v for k, v in variables.items()})
    return str(caught.value)


def test_defaults_need_only_a_secret_key() -> None:
    settings = settings_from()
    assert settings.database_url == "sqlite:///var/renewals.db"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.public_base_url == "http://127.0.0.1:5000"
    assert settings.salesforce_login_url == "https://login.salesforce.com"
    assert settings.salesforce_api_version == "59.0"
    assert settings.salesforce_auth == "password"
    assert settings.dev_outbox is False
    assert settings.salesforce_ca_bundle is None


def test_missing_secret_key_says_which_variable_and_how_to_make_one() -> None:
    message = error_from()
    assert "RENEWALS_SECRET_KEYS is required" in message
    assert NEW_KEY_COMMAND in message


def test_secret_keys_rotate_oldest_to_newest_and_the_newest_signs() -> None:
    old, new = "o" * 40, "n" * 40
    settings = load_settings({"RENEWALS_SECRET_KEYS": f"{old}, {new}"})
    assert [key.reveal() for key in settings.secret_keys] == [old, new]
    assert settings.signing_key.reveal() == new


def test_a_short_secret_key_is_refused_without_echoing_it() -> None:
    message = error_from(SECRET_KEYS=f"{KEY},tooshort-secret")
    assert "key 2 of 2 is shorter than 32 characters" in message
    assert "tooshort-secret" not in message


@pytest.mark.parametrize("raw", ["yes please", "Truee", "2", "y"])
def test_a_bad_boolean_is_an_error_naming_the_variable(raw: str) -> None:
    message = error_from(SECRET_KEYS=KEY, DEV_OUTBOX=raw)
    assert "RENEWALS_DEV_OUTBOX" in message and "not a boolean" in message


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("FALSE", False), ("1", True), ("off", False)])
def test_booleans(raw: str, expected: bool) -> None:
    assert settings_from(DEV_OUTBOX=raw).dev_outbox is expected


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("WEB_PORT", "80a"),
        ("WEB_PORT", "70000"),
        ("WEB_WORKERS", "0"),
        ("FRESHNESS_LIMIT_HOURS", "0"),
        ("FRESHNESS_LIMIT_HOURS", "six"),
    ],
)
def test_bad_numbers_are_errors(variable: str, raw: str) -> None:
    assert f"RENEWALS_{variable}" in error_from(SECRET_KEYS=KEY, **{variable: raw})


@pytest.mark.parametrize("raw", ["example.com", "ftp://example.com", "https://", "http://x.test/?a=1"])
def test_bad_urls_are_errors(raw: str) -> None:
    assert "RENEWALS_PUBLIC_BASE_URL" in error_from(SECRET_KEYS=KEY, PUBLIC_BASE_URL=raw)


def test_urls_lose_their_trailing_slash() -> None:
    assert settings_from(PUBLIC_BASE_URL="https://renew.example.com/").public_base_url == "https://renew.example.com"


def test_api_version_is_written_without_v() -> None:
    message = error_from(SECRET_KEYS=KEY, SALESFORCE_API_VERSION="v59.0")
    assert "without the v" in message and "'59.0'" in message


def test_unknown_auth_mode_lists_the_choices() -> None:
    message = error_from(SECRET_KEYS=KEY, SALESFORCE_AUTH="oauth")
    assert "password, jwt, client_credentials, direct" in message


def test_a_bad_database_url_is_not_repeated_because_it_may_hold_a_password() -> None:
    message = error_from(SECRET_KEYS=KEY, DATABASE_URL="mysql://admin:hunter2@db/renewals")
    assert "RENEWALS_DATABASE_URL" in message
    assert "hunter2" not in message


def test_ca_bundle_must_exist(tmp_path: Path) -> None:
    assert "no such file" in error_from(SECRET_KEYS=KEY, SALESFORCE_CA_BUNDLE=str(tmp_path / "ca.pem"))
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    assert settings_from(SALESFORCE_CA_BUNDLE=str(tmp_path / "ca.pem")).salesforce_ca_bundle == tmp_path / "ca.pem"


def test_all_problems_are_reported_at_once() -> None:
    message = error_from(WEB_PORT="x", DEV_OUTBOX="maybe")
    assert "RENEWALS_SECRET_KEYS" in message and "RENEWALS_WEB_PORT" in message and "RENEWALS_DEV_OUTBOX" in message


def test_empty_variables_count_as_unset() -> None:
    assert settings_from(WEB_PORT="", SES_ENDPOINT_URL="").web_port == 5000


def test_secrets_never_appear_in_repr_or_str() -> None:
    settings = settings_from(
        SALESFORCE_PASSWORD="pw-hunter2",
        SALESFORCE_SECURITY_TOKEN="token-hunter2",
        SALESFORCE_CLIENT_SECRET="client-hunter2",
        DATABASE_URL="postgresql+psycopg://renewals:db-hunter2@db.internal/renewals",
        REDIS_URL="redis://:redis-hunter2@cache.internal:6379/0",
    )
    for rendered in (repr(settings), str(settings)):
        assert "hunter2" not in rendered
        assert KEY not in rendered
        assert "db.internal" in rendered
    assert str(settings.salesforce_password) == "***"
    assert isinstance(settings.salesforce_password, Secret)
    assert settings.salesforce_password.reveal() == "pw-hunter2"


def test_settings_are_frozen() -> None:
    settings = settings_from()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.web_port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("auth", "missing"),
    [
        (
            "password",
            ["RENEWALS_SALESFORCE_USERNAME", "RENEWALS_SALESFORCE_PASSWORD", "RENEWALS_SALESFORCE_SECURITY_TOKEN"],
        ),
        (
            "jwt",
            ["RENEWALS_SALESFORCE_USERNAME", "RENEWALS_SALESFORCE_CLIENT_ID", "RENEWALS_SALESFORCE_PRIVATE_KEY_FILE"],
        ),
        ("direct", ["RENEWALS_SALESFORCE_INSTANCE_URL", "RENEWALS_SALESFORCE_ACCESS_TOKEN"]),
    ],
)
def test_salesforce_missing_names_what_the_sign_in_mode_needs(auth: str, missing: list[str]) -> None:
    assert settings_from(SALESFORCE_AUTH=auth).salesforce_missing() == missing


def test_every_setting_is_in_the_readme_configuration_table_with_its_default() -> None:
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells and (match := re.fullmatch(r"`(RENEWALS_\w+)`", cells[0])):
            rows[match.group(1)] = cells
    documented = list(registry())
    assert [doc.env for doc in documented if doc.env not in rows] == []
    assert [env for env in rows if env not in {doc.env for doc in documented}] == []
    for doc in documented:
        assert rows[doc.env][1].strip("`") == doc.default, doc.env
