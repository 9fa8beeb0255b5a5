"""Whatever text arrives, the engine answers with a result or an ApiError — never another exception."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_service.devorg.errors import ApiError
from tests.sync_service.devorg.soql.records import DictSource, run, sample_records
from tests.sync_service.devorg.soql.test_corpus import QUERIES

SOURCE = DictSource(sample_records())
VOCABULARY = [
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "INCLUDES", "EXCLUDES", "ORDER", "BY", "GROUP",
    "HAVING", "LIMIT", "OFFSET", "ASC", "DESC", "NULLS", "FIRST", "LAST", "WITH", "USER_MODE", "FOR", "UPDATE",
    "TYPEOF", "COUNT()", "COUNT", "SUM", "MAX", "DAY_ONLY", "convertTimezone", "toLabel", "Id", "Name", "Account",
    "Contract", "Task", "Contacts", "Account.Name", "What.Name", "What.Type", "Owner.Manager.Email", "EndDate",
    "CreatedDate", "Description", "IsPartner", "AccountId", "ContentDocumentLink", "LinkedEntityId", "x", "u",
    "=", "!=", "<>", "<", "<=", ">", ">=", "(", ")", ",", ":", "'a'", "'%b\\_'", "''", "'\\'", "5", "-1.5", "1e9",
    "99999999999999999999", "2026-02-30", "2026-11-22", "2026-11-22T10:00:00Z", "2026-11-22T10:00:00+25:00",
    "TODAY", "LAST_N_DAYS", "LAST_N_DAYS:3", "NEXT_N_YEARS:99999", "null", "TRUE", "false", "*", ";", '"', "\\",
]  # fmt: skip


def _answers(soql: str) -> None:
    try:
        run(soql, SOURCE)
    except ApiError as exc:
        assert exc.status in (400,)
        assert exc.error_code and exc.message


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text(soql: str) -> None:
    _answers(soql)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(VOCABULARY), max_size=25))
def test_token_soup(tokens: list[str]) -> None:
    _answers(" ".join(tokens))
    _answers("SELECT " + " ".join(tokens))
    _answers("SELECT Id FROM Account WHERE " + " ".join(tokens))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(QUERIES), st.integers(0, 400), st.integers(0, 12), st.sampled_from([*VOCABULARY, ""]))
def test_mutated_corpus_queries(soql: str, start: int, length: int, insert: str) -> None:
    start = min(start, len(soql))
    _answers(soql[:start] + insert + soql[start + length :])


def test_deep_nesting_is_refused_not_crashed() -> None:
    for depth in (50, 500, 5000):
        _answers("SELECT Id FROM Account WHERE " + "(" * depth + "Name = 'a'" + ")" * depth)
        _answers("SELECT Id FROM Account WHERE " + "NOT " * depth + "Name = 'a'")
        _answers("SELECT Id FROM Account WHERE Id IN (SELECT Id FROM Account WHERE " * depth)
