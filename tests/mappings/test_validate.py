"""Validation against a real stand-in org's describe(): every kind of problem, each with the mapping line, the
dotted path and a "did you mean" where one exists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce

from mappings.loader import load, preset, preset_text
from mappings.org import describer, object_names, validate_in_org
from mappings.validate import validate
from sync_service.salesforce.client import connect
from tests.mappings.helpers import FLAVOURS, cpq_yaml, edited, line_of, only, problems_in
from tests.standin_org import RunningOrg, start_org, stop_org


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_each_preset_validates_clean_against_its_flavours_org(
    flavour: str, flavour_orgs: dict[str, RunningOrg]
) -> None:
    sf = connect(flavour_orgs[flavour].connection())
    assert validate_in_org(preset(flavour), sf) == []


def test_unknown_object(cpq_sf: Salesforce) -> None:
    text = cpq_yaml(("    object: SBQQ__QuoteLine__c", "    object: SBQQ__QuoteLines__c"))
    problem = only(problems_in(cpq_sf, text), "entities.quote_line.object")
    assert problem.message == "the org has no object SBQQ__QuoteLines__c"
    assert problem.suggestion == "SBQQ__QuoteLine__c"
    assert problem.line == line_of(text, "object: SBQQ__QuoteLines__c")
    assert str(problem) == (
        f"line {problem.line}: entities.quote_line.object: the org has no object SBQQ__QuoteLines__c "
        "(did you mean SBQQ__QuoteLine__c?)"
    )


def test_an_object_spelt_in_another_case(cpq_sf: Salesforce) -> None:
    text = cpq_yaml(("    object: Contract\n", "    object: contract\n"))
    problem = only(problems_in(cpq_sf, text), "entities.contract.object")
    assert (problem.message, problem.suggestion) == ("the org spells the object Contract", "Contract")


def test_unknown_field(cpq_sf: Salesforce) -> None:
    text = cpq_yaml(("      end_date: EndDate", "      end_date: EndDat"))
    [problem] = problems_in(cpq_sf, text)
    assert problem.path == "entities.contract.fields.end_date"
    assert problem.message == "Contract has no field EndDat"
    assert problem.suggestion == "EndDate"
    assert problem.line == line_of(text, "end_date: EndDat")


def test_a_field_spelt_in_another_case(cpq_sf: Salesforce) -> None:
    text = cpq_yaml(("      end_date: EndDate", "      end_date: enddate"))
    [problem] = problems_in(cpq_sf, text)
    assert (problem.message, problem.suggestion) == ("the org spells the field EndDate", "EndDate")


def test_a_relationship_where_a_field_belongs(cpq_sf: Salesforce) -> None:
    text = cpq_yaml(("      account: AccountId\n      contact:", "      account: Account\n      contact:"))
    [problem] = problems_in(cpq_sf, text)
    assert problem.path == "entities.contract.fields.account"
    assert "Account is a relationship on Contract, not a field" in problem.message
    assert problem.suggestion == "AccountId"


@pytest.mark.parametrize(
    ("path", "message", "suggestion"),
    [
        ("Account.Ownr.Email", "broken relationship path: Account has no relationship Ownr", "Account.Owner.Email"),
        ("Account.Owner.Emial", "User has no field Emial", "Account.Owner.Email"),
        (
            "Reseller__c.Name",
            "broken relationship path: Reseller__c is a lookup field; across it, use its relationship Reseller__r",
            "Reseller__r.Name",
        ),
        ("account.Name", "the org spells the relationship Account", "Account.Name"),
        ("Status.Name", "broken relationship path: Contract has no relationship Status", None),
        ("Account..Name", "'Account..Name' is not a field path (API names joined by dots)", None),
        (
            "Account.Parent.Parent.Parent.Parent.Parent.Name",
            "'Account.Parent.Parent.Parent.Parent.Parent.Name' follows more than 5 relationships, which SOQL does "
            "not allow",
            None,
        ),
    ],
)
def test_broken_relationship_paths(cpq_sf: Salesforce, path: str, message: str, suggestion: str | None) -> None:
    text = cpq_yaml(("      status: Status\n", f"      status: {path}\n"))
    [problem] = problems_in(cpq_sf, text)
    assert problem.path == "entities.contract.fields.status"
    assert (problem.message, problem.suggestion) == (message, suggestion)
    assert problem.line == line_of(text, f"status: {path}")


def test_a_working_relationship_path_is_accepted(cpq_sf: Salesforce) -> None:
    text = cpq_yaml(("      status: Status\n", "      status: Account.Parent.Owner.Manager.Email\n"))
    assert problems_in(cpq_sf, text) == []


def test_polymorphic_hops_allow_only_id_name_and_type(cpq_sf: Salesforce) -> None:
    text = cpq_yaml(
        ("    object: SBQQ__QuoteDocument__c", "    object: ContentVersion"),
        ("      quote: SBQQ__Quote__c\n      document_id", "      quote: FirstPublishLocationId\n      document_id"),
        ("      document_id: SBQQ__DocumentId__c", "      document_id: Id"),
        ("      title: Name\n", "      title: FirstPublishLocation.Name\n"),
        ("    source: Document", "    source: ContentVersion"),
    )
    assert problems_in(cpq_sf, text) == []
    broken = text.replace("title: FirstPublishLocation.Name", "title: FirstPublishLocation.Owner.Name")
    [problem] = problems_in(cpq_sf, broken)
    assert problem.path == "entities.quote_document.fields.title"
    assert problem.message.startswith("broken relationship path: FirstPublishLocation is polymorphic (Account, ")
    assert problem.message.endswith("only Id, Name, Type can be read across it")
    misspelt = text.replace("title: FirstPublishLocation.Name", "title: FirstPublishLocation.Nmae")
    assert problems_in(cpq_sf, misspelt)[0].suggestion == "FirstPublishLocation.Name"


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            ("      amount: Total_Contract_Value__c", "      amount: Status"),
            "entities.contract.fields.amount",
            "wrong type: Status is a picklist field, which cannot feed a decimal field; a text field holding numbers "
            "needs transform: {number: true}",
        ),
        (
            ("      end_date: EndDate", "      end_date: Name"),
            "entities.contract.fields.end_date",
            "wrong type: Name is a string field, which cannot feed a date field; a text field holding dates needs "
            "transform: {date_format: '%d.%m.%Y'}",
        ),
        (
            ("      auto_renew: Auto_Renew__c", "      auto_renew: ContractTerm"),
            "entities.contract.fields.auto_renew",
            "wrong type: ContractTerm is a int field, which cannot feed a bool field",
        ),
        (
            ("      account: AccountId\n      contact:", "      account: Name\n      contact:"),
            "entities.contract.fields.account",
            "wrong type: Name is a string field, which cannot feed a ref field",
        ),
        (
            ("      number: ContractNumber", "      number: StartDate"),
            "entities.contract.fields.number",
            "wrong type: StartDate is a date field, which cannot feed a text field",
        ),
        (
            ("      end_date: EndDate", "      end_date: {field: EndDate, transform: {date_format: '%d.%m.%Y'}}"),
            "entities.contract.fields.end_date",
            "wrong type: EndDate is a date field, which is not text: date_format and number only parse text",
        ),
        (
            ("      amount: Total_Contract_Value__c", "      amount: {field: Name, transform: {date_format: '%Y'}}"),
            "entities.contract.fields.amount.transform",
            "date_format only applies to date fields, and this is a decimal field",
        ),
        (
            (
                "      auto_renew: Auto_Renew__c",
                "      auto_renew: {field: Status, transform: {map: {Activated: 'Y'}}}",
            ),
            "entities.contract.fields.auto_renew.transform",
            "transform maps 'Activated' to 'Y', which is not a bool value",
        ),
        (
            ("      auto_renew: Auto_Renew__c", "      auto_renew: {constant: 'no'}"),
            "entities.contract.fields.auto_renew",
            "the constant 'no' is not a bool value",
        ),
        (
            ("      start_date: StartDate", "      start_date: {constant: '2026-02-30'}"),
            "entities.contract.fields.start_date",
            "the constant '2026-02-30' is not a date value",
        ),
    ],
)
def test_wrong_types(cpq_sf: Salesforce, change: tuple[str, str], path: str, message: str) -> None:
    text = cpq_yaml(change)
    problem = only(problems_in(cpq_sf, text), path)
    assert problem.message == message
    assert problem.line == line_of(text, change[1].strip().splitlines()[0])


@pytest.mark.parametrize(
    "change",
    [
        ("      end_date: EndDate", "      end_date: {field: Name, transform: {date_format: '%d.%m.%Y'}}"),
        ("      amount: Total_Contract_Value__c", "      amount: {field: Name, transform: {number: true}}"),
        ("      auto_renew: Auto_Renew__c", "      auto_renew: {field: Status, transform: {map: {Activated: true}}}"),
        ("      auto_renew: Auto_Renew__c", "      auto_renew: {constant: false}"),
        ("      end_date: EndDate", "      end_date: ActivatedDate"),
        ("      number: ContractNumber", "      number: Status"),
    ],
)
def test_transforms_and_compatible_types_bridge_types(cpq_sf: Salesforce, change: tuple[str, str]) -> None:
    assert problems_in(cpq_sf, cpq_yaml(change)) == []


def test_a_ref_must_point_at_the_referenced_entitys_object(cpq_sf: Salesforce) -> None:
    text = cpq_yaml(("      reseller: Reseller__c", "      reseller: CustomerSignedId"))
    [problem] = problems_in(cpq_sf, text)
    assert problem.path == "entities.contract.fields.reseller"
    assert problem.message == "CustomerSignedId points at Contact, not Account (the account entity's object)"
    text = cpq_yaml(("      contract: SBQQ__MasterContract__c", "      contract: SBQQ__Opportunity2__c"))
    [problem] = problems_in(cpq_sf, text)
    assert problem.message == "SBQQ__Opportunity2__c points at Opportunity, not Contract (the contract entity's object)"


def test_a_document_id_must_point_at_the_document_source(cpq_sf: Salesforce) -> None:
    text = cpq_yaml(("      document_id: SBQQ__DocumentId__c", "      document_id: SBQQ__Quote__c"))
    [problem] = problems_in(cpq_sf, text)
    assert problem.path == "entities.quote_document.fields.document_id"
    assert problem.message == "SBQQ__Quote__c points at SBQQ__Quote__c, not Document (the document source)"


def test_a_renamed_field_breaks_the_mapping_with_a_did_you_mean_naming_the_new_field(tmp_path: Path) -> None:
    org = start_org(tmp_path, "--seed-contracts", "5", "--flavour", "salesforce_cpq")
    try:
        sf = connect(org.connection())
        mapping = preset("salesforce_cpq")
        assert validate_in_org(mapping, sf) == []
        org.admin(
            "POST",
            "schema",
            {"op": "rename", "object": "Contract", "field": "Total_Contract_Value__c", "new_name": "TCV__c"},
        )
        [problem] = validate_in_org(mapping, connect(org.connection()))
        assert problem.path == "entities.contract.fields.amount"
        assert problem.message == "Contract has no field Total_Contract_Value__c"
        assert problem.suggestion == "TCV__c"
        assert problem.line == mapping.line_of("entities.contract.fields.amount")
    finally:
        stop_org(org)


@pytest.mark.parametrize(
    ("scope", "message", "suggestion"),
    [
        (
            "Statuss = 'Activated'",
            "invalid scope filter at column 1 of the filter: INVALID_FIELD: No such column 'Statuss' on entity "
            "'Contract'.",
            "Status",
        ),
        ("Status = ", "invalid scope filter: MALFORMED_QUERY: unexpected token: ')'", None),
        ("Status = 'Activated' ORDER BY Name", "invalid scope filter", None),
    ],
)
def test_an_invalid_scope_filter_carries_salesforces_message(
    cpq_sf: Salesforce, scope: str, message: str, suggestion: str | None
) -> None:
    text = cpq_yaml(("    scope: \"Status = 'Activated'\"", f'    scope: "{scope}"'))
    [problem] = problems_in(cpq_sf, text)
    assert problem.path == "entities.contract.scope"
    assert problem.message.startswith(message)
    assert problem.suggestion == suggestion
    assert problem.line == line_of(text, f'scope: "{scope}"')


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        (
            "Status = 'Activated') OR (Status = 'Draft'",
            "invalid scope filter: the ')' at column 21 closes a parenthesis the filter did not open",
        ),
        ("(Status = 'Activated'", "invalid scope filter: a '(' is not closed"),
        ("Status = 'Activated", "invalid scope filter: a quoted value is not closed"),
    ],
)
def test_a_scope_filter_cannot_break_out_of_the_parentheses_the_pull_puts_it_in(
    cpq_sf: Salesforce, scope: str, message: str
) -> None:
    # Valid SOQL on its own (the org accepts the first as `WHERE (…) OR (…)`), but the pull's queries AND it
    # with their own conditions and negate it to find records that left the scope.
    text = cpq_yaml(("    scope: \"Status = 'Activated'\"", f'    scope: "{scope}"'))
    problem = only(problems_in(cpq_sf, text), "entities.contract.scope")
    assert problem.message == message
    assert problem.line == line_of(text, f'scope: "{scope}"')
    # Without an org to ask, the check still applies.
    assert [p.message for p in validate(load(text), describer(cpq_sf))] == [message]


def test_parentheses_and_quotes_inside_quoted_values_are_text() -> None:
    from mappings.validate import _unbalanced

    assert _unbalanced("Name = 'a) OR (b' AND (Status = 'it\\'s (')") is None


def test_a_name_followed_by_a_newline_is_not_an_api_name(cpq_sf: Salesforce) -> None:
    calls: list[str] = []

    def describe(name: str) -> dict[str, Any] | None:
        calls.append(name)
        return describer(cpq_sf)(name.strip())

    problems = validate(load(cpq_yaml(("    object: Contract\n", '    object: "Contract\\n"\n'))), describe)
    assert only(problems, "entities.contract.object").message == "the org has no object Contract\n"
    assert "Contract\n" not in calls


def test_scope_filters_are_checked_only_with_a_query_function(cpq_sf: Salesforce) -> None:
    mapping = load(cpq_yaml(("    scope: \"Status = 'Activated'\"", '    scope: "Statuss = 1"')))
    assert validate(mapping, describer(cpq_sf)) == []


def test_write_back_problems(cpq_sf: Salesforce) -> None:
    text = cpq_yaml(
        ("    - object: SBQQ__Quote__c\n", "    - object: SBQQ__Qoute__c\n"),
        ("      set: {StageName: Closed Won}", "      set: {StageName: Closed Wonn, IsWon: true, Stagename: x}"),
    )
    problems = {p.path: p for p in problems_in(cpq_sf, text)}
    assert set(problems) == {
        "write_back.renew.0.object",
        "write_back.renew.1.set.StageName",
        "write_back.renew.1.set.IsWon",
        "write_back.renew.1.set.Stagename",
    }
    unknown = problems["write_back.renew.0.object"]
    assert (unknown.message, unknown.suggestion) == ("the org has no object SBQQ__Qoute__c", "SBQQ__Quote__c")
    assert unknown.line == line_of(text, "- object: SBQQ__Qoute__c")
    stage = problems["write_back.renew.1.set.StageName"]
    assert stage.message.startswith("'Closed Wonn' is not a value of the picklist StageName (Prospecting, ")
    assert stage.suggestion == "Closed Won"
    assert (
        problems["write_back.renew.1.set.IsWon"].message
        == "Opportunity.IsWon is not updateable (read-only or calculated)"
    )
    assert problems["write_back.renew.1.set.Stagename"].suggestion == "StageName"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{Nope__c: 1}", "Opportunity has no field Nope__c"),
        ("{SBQQ__Contracted__c: 'yes'}", "SBQQ__Contracted__c is a checkbox: true or false"),
        ("{Amount: ten}", "Amount is a number field (currency)"),
        ("{CloseDate: tomorrow}", "CloseDate is a date: YYYY-MM-DD"),
        ("{NextStep: 5}", "NextStep is a text field; quote the value"),
        ("{}", "the action sets no field"),
    ],
)
def test_write_back_values_must_fit_their_fields(cpq_sf: Salesforce, value: str, message: str) -> None:
    text = cpq_yaml(("      set: {StageName: Closed Won}", f"      set: {value}"))
    [problem] = problems_in(cpq_sf, text)
    assert problem.path.startswith("write_back.renew.1.set")
    assert problem.message == message


@pytest.mark.parametrize(
    ("record", "path", "message", "suggestion"),
    [
        (
            "renewal_quote.SBQQ__Opportunity__c",
            "write_back.renew.1.record",
            "invalid record path renewal_quote.SBQQ__Opportunity__c: SBQQ__Quote__c has no field SBQQ__Opportunity__c",
            "renewal_quote.SBQQ__Opportunity2__c",
        ),
        (
            "renewal_quote.Name",
            "write_back.renew.1.record",
            "invalid record path renewal_quote.Name: SBQQ__Quote__c.Name is a string field, not a lookup",
            None,
        ),
        (
            "renewal_quotes",
            "write_back.renew.1.record",
            "invalid record path renewal_quotes: name contract, renewal_quote, or a lookup field on one of them such "
            "as renewal_quote.OpportunityId",
            "renewal_quote",
        ),
        (
            "renewal_quote.SBQQ__MasterContract__c",
            "write_back.renew.1.object",
            "the record renewal_quote.SBQQ__MasterContract__c is a Contract, not a Opportunity",
            "Contract",
        ),
        (
            "contract",
            "write_back.renew.1.object",
            "the record contract is a Contract, not a Opportunity",
            "Contract",
        ),
    ],
)
def test_write_back_record_paths(
    cpq_sf: Salesforce, record: str, path: str, message: str, suggestion: str | None
) -> None:
    text = cpq_yaml(("      record: renewal_quote.SBQQ__Opportunity2__c", f"      record: {record}"))
    [problem] = problems_in(cpq_sf, text)
    assert (problem.path, problem.message, problem.suggestion) == (path, message, suggestion)
    assert problem.line == line_of(text, "- object: Opportunity" if path.endswith("object") else f"record: {record}")


def test_contact_rep_actions_are_checked_like_renew(cpq_sf: Salesforce) -> None:
    text = cpq_yaml(
        (
            "  tasks:\n",
            "  contact_rep:\n    - object: Contract\n      record: contract\n      set: {Status: Open}\n  tasks:\n",
        )
    )
    [problem] = problems_in(cpq_sf, text)
    assert problem.path == "write_back.contact_rep.0.set.Status"
    assert problem.message.startswith("'Open' is not a value of the picklist Status")


@pytest.mark.parametrize(
    ("change", "path", "message", "suggestion"),
    [
        (
            ("    type: Email", "    type: E-mail"),
            "write_back.tasks.type",
            "'E-mail' is not a value of the picklist Type (Call, Email, Meeting, Other)",
            "Email",
        ),
        (
            ("    subtype: Email", "    subtype: Mail"),
            "write_back.tasks.subtype",
            "'Mail' is not a value of the picklist TaskSubtype (Task, Email, ListEmail, Cadence, Call, LinkedIn)",
            "Email",
        ),
        (
            ("    status: Completed", "    status: Done"),
            "write_back.tasks.status",
            "'Done' is not a value of the picklist Status (Not Started, In Progress, Completed, Waiting on someone "
            "else, Deferred)",
            None,
        ),
        (
            ("    priority: Normal", "    priority: Urgent"),
            "write_back.tasks.priority",
            "'Urgent' is not a value of the picklist Priority (High, Normal, Low)",
            None,
        ),
        (
            ("    priority: Normal", "    priority: Normal\n    contact_request_priority: Highest"),
            "write_back.tasks.contact_request_priority",
            "'Highest' is not a value of the picklist Priority (High, Normal, Low)",
            "High",
        ),
        (
            ("    what: contract", "    what: renewal_quote.SBQQ__PrimaryContact__c"),
            "write_back.tasks.what",
            "a Task's WhatId cannot point at Contact (activities not enabled); it takes Account, Opportunity, "
            "Contract, Order, SBQQ__Quote__c, Apttus__APTS_Agreement__c, Apttus_Proposal__Proposal__c",
            "contract",
        ),
        (
            ("    external_id_field: Renewals_Event_Key__c", "    external_id_field: Renewals_Event__c"),
            "write_back.tasks.external_id_field",
            "Task has no field Renewals_Event__c; set external_id_field to null if the org has no External ID field "
            "on Task",
            "Renewals_Event_Key__c",
        ),
        (
            ("    external_id_field: Renewals_Event_Key__c", "    external_id_field: Subject"),
            "write_back.tasks.external_id_field",
            "Task.Subject is not flagged External ID; flag it in Setup, or set external_id_field to null",
            None,
        ),
    ],
)
def test_task_conventions(
    cpq_sf: Salesforce, change: tuple[str, str], path: str, message: str, suggestion: str | None
) -> None:
    text = cpq_yaml(change)
    [problem] = problems_in(cpq_sf, text)
    assert (problem.path, problem.message, problem.suggestion) == (path, message, suggestion)
    assert problem.line == line_of(text, change[1].strip().split("\n")[-1])


def test_task_conventions_that_the_org_accepts(cpq_sf: Salesforce) -> None:
    text = cpq_yaml(
        ("    what: contract", "    what: renewal_quote.SBQQ__Opportunity2__c"),
        ("    subtype: Email", "    subtype: null"),
        ("    external_id_field: Renewals_Event_Key__c", "    external_id_field: null"),
    )
    assert problems_in(cpq_sf, text) == []


def test_an_external_id_field_is_a_problem_only_when_named(tmp_path: Path) -> None:
    org = start_org(tmp_path, "--seed-contracts", "2", "--flavour", "standard", "--no-task-external-id")
    try:
        sf = connect(org.connection())
        [problem] = validate_in_org(preset("standard"), sf)
        assert problem.path == "write_back.tasks.external_id_field"
        assert "set external_id_field to null" in problem.message
        text = edited(preset_text("standard"), ("external_id_field: Renewals_Event_Key__c", "external_id_field: null"))
        assert validate_in_org(load(text), sf) == []
    finally:
        stop_org(org)


def test_objects_are_described_once_and_unknown_names_not_at_all(cpq_sf: Salesforce) -> None:
    calls: list[str] = []
    describe_org = describer(cpq_sf)

    def counting(name: str) -> dict[str, Any] | None:
        calls.append(name)
        return describe_org(name)

    mapping = load(cpq_yaml(("    object: SBQQ__QuoteLine__c", "    object: Nope__c")))
    problems = validate(mapping, counting, object_names=object_names(cpq_sf))
    assert [p.path for p in problems] == ["entities.quote_line.object"]
    assert "Nope__c" not in calls
    assert len(calls) == len({c.lower() for c in calls})


def test_an_id_read_across_a_polymorphic_lookup_is_checked_against_its_targets(cpq_sf: Salesforce) -> None:
    text = edited(
        preset_text("standard"), ("      quote: FirstPublishLocationId", "      quote: FirstPublishLocation.Id")
    )
    assert problems_in(cpq_sf, text) == []
    wrong = edited(text, ("      contract: ContractId", "      contract: AccountId"))
    [problem] = problems_in(cpq_sf, wrong)
    assert problem.message == "AccountId points at Account, not Contract (the contract entity's object)"


def test_a_document_entity_must_say_where_its_bytes_are(cpq_sf: Salesforce) -> None:
    text = cpq_yaml(("    source: Document\n", ""))
    [problem] = problems_in(cpq_sf, text)
    assert problem.path == "entities.quote_document"
    assert problem.message == "say which object holds the document's bytes: source: Document or ContentVersion"


def test_a_document_source_the_store_cannot_keep_is_refused(cpq_sf: Salesforce) -> None:
    # The store keeps quote documents from Document or ContentVersion only (a check constraint): a mapping on
    # Attachment would validate, activate, then fail every pull at its first document.
    text = cpq_yaml(
        ("    source: Document\n", "    source: Attachment\n"),
        ("      document_id: SBQQ__DocumentId__c", "      document_id: SBQQ__AttachmentId__c"),
    )
    [problem] = problems_in(cpq_sf, text)
    assert problem.path == "entities.quote_document.source"
    assert problem.message == "quote documents from Attachment are not supported yet; use Document or ContentVersion"
    assert problem.line == line_of(text, "source: Attachment")
