"""Every real-world query of the shared corpus parses, and runs or fails only on names our org lacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync_service.devorg.errors import ApiError
from sync_service.devorg.soql import parse
from tests.sync_service.devorg.soql.records import run

CORPUS = Path("/work/shared/reference/soql-corpus.txt")


def _queries() -> list[str]:
    lines = CORPUS.read_text().splitlines() if CORPUS.exists() else []
    return [line.split("  # ")[0].strip() for line in lines if line.strip()]


QUERIES = _queries()


def test_corpus_is_there() -> None:
    assert len(QUERIES) >= 60


@pytest.mark.parametrize("soql", QUERIES)
def test_corpus_query_parses(soql: str) -> None:
    parse(soql)


@pytest.mark.parametrize("soql", QUERIES)
def test_corpus_query_runs_or_names_an_unknown_field_or_object(soql: str) -> None:
    try:
        result = run(soql)
    except ApiError as exc:
        assert exc.status == 400
        assert exc.error_code in ("INVALID_FIELD", "INVALID_TYPE"), exc.message
        assert "ERROR at Row:1:Column:" in exc.message
    else:
        assert result.total_size >= 0
