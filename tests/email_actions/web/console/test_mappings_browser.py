"""The mappings editor in Chromium, against a stand-in Salesforce CPQ org: sign in through the form, change a
field with its picker and save a new version, see a bad field's error beside it, preview the records the
mapping pulls, and activate the new version. The picker's script refills the field pickers when an entity's
object changes, under the console's CSP (no inline script)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from config.settings import load_settings
from email_actions.web.app import create_app
from mappings.loader import preset_text
from sync_service.store import mapping_versions as versions
from tests.conftest import TEST_SECRET_KEY
from tests.email_actions.web.console.conftest import PASSWORD, add_user
from tests.paths import ARTIFACTS as ARTIFACTS_ROOT
from tests.processes import LateApp, serve_wsgi
from tests.standin_org import RunningOrg, start_org, stop_org

ARTIFACTS = ARTIFACTS_ROOT / "admin"


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOrg]:
    running = start_org(
        tmp_path_factory.mktemp("mappings-browser-org"), "--seed-contracts", "30", "--flavour", "salesforce_cpq"
    )
    yield running
    stop_org(running)


@pytest.fixture
def console(tmp_path: Path, redis_url: str, sqlite_template: Path, org: RunningOrg) -> Iterator[str]:
    """The web app on a free port, signed in to the org, with an admin and the CPQ preset as active version 1."""
    database = tmp_path / "renewals.db"
    shutil.copyfile(sqlite_template, database)
    web = LateApp()  # served first: the app's settings name its URL
    with serve_wsgi(web) as base:
        settings = load_settings(
            {
                "RENEWALS_SECRET_KEYS": TEST_SECRET_KEY,
                "RENEWALS_DATABASE_URL": f"sqlite:///{database}",
                "RENEWALS_REDIS_URL": redis_url,
                "RENEWALS_PUBLIC_BASE_URL": base,
                "RENEWALS_SALESFORCE_AUTH": "password",
                "RENEWALS_SALESFORCE_LOGIN_URL": org.url,
                "RENEWALS_SALESFORCE_USERNAME": org.info["username"],
                "RENEWALS_SALESFORCE_PASSWORD": org.info["password"],
                "RENEWALS_SALESFORCE_SECURITY_TOKEN": org.info["security_token"],
                "RENEWALS_SALESFORCE_CA_BUNDLE": org.info["ca_cert"],
            }
        )
        app = create_app(settings)
        try:
            add_user(app, "alice", "admin")
            with app.extensions["renewals.database"].session_scope() as session:
                row = versions.save_version(session, preset_text("salesforce_cpq"), author="seed")
                versions.activate(session, row.name, row.version, [])
            web.app = app
            yield base
        finally:
            app.extensions["renewals.database"].dispose()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1280, "height": 1000})
    yield context.new_page()
    context.close()


@pytest.mark.timeout(120)
def test_an_admin_edits_previews_and_activates_a_mapping(console: str, page: Page) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Script errors and CSP refusals (an answer's own 4xx status, such as the 422 of a refused save, is fine).
    console_errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: console_errors.append(str(error)))

    # Sign in through the real form; the console sends us back where we were going.
    page.goto(f"{console}/admin/mappings")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Mappings", exact=True)).to_be_visible()
    page.get_by_role("link", name="version 1").first.click()
    expect(page.locator("#active-badge")).to_be_visible()

    # The script refills an entity's field pickers when its object changes (not saved: just looking).
    is_active = page.locator("#field-rep-is_active")
    expect(is_active.locator("option", has_text="HasOptedOutOfEmail")).to_have_count(0)
    page.select_option("#object-rep", "Contact")
    expect(page.locator("#status-rep")).to_have_text("Fields of Contact listed.")
    expect(is_active.locator("option", has_text="HasOptedOutOfEmail")).to_have_count(1)
    page.reload()

    # Change a field with its picker and save: a new version, not yet active.
    amount = page.locator("#field-contract-amount")
    expect(amount).to_have_value("Total_Contract_Value__c")
    amount.select_option("SBQQ__RenewalUpliftRate__c")
    page.locator("#save-fields").click()
    expect(page.get_by_text("Saved salesforce_cpq version 2")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/admin/mappings/salesforce_cpq/v2$"))
    expect(page.locator("#field-contract-amount")).to_have_value("SBQQ__RenewalUpliftRate__c")

    # A field that cannot feed the canonical one: its error beside it, nothing saved.
    page.locator("#field-contract-end_date").select_option("ContractNumber")
    page.locator("#save-fields").click()
    error = page.locator("#error-entities-contract-fields-end_date")
    expect(error).to_be_visible()
    expect(error).to_contain_text("wrong type: ContractNumber is a string field")
    expect(page.locator("#field-contract-end_date")).to_have_class(re.compile(r"\binvalid\b"))
    page.screenshot(path=str(ARTIFACTS / "mapping-field-error.png"), full_page=False)
    error.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "mapping-field-error-beside.png"))

    # Back on version 2 (unchanged): preview the contracts it pulls.
    page.goto(f"{console}/admin/mappings/salesforce_cpq/v2")
    page.locator("#preview-fields").click()
    expect(page.get_by_role("heading", name="Preview: 20 contract records")).to_be_visible()
    expect(page.locator("#preview-records tbody tr")).to_have_count(20)
    expect(page.locator("#preview-records tbody tr").first).to_contain_text("Activated")
    page.screenshot(path=str(ARTIFACTS / "mapping-preview.png"), full_page=False)

    # Activate it.
    page.locator("#activate").click()
    expect(page.get_by_text("salesforce_cpq version 2 is active now (was version 1).")).to_be_visible()
    expect(page.locator("#active-badge")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "mapping-activated.png"), full_page=True)
    assert console_errors == []
