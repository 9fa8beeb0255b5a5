"""Targeted edits of a mapping's YAML: one value changed, added or removed, every other character kept."""

from __future__ import annotations

import difflib

import pytest
import yaml

from mappings.loader import load, preset_text
from mappings.yamledit import EditRefused, scalar_text, set_field, set_object

CPQ = preset_text("salesforce_cpq")


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_changing_a_field_rewrites_only_its_value() -> None:
    edited = set_field(CPQ, "contract", "amount", "SBQQ__RenewalUpliftRate__c")
    assert changed_lines(CPQ, edited) == [
        "-      amount: Total_Contract_Value__c",
        "+      amount: SBQQ__RenewalUpliftRate__c",
    ]
    assert edited.startswith("# Salesforce CPQ (SBQQ)")  # comments stay
    assert load(edited).entities["contract"].fields["amount"].field == "SBQQ__RenewalUpliftRate__c"


def test_a_field_with_a_transform_keeps_it() -> None:
    edited = set_field(CPQ, "account", "is_reseller", "Industry")
    assert changed_lines(CPQ, edited) == ["-        field: Type", "+        field: Industry"]
    assert load(edited).entities["account"].fields["is_reseller"].transform is not None


def test_unmapping_removes_the_key_and_mapping_again_adds_it_after_the_last_field() -> None:
    removed = set_field(CPQ, "contract", "auto_renew", None)
    assert changed_lines(CPQ, removed) == ["-      auto_renew: Auto_Renew__c"]
    added = set_field(removed, "contract", "auto_renew", "Auto_Renew__c")
    assert added == CPQ
    transform_gone = set_field(CPQ, "account", "is_reseller", None)
    assert "is_reseller" not in load(transform_gone).entities["account"].fields
    assert "transform: {map: {Reseller" not in transform_gone


def test_a_field_is_added_at_the_end_of_a_file_without_a_final_newline() -> None:
    text = "name: x\nentities:\n  contract:\n    object: Contract\n    fields:\n      number: ContractNumber"
    assert set_field(text, "contract", "amount", "A") == text + "\n      amount: A\n"


def test_flow_style_mappings_are_edited_in_place() -> None:
    text = "name: x\nentities:\n  contract: {object: Contract, fields: {number: N, status: S}}  # kept\n"
    assert set_field(text, "contract", "amount", "A").splitlines()[2] == (
        "  contract: {object: Contract, fields: {number: N, status: S, amount: A}}  # kept"
    )
    assert "fields: {status: S}" in set_field(text, "contract", "number", None)
    assert "fields: {number: N}" in set_field(text, "contract", "status", None)
    assert "object: Account," in set_object(text, "contract", "Account")


def test_values_that_are_not_api_names_are_quoted() -> None:
    assert scalar_text("EndDate") == "EndDate"
    assert scalar_text("Account.Owner.Email") == "Account.Owner.Email"
    assert scalar_text("yes") == '"yes"'
    assert scalar_text("null") == '"null"'
    assert scalar_text("a, b: {c}") == '"a, b: {c}"'
    assert scalar_text("x\n- y") == '"x\\n- y"'
    for value in ("yes", "a, b: {c}", "x\n- y", "#comment", "Ünïcode"):
        edited = set_field(CPQ, "contract", "amount", value)
        assert yaml.safe_load(edited)["entities"]["contract"]["fields"]["amount"] == value


def test_what_cannot_be_spliced_is_refused() -> None:
    constant = CPQ.replace("currency: CurrencyIsoCode\n      auto_renew", "currency: {constant: EUR}\n      auto_renew")
    with pytest.raises(EditRefused, match="constant"):
        set_field(constant, "contract", "currency", "CurrencyIsoCode")
    aliased = (
        "name: x\nentities:\n  contract:\n    object: Contract\n    fields: &f\n      number: N\n"
        "  rep:\n    object: User\n    fields: *f\n"
    )
    with pytest.raises(EditRefused, match="alias"):
        set_field(aliased, "contract", "number", "M")
    with pytest.raises(EditRefused, match="no entity"):
        set_field(CPQ, "nothing", "number", "M")
    with pytest.raises(EditRefused, match="does not parse"):
        set_field("name: [x", "contract", "number", "M")
