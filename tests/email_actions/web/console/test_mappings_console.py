"""The console's mappings editor against a stand-in Salesforce CPQ org (one for the module): the list, picker
and YAML saves (each a new version, audited), problems shown beside their fields with nothing saved, the
preview of 20 canonical records, activation, diff, rollback, export and import, viewers refused every change,
and an org that cannot be reached."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from config.settings import Settings, load_settings
from email_actions.web.app import create_app
from email_actions.web.console import auth
from mappings.loader import preset_text
from sync_service.store import mapping_versions as versions
from sync_service.store import models
from tests.conftest import TEST_SECRET_KEY
from tests.email_actions.web.console.conftest import add_user, csrf_of, post_form, sign_in
from tests.processes import free_port
from tests.standin_org import RunningOrg, start_org, stop_org

PAGE = "/admin/mappings"
V1 = "/admin/mappings/salesforce_cpq/v1"
CPQ = preset_text("salesforce_cpq")


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOrg]:
    running = start_org(
        tmp_path_factory.mktemp("mappings-org"), "--seed-contracts", "30", "--flavour", "salesforce_cpq"
    )
    yield running
    stop_org(running)


@pytest.fixture(autouse=True)
def quick_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap Argon2 parameters for these tests' users: signing in is tested elsewhere, and the real
    parameters cost 0.6 s per test here."""
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def _settings(tmp_path: Path, redis_url: str, sqlite_template: Path, salesforce: dict[str, str]) -> Settings:
    database = tmp_path / "renewals.db"
    shutil.copyfile(sqlite_template, database)
    return load_settings(
        {
            "RENEWALS_SECRET_KEYS": TEST_SECRET_KEY,
            "RENEWALS_DATABASE_URL": f"sqlite:///{database}",
            "RENEWALS_REDIS_URL": redis_url,
            "RENEWALS_PUBLIC_BASE_URL": "http://renewals.test",
            **salesforce,
        }
    )


def org_variables(org: RunningOrg) -> dict[str, str]:
    return {
        "RENEWALS_SALESFORCE_AUTH": "password",
        "RENEWALS_SALESFORCE_LOGIN_URL": org.url,
        "RENEWALS_SALESFORCE_USERNAME": org.info["username"],
        "RENEWALS_SALESFORCE_PASSWORD": org.info["password"],
        "RENEWALS_SALESFORCE_SECURITY_TOKEN": org.info["security_token"],
        "RENEWALS_SALESFORCE_CA_BUNDLE": org.info["ca_cert"],
    }


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, sqlite_template: Path, org: RunningOrg) -> Settings:
    """The app's settings, signed in to the module's org (overrides the suite's `settings`)."""
    return _settings(tmp_path, redis_url, sqlite_template, org_variables(org))


def _seed(app: Flask, text: str = CPQ, *, activate: bool = True, author: str = "seed") -> int:
    with app.extensions["renewals.database"].session_scope() as session:
        row = versions.save_version(session, text, author=author)
        if activate:
            versions.activate(session, row.name, row.version, [])
        return row.version


def _rows(app: Flask) -> list[tuple[int, bool, str]]:
    with app.extensions["renewals.database"].session_scope() as session:
        return [(r.version, r.is_active, r.yaml) for r in versions.list_versions(session, "salesforce_cpq")]


def _audit(app: Flask) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    with app.extensions["renewals.database"].session_scope() as session:
        entries = session.scalars(select(models.AuditEntry).order_by(models.AuditEntry.id)).all()
        return [(e.action, dict(e.before), dict(e.after)) for e in entries if e.action.startswith("mapping.")]


def _html(response: TestResponse) -> Any:
    return lxml.html.fromstring(response.get_data(as_text=True))


def _text(response: TestResponse, element_id: str) -> str:
    found = _html(response).get_element_by_id(element_id, None)
    assert found is not None, f"no #{element_id} on the page ({response.status_code})"
    return " ".join(str(found.text_content()).split())


