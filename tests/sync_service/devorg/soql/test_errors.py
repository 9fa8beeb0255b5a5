"""Errors in Salesforce's codes and caret layout."""

from __future__ import annotations

import pytest

from sync_service.devorg.errors import ApiError
from tests.sync_service.devorg.soql import records as r
from tests.sync_service.devorg.soql.records import run


def error_of(soql: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        run(soql)
    assert caught.value.status == 400
    return caught.value


def caret_column(err: ApiError) -> int:
    """The column Salesforce's message names, checked against the caret line."""
    lines = err.message.split("\n")
    assert lines[0] == ""
    column = int(lines[3].removeprefix("ERROR at Row:1:Column:"))
    assert lines[2] == " " * (column - 1) + "^"
    return column


@pytest.mark.parametrize(
    ("soql", "token", "column"),
    [
        ("SELECT Id FORM Contract", "'FORM'", 11),
        ("SELECT Id FROM Contract WHERE", "<EOF>", 30),
        ("SELECT Id FROM Contract WHERE Name = 'a' AND Name = 'b' OR Name = 'c'", "'OR'", 57),
        ("SELECT Id FROM Contract WHERE Name = 'a' OR Name = 'b' AND Name = 'c'", "'AND'", 56),
        ("SELECT FROM Contract", "'FROM'", 8),
        ("SELECT Id, FROM Contract", "'FROM'", 12),
        ("SELECT Id FROM Contract LIMIT x", "'x'", 31),
        ("SELECT Id FROM Contract ORDER Id", "'Id'", 31),
        ("SELECT Id FROM Contract WHERE Name = foo", "'foo'", 38),
        ("SELECT Id FROM Contract WHERE Name = :name", "':'", 38),
        ("SELECT * FROM Contract", "'*'", 8),
        ("SELECT Id FROM Task WHERE TYPEOF", "<EOF>", 33),
        ("SELECT TYPEOF What WHEN Account THEN Name END FROM Task", "'TYPEOF'", 8),
        ("SELECT Id FROM Contract WHERE (Name = 'a'", "<EOF>", 42),
    ],
)
def test_syntax_errors_point_at_the_offending_token(soql: str, token: str, column: int) -> None:
    err = error_of(soql)
    assert err.error_code == "MALFORMED_QUERY"
    assert err.message.endswith(f"unexpected token: {token}")
    assert caret_column(err) == column
    assert err.message.split("\n")[1] == soql


def test_bad_string_escape_and_unterminated_string() -> None:
    assert error_of("SELECT Id FROM Account WHERE Name = 'a\\x'").error_code == "MALFORMED_QUERY"
    assert error_of("SELECT Id FROM Account WHERE Name = 'abc").error_code == "MALFORMED_QUERY"


def test_unknown_field() -> None:
    err = error_of("SELECT Id, Renewal_Letter__c FROM Contract")
    assert err.error_code == "INVALID_FIELD"
    assert err.message.endswith(
        "No such column 'Renewal_Letter__c' on entity 'Contract'. If you are attempting to use a custom field, be "
        "sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for "
        "the appropriate names."
    )
    assert caret_column(err) == 12


def test_unknown_field_in_where_order_and_parent() -> None:
    assert caret_column(error_of("SELECT Id FROM Contract WHERE Foo__c = 1")) == 31
    assert "on entity 'Account'" in error_of("SELECT Account.Foo FROM Contract").message
    assert error_of("SELECT Id FROM Contract ORDER BY Foo").error_code == "INVALID_FIELD"
    assert "on entity 'Name'" in error_of("SELECT What.Nonexistent FROM Task").message


def test_unknown_parent_relationship() -> None:
    err = error_of("SELECT Acount.Name FROM Contract")
    assert err.error_code == "INVALID_FIELD"
    assert err.message.endswith(
        "Didn't understand relationship 'Acount' in field path. If you are attempting to use a custom relationship, "
        "be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe "
        "call for the appropriate names."
    )
    assert caret_column(err) == 8
    assert "relationship 'AccountId'" in error_of("SELECT AccountId.Name FROM Contract").message
    assert "relationship 'Owner'" in error_of("SELECT What.Owner.Name FROM Task").message


def test_unknown_object() -> None:
    err = error_of("SELECT Id FROM Contrakt")
    assert err.error_code == "INVALID_TYPE"
    assert err.message.endswith(
        "sObject type 'Contrakt' is not supported. If you are attempting to use a custom object, be sure to append "
        "the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."
    )
    assert caret_column(err) == 16
    assert error_of("SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Nope__c)").error_code == "INVALID_TYPE"


def test_unknown_child_relationship() -> None:
    err = error_of("SELECT Id, (SELECT Id FROM Contact) FROM Account")
    assert err.error_code == "INVALID_TYPE"
    assert "Didn't understand relationship 'Contact' in FROM part of query call." in err.message
    assert caret_column(err) == 28


@pytest.mark.parametrize(
    ("where", "field", "kind"),
    [
        ("EndDate = 'abc'", "EndDate", "date and should not be enclosed in quotes"),
        ("EndDate = 2026-01-01T00:00:00Z", "EndDate", "date and should not be enclosed in quotes"),
        ("CreatedDate > 2024-01-01", "CreatedDate", "dateTime and should not be enclosed in quotes"),
        ("Auto_Renew__c = 5", "Auto_Renew__c", "boolean and should not be enclosed in quotes"),
        ("Auto_Renew__c = 'true'", "Auto_Renew__c", "boolean and should not be enclosed in quotes"),
        ("ContractTerm = '12'", "ContractTerm", "integer and should not be enclosed in quotes"),
        ("Total_Contract_Value__c > TODAY", "Total_Contract_Value__c", "double and should not be enclosed in quotes"),
        ("Status = 5", "Status", "string and should be enclosed in quotes"),
        ("AccountId = 5", "AccountId", "id and should be enclosed in quotes"),
        ("Status IN ('Draft', 5)", "Status", "string and should be enclosed in quotes"),
    ],
)
def test_wrongly_typed_literals(where: str, field: str, kind: str) -> None:
    err = error_of(f"SELECT Id FROM Contract WHERE {where}")
    assert err.error_code == "INVALID_FIELD"
    assert err.message.endswith(f"value of filter criterion for field '{field}' must be of type {kind}")


def test_invalid_id_literal() -> None:
    err = error_of("SELECT Id FROM Contract WHERE AccountId = 'not-an-id'")
    assert err.error_code == "INVALID_QUERY_FILTER_OPERATOR"
    assert err.message.endswith("invalid ID field: not-an-id")


def test_operator_not_valid_for_the_field_type() -> None:
    assert (
        error_of("SELECT Id FROM Contract WHERE ContractTerm LIKE '1%'").error_code == "INVALID_QUERY_FILTER_OPERATOR"
    )
    assert error_of("SELECT Id FROM Contract WHERE Status INCLUDES ('a')").error_code == "INVALID_QUERY_FILTER_OPERATOR"
    assert error_of("SELECT Id FROM Contract WHERE Auto_Renew__c > true").error_code == "INVALID_QUERY_FILTER_OPERATOR"


def test_content_document_link_needs_an_id_filter() -> None:
    message = (
        "Implementation restriction: ContentDocumentLink requires a filter by a single Id on ContentDocumentId or "
        "LinkedEntityId using the equals operator or multiple Id's using the IN operator."
    )
    for soql in (
        "SELECT Id FROM ContentDocumentLink",
        "SELECT Id FROM ContentDocumentLink WHERE ShareType = 'V'",
        f"SELECT Id FROM ContentDocumentLink WHERE LinkedEntityId != '{r.CONTRACT_1}'",
        f"SELECT Id FROM ContentDocumentLink WHERE LinkedEntityId = '{r.CONTRACT_1}' OR ShareType = 'V'",
    ):
        err = error_of(soql)
        assert (err.error_code, err.message) == ("MALFORMED_QUERY", message)
    ok = run(f"SELECT Id FROM ContentDocumentLink WHERE ShareType = 'V' AND LinkedEntityId IN ('{r.CONTRACT_1}')")
    assert ok.total_size == 1
    assert run(f"SELECT Id FROM ContentDocumentLink WHERE ContentDocumentId = '{r.DOC_1}'").total_size == 1


@pytest.mark.parametrize(
    ("soql", "name"),
    [
        ("SELECT Id FROM Account WHERE Description = 'x'", "Description"),
        ("SELECT Id FROM Account WHERE Name = 'a' AND (Description LIKE '%x%')", "Description"),
        ("SELECT Id FROM Document WHERE Body != null", "Body"),
        ("SELECT Id FROM Attachment WHERE Parent.Name = 'x' AND Body = null", "Body"),
    ],
)
def test_unfilterable_fields(soql: str, name: str) -> None:
    err = error_of(soql)
    assert err.error_code == "INVALID_FIELD"
    assert err.message.endswith(f"field '{name}' can not be filtered in a query call")
    caret_column(err)


def test_unsortable_and_ungroupable_fields() -> None:
    assert error_of("SELECT Id FROM Account ORDER BY Description").message.endswith(
        "field 'Description' can not be sorted in a query call"
    )
    assert error_of("SELECT AnnualRevenue, COUNT(Id) FROM Account GROUP BY AnnualRevenue").message.endswith(
        "field 'AnnualRevenue' can not be grouped in a query call"
    )


def test_select_list_rules() -> None:
    assert error_of("SELECT Id, Id FROM Account").message.endswith("duplicate field selected: Id")
    assert error_of("SELECT Name x FROM Account").error_code == "MALFORMED_QUERY"
    assert error_of("SELECT Name, COUNT(Id) FROM Account").message.endswith("Field must be grouped or aggregated: Name")
    assert error_of("SELECT COUNT(), Name FROM Account").error_code == "MALFORMED_QUERY"
    assert error_of("SELECT SUM(Name) FROM Account").error_code == "MALFORMED_QUERY"
    assert error_of("SELECT Id FROM Account WHERE COUNT(Id) > 1").error_code == "MALFORMED_QUERY"
    assert error_of("SELECT Id, (SELECT COUNT() FROM Contacts) FROM Account").error_code == "MALFORMED_QUERY"


def test_offset_limit() -> None:
    err = error_of("SELECT Id FROM Account LIMIT 10 OFFSET 2001")
    assert err.error_code == "NUMBER_OUTSIDE_VALID_RANGE"
    assert run("SELECT Id FROM Account LIMIT 10 OFFSET 2000").total_size == 0
