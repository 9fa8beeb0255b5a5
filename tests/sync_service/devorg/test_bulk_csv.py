"""The stand-in org's Bulk CSV pages are exactly what Python's csv module writes for the cells (RFC 4180 quoting
only where needed, checkboxes as true/false, nulls empty), in every delimiter and line ending a job can ask for,
whichever way the page is built (plain joins when no cell needs quoting, the csv module otherwise)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sync_service.devorg.server import bulk

CELL = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["", "a", "a b", " lead", "x,y", 'q"', "l\nm", "r\rs", "t\tu", "p|q", "s;t", "^", "`", "Ünï"]),
)


# Columns as queries give them: any mix, text only, checkboxes and nulls, numbers.
COLUMNS = [
    CELL,
    st.sampled_from(["text only", "more text", ""]),
    st.one_of(st.none(), st.booleans(), st.sampled_from(["a", ""])),
    st.one_of(st.integers(-3, 3), st.floats(allow_nan=False, allow_infinity=False)),
]


@dataclass
class _Job:
    delimiter: str
    line_ending: str


def _csv_module(job: _Job, header: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter=bulk._DELIMITERS[job.delimiter],
        lineterminator="\r\n" if job.line_ending == "CRLF" else "\n",
        quoting=csv.QUOTE_MINIMAL,
    )
    writer.writerow(header)
    writer.writerows([[bulk._cell(v) for v in row] for row in rows])
    return buffer.getvalue()


@given(
    st.sampled_from(sorted(bulk._DELIMITERS)),
    st.sampled_from(["LF", "CRLF"]),
    st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=4).flatmap(
        lambda kinds: st.lists(st.tuples(*kinds).map(list), max_size=8).map(lambda rows: (len(kinds), rows))
    ),
)
def test_a_page_is_what_the_csv_module_writes(delimiter: str, line_ending: str, shaped: tuple[int, list[Any]]) -> None:
    width, rows = shaped
    job = _Job(delimiter, line_ending)
    header = [f"Field{i}" for i in range(width)]
    assert bulk._csv(job, header, rows) == _csv_module(job, header, rows)  # type: ignore[arg-type]