def _form(response: TestResponse, form_id: str) -> dict[str, str]:
    """What a browser would post from the form (one value a name). Like a browser's parser, it drops the
    line break that follows a textarea's start tag, which lxml keeps."""
    form = _html(response).get_element_by_id(form_id)
    values = dict(form.form_values())
    for area in form.iter("textarea"):
        if area.get("name") in values:
            values[area.get("name")] = values[area.get("name")].removeprefix("\n")
    return values


def _save_fields(client: FlaskClient, **fields: str) -> TestResponse:
    data = {"mode": "fields", "name": "salesforce_cpq", "based_on": "1", **fields}
    return post_form(client, V1, "/admin/mappings/save", data)


def _api_usage(app: Flask) -> int:
    with app.extensions["renewals.database"].session_scope() as session:
        calls = session.scalar(
            select(func.sum(models.ApiUsage.calls)).where(models.ApiUsage.job_name == "mappings_console")
        )
        return int(calls or 0)


# ------------------------------------------------------------------------------------------ the list


def test_the_list_shows_each_mapping_s_versions_and_the_presets(app: Flask, admin_client: FlaskClient) -> None:
    _seed(app)
    _seed(app, CPQ.replace("bulk_threshold: 10000", "bulk_threshold: 5000"), activate=False, author="bob")
    response = admin_client.get(PAGE)
    assert response.status_code == 200
    versions_table = _text(response, "versions-salesforce_cpq")
    assert "version 2" in versions_table and "bob" in versions_table
    assert "version 1 active" in versions_table
    presets = _text(response, "presets")
    for preset in ("salesforce_cpq", "conga_cpq", "standard"):
        assert preset in presets
    assert _html(response).get_element_by_id("import-preset-standard") is not None


def test_importing_a_preset_saves_it_once_it_fits_the_org(app: Flask, admin_client: FlaskClient) -> None:
    response = post_form(admin_client, PAGE, "/admin/mappings/presets/salesforce_cpq/import", {})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(V1)
    assert [(v, active) for v, active, _ in _rows(app)] == [(1, False)]
    assert _audit(app) == [
        ("mapping.import", {}, {"name": "salesforce_cpq", "version": 1, "source": "preset:salesforce_cpq"})
    ]
    # The stand-in org carries the Conga objects too, so that preset fits as well: a mapping of its own.
    conga = post_form(admin_client, PAGE, "/admin/mappings/presets/conga_cpq/import", {})
    assert conga.status_code == 302 and conga.headers["Location"].endswith("/admin/mappings/conga_cpq/v1")
    assert post_form(admin_client, PAGE, "/admin/mappings/presets/nope/import", {}).status_code == 404


# --------------------------------------------------------------------------------------------- saving


