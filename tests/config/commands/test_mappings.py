"""`renewals mappings ...` through click's runner, against a real stand-in org and a migrated SQLite store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from config.commands.cli import main
from mappings.loader import preset_text
from tests.conftest import TEST_SECRET_KEY
from tests.mappings.helpers import line_of
from tests.processes import free_port
from tests.standin_org import RunningOrg, start_org, stop_org

Env = dict[str, str]


def org_env(org: RunningOrg, tmp_path: Path, sqlite_template: Path) -> Env:
    database = tmp_path / "renewals.db"
    shutil.copyfile(sqlite_template, database)
    return {
        "RENEWALS_SECRET_KEYS": TEST_SECRET_KEY,
        "RENEWALS_DATABASE_URL": f"sqlite:///{database}",
        "RENEWALS_SALESFORCE_AUTH": "password",
        "RENEWALS_SALESFORCE_LOGIN_URL": org.url,
        "RENEWALS_SALESFORCE_USERNAME": org.info["username"],
        "RENEWALS_SALESFORCE_PASSWORD": org.info["password"],
        "RENEWALS_SALESFORCE_SECURITY_TOKEN": org.info["security_token"],
        "RENEWALS_SALESFORCE_CA_BUNDLE": str(org.ca),
    }


@pytest.fixture
def env(cpq_org: RunningOrg, tmp_path: Path, sqlite_template: Path) -> Env:
    return org_env(cpq_org, tmp_path, sqlite_template)


def run(env: Env, *args: str) -> Result:
    return CliRunner().invoke(main, ["mappings", *args], env=env, catch_exceptions=False)


def listing(env: Env) -> list[list[str]]:
    result = run(env, "list")
    assert result.exit_code == 0, result.output
    return [line.split() for line in result.output.splitlines()[1:]]


def test_import_list_show_export_diff_and_activate(env: Env, tmp_path: Path) -> None:
    result = run(env, "list")
    assert result.output.startswith("No mappings saved yet. Start from a preset (conga_cpq, salesforce_cpq, standard)")
    result = run(env, "import", "--preset", "salesforce_cpq", "--author", "alice", "--activate")
    assert (result.exit_code, result.output) == (0, "Imported salesforce_cpq as version 1 and activated it.\n")
    [row] = listing(env)
    assert row[:3] == ["salesforce_cpq", "1", "yes"] and row[-1] == "alice"

    shown = run(env, "show", "salesforce_cpq").output
    assert shown.startswith("# salesforce_cpq version 1 (active), saved by alice at ")
    assert shown.split("\n", 1)[1] == preset_text("salesforce_cpq")

    exported = tmp_path / "cpq.yaml"
    assert run(env, "export", "salesforce_cpq", "-o", str(exported)).exit_code == 0
    assert exported.read_text() == preset_text("salesforce_cpq") == run(env, "export", "salesforce_cpq").output
    exported.write_text(exported.read_text().replace("bulk_threshold: 10000", "bulk_threshold: 500"))
    result = run(env, "import", str(exported), "--author", "bob")
    assert result.output == "Imported salesforce_cpq as version 2.\n"
    assert [r[:3] for r in listing(env)] == [["salesforce_cpq", "1", "yes"], ["salesforce_cpq", "2", "no"]]
    assert listing(env)[1][-1] == "bob"

    diff = run(env, "diff", "salesforce_cpq", "1", "2").output
    assert "-bulk_threshold: 10000\n+bulk_threshold: 500\n" in diff
    assert run(env, "diff", "salesforce_cpq", "2", "2").output == "Versions 2 and 2 of salesforce_cpq are identical.\n"

    assert run(env, "activate", "salesforce_cpq").output == "Activated salesforce_cpq version 2.\n"
    assert run(env, "activate", "salesforce_cpq", "--version", "1").output == "Activated salesforce_cpq version 1.\n"
    assert [r[:3] for r in listing(env)] == [["salesforce_cpq", "1", "yes"], ["salesforce_cpq", "2", "no"]]
    assert run(env, "validate", "salesforce_cpq").output == "salesforce_cpq is valid against the org.\n"


def test_validate_prints_each_problem_with_its_line_and_exits_1(env: Env, tmp_path: Path) -> None:
    text = (
        preset_text("salesforce_cpq")
        .replace("end_date: EndDate", "end_date: EndDat")
        .replace("SBQQ__Status__c: Accepted", "SBQQ__Status__c: Acepted")
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text(text)
    result = CliRunner().invoke(main, ["mappings", "validate", "--file", str(broken)], env=env)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"line {line_of(text, 'end_date: EndDat')}: entities.contract.fields.end_date: Contract has no field EndDat "
        "(did you mean EndDate?)",
        f"line {line_of(text, 'SBQQ__Status__c: Acepted')}: write_back.renew.0.set.SBQQ__Status__c: 'Acepted' is not "
        "a value of the picklist SBQQ__Status__c (Draft, In Review, Approved, Denied, Presented, Accepted, Rejected) "
        "(did you mean Accepted?)",
    ]
    assert result.stderr == "salesforce_cpq does not fit the org: 2 problems; nothing was changed.\n"
    # The same output refuses the import, which stores nothing.
    refused = run(env, "import", str(broken))
    assert refused.exit_code == 1
    assert refused.output.startswith(result.stdout)
    assert run(env, "list").output.startswith("No mappings saved yet.")
    assert run(env, "validate", "--preset", "standard").output == "standard is valid against the org.\n"


def test_yaml_that_does_not_parse_is_refused_with_its_line(env: Env, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nentities: [a, b\n")
    result = run(env, "import", str(bad))
    assert result.exit_code == 1
    assert result.output.startswith("line 3, column 1: YAML does not parse:")
    assert run(env, "list").output.startswith("No mappings saved yet.")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("salesforce_cqp", "Error: no preset 'salesforce_cqp' (presets: conga_cpq, salesforce_cpq, standard); did you"),
        ("salesforce_cpq@2", "Error: preset 'salesforce_cpq' has no version 2; presets exist only as version 0"),
    ],
)
def test_an_import_of_an_unknown_preset_version_changes_nothing(env: Env, spec: str, message: str) -> None:
    result = run(env, "import", "--preset", spec)
    assert result.exit_code == 1
    assert result.output.startswith(message)
    assert run(env, "list").output.startswith("No mappings saved yet.")
    assert run(env, "import", "--preset", "salesforce_cpq@0").exit_code == 0


def test_a_field_renamed_in_the_org_blocks_activation_and_keeps_the_active_version(
    tmp_path: Path, sqlite_template: Path
) -> None:
    org = start_org(tmp_path / "org", "--seed-contracts", "3", "--flavour", "salesforce_cpq")
    try:
        env = org_env(org, tmp_path, sqlite_template)
        assert run(env, "import", "--preset", "salesforce_cpq", "--activate").exit_code == 0
        assert run(env, "import", "--preset", "salesforce_cpq").exit_code == 0
        org.admin(
            "POST",
            "schema",
            {"op": "rename", "object": "Contract", "field": "Total_Contract_Value__c", "new_name": "TCV__c"},
        )
        line = line_of(preset_text("salesforce_cpq"), "amount: Total_Contract_Value__c")
        expected = f"line {line}: entities.contract.fields.amount: Contract has no field Total_Contract_Value__c"
        for args in (("activate", "salesforce_cpq"), ("validate", "salesforce_cpq")):
            result = run(env, *args)
            assert result.exit_code == 1
            assert result.output.splitlines()[0] == f"{expected} (did you mean TCV__c?)"
        first, second = listing(env)
        assert first[:3] == ["salesforce_cpq", "1", "yes"]
        assert second[:3] == ["salesforce_cpq", "2", "no"]
    finally:
        stop_org(org)


def test_missing_or_unreachable_salesforce_is_a_clear_error(env: Env) -> None:
    unset = {**env, "RENEWALS_SALESFORCE_USERNAME": ""}
    result = run(unset, "validate", "--preset", "standard")
    assert result.exit_code == 1
    assert "Salesforce sign-in 'password' needs RENEWALS_SALESFORCE_USERNAME" in result.output
    gone = {**env, "RENEWALS_SALESFORCE_LOGIN_URL": f"https://127.0.0.1:{free_port()}"}
    result = run(gone, "import", "--preset", "standard")
    assert result.exit_code == 1
    assert result.output.startswith("Error: the org could not be asked:")
    assert run(env, "list").output.startswith("No mappings saved yet.")


def test_unknown_versions_and_bad_usage(env: Env) -> None:
    result = run(env, "show", "salesforce_cpq")
    assert (result.exit_code, result.output) == (1, "Error: no mapping 'salesforce_cpq' is saved\n")
    run(env, "import", "--preset", "standard")
    assert run(env, "export", "standard", "--version", "4").output == "Error: mapping 'standard' has no version 4\n"
    assert run(env, "diff", "standard", "1", "4").exit_code == 1
    assert run(env, "validate").exit_code == 2
    assert run(env, "import").exit_code == 2
