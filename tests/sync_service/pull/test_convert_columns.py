"""A Bulk CSV column converts to exactly what the value-by-value conversion makes of each cell, and a cell that
conversion refuses is refused with the same reason, whatever the column's fast path does."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings.model import CanonicalField, FieldMap
from sync_service.pull.convert import TextColumn, ValueProblem, canonical_value, convert_column, modstamps, sf_datetime
from sync_service.pull.fetch import _lines

CELLS = {
    "text": st.sampled_from(["", "Acme", "0", "false", " spaced ", "Ünïcödé"]),
    "decimal": st.sampled_from(["", "12", "12.50", "-0.01", "1e3", "NaN", "abc", " 7 ", "1,5"]),
    "date": st.sampled_from(["", "2024-05-07", "2024-02-30", "07/05/2024", "2024-05-07T09:30:00.000+0000"]),
    "bool": st.sampled_from(["", "true", "false", "TRUE", "1", "0", "yes", "no", "maybe"]),
}


def _one_by_one(cells: list[str], spec: FieldMap, canonical: CanonicalField) -> tuple[list[Any], dict[int, str]]:
    out: list[Any] = []
    problems: dict[int, str] = {}
    for i, cell in enumerate(cells):
        try:
            out.append(canonical_value({"F": cell}, spec, canonical))
        except ValueProblem as exc:
            out.append(None)
            problems[i] = str(exc)
    return out, problems


@pytest.mark.parametrize("kind", sorted(CELLS))
@given(data=st.data())
def test_a_bulk_column_converts_as_its_cells_do_one_by_one(kind: str, data: st.DataObject) -> None:
    cells = data.draw(st.lists(CELLS[kind], max_size=12))
    spec, canonical = FieldMap(field="F"), CanonicalField(kind)  # type: ignore[arg-type]
    expected = repr(_one_by_one(cells, spec, canonical))  # repr: Decimal("NaN") is not equal to itself
    assert repr(convert_column(TextColumn(cells), spec, canonical)) == expected
    assert repr(convert_column(cells, spec, canonical)) == expected


@given(st.lists(st.sampled_from(["", "2024-05-07T09:30:00.000+0000", "2024-05-07T09:30:00.000Z"]), max_size=8))
def test_bulk_stamps_parse_as_salesforce_datetimes(cells: list[str]) -> None:
    expected = [sf_datetime(cell) for cell in cells]
    assert modstamps([TextColumn(cells)], len(cells)) == expected


@given(st.lists(st.lists(st.text(alphabet='ab,"\n\r \u2028\x0c', max_size=6), min_size=1, max_size=3), max_size=6))
def test_bulk_pages_are_read_line_by_line_as_the_csv_module_reads_the_whole_text(rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    text = buffer.getvalue()
    try:
        expected = list(csv.reader(io.StringIO(text)))
    except csv.Error:  # a bare carriage return the writer left unquoted: unreadable either way
        with pytest.raises(csv.Error):
            list(csv.reader(_lines(text)))
        return
    assert list(csv.reader(_lines(text))) == expected