def test_a_picker_edit_saves_a_new_version_changing_only_its_line(app: Flask, admin_client: FlaskClient) -> None:
    _seed(app)
    page = admin_client.get(V1)
    assert page.status_code == 200
    amount = _html(page).get_element_by_id("field-contract-amount")
    options = [o.get("value") for o in amount.iter("option")]
    assert "SBQQ__RenewalUpliftRate__c" in options and "EndDate" in options
    assert amount.value == "Total_Contract_Value__c"

    response = _save_fields(admin_client, **{"field.contract.amount": "SBQQ__RenewalUpliftRate__c"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert response.headers["Location"].endswith("/admin/mappings/salesforce_cpq/v2")
    (_, active1, text1), (_, active2, text2) = _rows(app)
    assert (active1, active2) == (True, False)
    assert text2 == text1.replace("amount: Total_Contract_Value__c", "amount: SBQQ__RenewalUpliftRate__c"), (
        "only the edited line changes; comments stay"
    )
    assert _audit(app) == [
        ("mapping.save", {"name": "salesforce_cpq", "version": 1}, {"name": "salesforce_cpq", "version": 2})
    ]
    with app.extensions["renewals.database"].session_scope() as session:
        assert session.scalars(select(models.MappingVersion.author)).all()[-1] == "admin:alice"


def test_a_field_the_org_lacks_is_refused_beside_it_and_nothing_is_saved(app: Flask, admin_client: FlaskClient) -> None:
    _seed(app)
    response = _save_fields(
        admin_client,
        **{"field.contract.end_date": "EndDat", "field.contract.amount": "SBQQ__RenewalUpliftRate__c"},
    )
    assert response.status_code == 422
    beside = _text(response, "error-entities-contract-fields-end_date")
    assert "Contract has no field EndDat" in beside and "did you mean EndDate?" in beside
    doc = _html(response)
    picker = doc.get_element_by_id("field-contract-end_date")
    assert picker.value == "EndDat" and "invalid" in picker.get("class")
    # The draft keeps the good edit too, so fixing the bad field keeps it.
    assert doc.get_element_by_id("field-contract-amount").value == "SBQQ__RenewalUpliftRate__c"
    assert [v for v, _, _ in _rows(app)] == [1]
    assert _audit(app) == []

    # A field of the wrong type, picked from the list.
    wrong = _save_fields(admin_client, **{"field.contract.end_date": "ContractNumber"})
    assert wrong.status_code == 422
    assert "wrong type: ContractNumber is a string field" in _text(wrong, "error-entities-contract-fields-end_date")

    # Fixing it on the draft saves both edits as version 2.
    fields = _form(response, "fields-form")
    fields["field.contract.end_date"] = "EndDate"
    fixed = admin_client.post("/admin/mappings/save", data=fields)
    assert fixed.status_code == 302, fixed.get_data(as_text=True)[:3000]
    text2 = _rows(app)[-1][2]
    assert "amount: SBQQ__RenewalUpliftRate__c" in text2 and "end_date: EndDate" in text2


def test_a_picker_edit_the_text_cannot_take_is_refused_beside_its_field(app: Flask, admin_client: FlaskClient) -> None:
    aliased = CPQ.replace(
        "currency: CurrencyIsoCode\n      is_reseller:", "currency: &currency CurrencyIsoCode\n      is_reseller:", 1
    )
    aliased = aliased.replace("currency: CurrencyIsoCode\n      auto_renew", "currency: *currency\n      auto_renew", 1)
    assert "&currency" in aliased and "*currency" in aliased
    _seed(app, aliased)
    response = _save_fields(admin_client, **{"field.contract.currency": "SBQQ__RenewalTerm__c"})
    assert response.status_code == 422
    assert "shared through a YAML alias" in _text(response, "error-entities-contract-fields-currency")
    assert [v for v, _, _ in _rows(app)] == [1]


def test_a_yaml_syntax_error_is_shown_with_its_line(app: Flask, admin_client: FlaskClient) -> None:
    _seed(app)
    broken = CPQ.replace("    object: Contract\n", "    object: [Contract\n", 1)
    line = CPQ.splitlines().index("    object: Contract") + 1
    response = post_form(
        admin_client,
        V1,
        "/admin/mappings/save",
        {"mode": "yaml", "name": "salesforce_cpq", "based_on": "1", "yaml": broken},
    )
    assert response.status_code == 422
    problems = _text(response, "yaml-problems")
    assert "YAML does not parse" in problems
    assert f"line {line + 1}" in problems or f"line {line}" in problems, problems
    assert _html(response).get_element_by_id("yaml-text").value.removeprefix("\n") == broken
    assert [v for v, _, _ in _rows(app)] == [1]


def test_a_yaml_edit_that_does_not_fit_the_org_shows_the_problem_beside_the_field(
    app: Flask, admin_client: FlaskClient
) -> None:
    _seed(app)
    edited = CPQ.replace("object: SBQQ__QuoteLine__c", "object: SBQQ__QuoteLines__c")
    response = post_form(
        admin_client,
        V1,
        "/admin/mappings/save",
        {"mode": "yaml", "name": "salesforce_cpq", "based_on": "1", "yaml": edited},
    )
    assert response.status_code == 422
    assert "the org has no object SBQQ__QuoteLines__c" in _text(response, "error-entities-quote_line-object")
    assert "did you mean SBQQ__QuoteLine__c?" in _text(response, "error-entities-quote_line-object")
    renamed = post_form(
        admin_client,
        V1,
        "/admin/mappings/save",
        {
            "mode": "yaml",
            "name": "salesforce_cpq",
            "based_on": "1",
            "yaml": CPQ.replace("name: salesforce_cpq", "name: other"),
        },
    )
    assert renamed.status_code == 422 and "use Import" in _text(renamed, "general-problems")
    unchanged = post_form(
        admin_client,
        V1,
        "/admin/mappings/save",
        {"mode": "yaml", "name": "salesforce_cpq", "based_on": "1", "yaml": CPQ},
    )
    assert unchanged.status_code == 302
    assert [v for v, _, _ in _rows(app)] == [1]


# -------------------------------------------------------------------------------------------- preview


def test_the_preview_shows_20_canonical_records_and_writes_nothing(app: Flask, admin_client: FlaskClient) -> None:
    _seed(app)
    response = post_form(
        admin_client,
        V1,
        "/admin/mappings/preview",
        {"mode": "fields", "name": "salesforce_cpq", "based_on": "1", "preview_entity": "contract"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:3000]
    table = _html(response).get_element_by_id("preview-records")
    headers = [th.text_content() for th in table.iter("th")]
    assert headers[:3] == ["Id", "number", "account"]
    rows = table.findall(".//tbody/tr")
    assert len(rows) == 20
    first = [td.text_content().strip() for td in rows[0].iter("td")]
    assert first[headers.index("status")] == "Activated"
    assert len(first[headers.index("end_date")]) == 10  # a date
    assert _api_usage(app) > 0
    with app.extensions["renewals.database"].session_scope() as session:
        assert session.scalar(select(func.count()).select_from(models.Contract)) == 0
        assert session.scalar(select(func.count()).select_from(models.SyncRun)) == 0

    # An unsaved edit is previewed as it stands: the quote lines through another field.
    lines = post_form(
        admin_client,
        V1,
        "/admin/mappings/preview",
        {
            "mode": "fields",
            "name": "salesforce_cpq",
            "based_on": "1",
            "preview_entity": "quote_line",
            "field.quote_line.product_line": "",
        },
    )
    assert lines.status_code == 200
    assert "product_line" not in [
        th.text_content() for th in _html(lines).get_element_by_id("preview-records").iter("th")
    ]
    assert [v for v, _, _ in _rows(app)] == [1]


# ------------------------------------------------------------------------------- activate, diff, rollback


def test_activate_diff_and_roll_back(app: Flask, admin_client: FlaskClient) -> None:
    _seed(app)
    _seed(app, CPQ.replace("amount: Total_Contract_Value__c", "amount: SBQQ__RenewalUpliftRate__c"), activate=False)
    v2 = "/admin/mappings/salesforce_cpq/v2"

    diff = admin_client.get(f"{v2}/diff")
    assert diff.status_code == 200
    shown = _html(diff).get_element_by_id("diff").text_content()
    assert "-      amount: Total_Contract_Value__c" in shown and "+      amount: SBQQ__RenewalUpliftRate__c" in shown

    activated = post_form(admin_client, v2, f"{v2}/activate", {"reason": "uplift is what we bill"})
    assert activated.status_code == 302
    assert [(v, active) for v, active, _ in _rows(app)] == [(1, False), (2, True)]
    page = admin_client.get(v2)
    assert "active" in _text(page, "active-badge")

    # Rollback only goes backwards.
    wrong = post_form(admin_client, v2, f"{v2}/rollback", {})
    assert wrong.status_code == 302 and [a for _, a, _ in _rows(app)] == [False, True]
    rolled = post_form(admin_client, V1, f"{V1}/rollback", {"reason": "billing disagrees"})
    assert rolled.status_code == 302
    assert [(v, active) for v, active, _ in _rows(app)] == [(1, True), (2, False)]
    audit = _audit(app)
    assert audit == [
        ("mapping.activate", {"name": "salesforce_cpq", "version": 1}, {"name": "salesforce_cpq", "version": 2}),
        ("mapping.rollback", {"name": "salesforce_cpq", "version": 2}, {"name": "salesforce_cpq", "version": 1}),
    ]


def test_a_version_that_does_not_fit_the_org_is_not_activated(app: Flask, admin_client: FlaskClient) -> None:
    _seed(app)
    # Stored behind the console's back (as a version saved while the org was unreachable would be).
    _seed(app, CPQ.replace("end_date: EndDate", "end_date: Renewal_Date__c"), activate=False)
    v2 = "/admin/mappings/salesforce_cpq/v2"
    response = post_form(admin_client, v2, f"{v2}/activate", {})
    assert response.status_code == 422
    assert "Not activated" in _text(response, "mapping-message")
    assert "Contract has no field Renewal_Date__c" in _text(response, "error-entities-contract-fields-end_date")
    assert [a for _, a, _ in _rows(app)] == [True, False]
    assert _audit(app) == []


# ------------------------------------------------------------------------------------ export, import


def test_export_returns_the_saved_text_and_import_takes_it_back(app: Flask, admin_client: FlaskClient) -> None:
    commented = CPQ.replace("bulk_threshold: 10000", "bulk_threshold: 10000  # as agreed with ops\r")
    _seed(app, commented)
    exported = admin_client.get(f"{V1}/export")
    assert exported.status_code == 200
    assert exported.get_data(as_text=True) == commented
    assert exported.headers["Content-Disposition"] == 'attachment; filename="salesforce_cpq-v1.yaml"'

    token = csrf_of(admin_client, PAGE)
    upload = admin_client.post(
        "/admin/mappings/import",
        data={"csrf_token": token, "file": (io.BytesIO(exported.get_data()), "salesforce_cpq-v1.yaml")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 302
    assert _rows(app)[-1][2] == commented
    assert _audit(app)[-1][0] == "mapping.import"
    assert _audit(app)[-1][2]["source"] == "file:salesforce_cpq-v1.yaml"


def test_an_invalid_import_is_refused_with_its_reason_and_nothing_is_saved(
    app: Flask, admin_client: FlaskClient
) -> None:
    response = post_form(admin_client, PAGE, "/admin/mappings/import", {"yaml": "name: x1\nentities: 3\n"})
    assert response.status_code == 422
    problems = _text(response, "import-problems")
    assert "entities" in problems and "line 2" in problems
    assert _html(response).get_element_by_id("import-yaml").value.removeprefix("\n") == "name: x1\nentities: 3\n"
    token = csrf_of(admin_client, PAGE)
    binary = admin_client.post(
        "/admin/mappings/import",
        data={"csrf_token": token, "file": (io.BytesIO(b"\xff\xfe\x00bad"), "x.yaml")},
        content_type="multipart/form-data",
    )
    assert binary.status_code == 422 and "not UTF-8" in _text(binary, "import-problems")
    # YAML that loads but does not fit the org opens in the editor as a draft, each problem beside its field.
    unfit = post_form(
        admin_client, PAGE, "/admin/mappings/import", {"yaml": CPQ.replace("title: Name", "title: Titel")}
    )
    assert unfit.status_code == 422
    assert "Not imported" in _text(unfit, "mapping-message")
    assert "SBQQ__QuoteDocument__c has no field Titel" in _text(unfit, "error-entities-quote_document-fields-title")
    with app.extensions["renewals.database"].session_scope() as session:
        assert session.scalar(select(func.count()).select_from(models.MappingVersion)) == 0
    assert _audit(app) == []
    # Fixed there with the picker, it saves as an import.
    draft = _form(unfit, "fields-form")
    assert "name" not in draft and "based_on" not in draft
    draft["field.quote_document.title"] = "Name"
    saved = admin_client.post("/admin/mappings/save", data=draft)
    assert saved.status_code == 302 and saved.headers["Location"].endswith(V1)
    assert _rows(app)[0][2] == CPQ
    assert _audit(app) == [("mapping.import", {}, {"name": "salesforce_cpq", "version": 1, "source": "editor"})]


# ------------------------------------------------------------------------------------ who may do what


def test_a_viewer_reads_everything_and_every_change_is_refused(app: Flask, viewer_client: FlaskClient) -> None:
    _seed(app)
    _seed(app, CPQ.replace("bulk_threshold: 10000", "bulk_threshold: 500"), activate=False)
    for path in (PAGE, V1, f"{V1}/diff?against=2", f"{V1}/export", "/admin/mappings/org/objects/Contract/fields"):
        assert viewer_client.get(path).status_code == 200, path
    page = viewer_client.get(V1)
    assert _html(page).get_element_by_id("field-contract-amount").get("disabled") is not None
    token = csrf_of(viewer_client, V1)
    posts = {
        "/admin/mappings/save": {"mode": "yaml", "name": "salesforce_cpq", "based_on": "1", "yaml": CPQ},
        "/admin/mappings/preview": {"mode": "fields", "name": "salesforce_cpq", "based_on": "1"},
        "/admin/mappings/import": {"yaml": CPQ},
        "/admin/mappings/presets/standard/import": {},
        "/admin/mappings/salesforce_cpq/v2/activate": {},
        "/admin/mappings/salesforce_cpq/v1/rollback": {},
        "/admin/mappings/org/refresh": {},
    }
    for path, data in posts.items():
        assert viewer_client.post(path, data={"csrf_token": token, **data}).status_code == 403, path
    assert [(v, a) for v, a, _ in _rows(app)] == [(1, True), (2, False)]
    assert _audit(app) == []


# ------------------------------------------------------------------------------------------ the org


def test_describes_are_cached_between_pages(app: Flask, admin_client: FlaskClient, org: RunningOrg) -> None:
    _seed(app)
    assert admin_client.get(V1).status_code == 200
    used = org.api_used()
    assert admin_client.get(V1).status_code == 200
    fields = admin_client.get("/admin/mappings/org/objects/Contract/fields").get_json()
    assert org.api_used() == used
    assert any(f["name"] == "EndDate" and f["type"] == "date" for f in fields["fields"])
    assert "date" in fields["accepts"]["date"]
    assert post_form(admin_client, V1, "/admin/mappings/org/refresh", {"next": V1}).status_code == 302
    assert admin_client.get(V1).status_code == 200
    assert org.api_used() > used


@pytest.fixture
def unreachable_app(tmp_path: Path, redis_url: str, sqlite_template: Path, org: RunningOrg) -> Iterator[Flask]:
    variables = org_variables(org) | {"RENEWALS_SALESFORCE_LOGIN_URL": f"https://127.0.0.1:{free_port()}"}
    app = create_app(_settings(tmp_path, redis_url, sqlite_template, variables))
    app.config["TESTING"] = True
    add_user(app, "alice", "admin")
    yield app
    app.extensions["renewals.database"].dispose()


def test_without_the_org_pages_render_saves_warn_and_activation_is_refused(unreachable_app: Flask) -> None:
    app = unreachable_app
    _seed(app)
    client = app.test_client()
    assert sign_in(client, "alice").status_code == 302
    page = client.get(V1)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    message = _text(page, "org-unavailable")
    assert "could not be reached (ConnectionError)" in message
    assert "Traceback" not in body and app.extensions["renewals.settings"].salesforce_password.reveal() not in body
    assert _html(page).get_element_by_id("field-contract-amount").tag == "input"

    saved = _save_fields(client, **{"field.contract.amount": "SBQQ__RenewalUpliftRate__c"})
    assert saved.status_code == 302
    after = client.get(saved.headers["Location"])
    assert "Saved without checking it against the org" in after.get_data(as_text=True)
    assert _audit(app)[-1][2]["checked_against_org"] is False

    refused = post_form(client, V1, "/admin/mappings/salesforce_cpq/v2/activate", {})
    assert refused.status_code == 503
    assert "Not activated" in _text(refused, "mapping-message")
    preview = post_form(
        client, V1, "/admin/mappings/preview", {"mode": "fields", "name": "salesforce_cpq", "based_on": "1"}
    )
    assert preview.status_code == 503 and "No preview" in _text(preview, "mapping-message")
    assert [(v, a) for v, a, _ in _rows(app)] == [(1, True), (2, False)]
