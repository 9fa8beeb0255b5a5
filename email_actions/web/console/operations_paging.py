"""Paging and CSV exports of the Operations lists, and their filters from the query string.

A page shows ``PAGE_SIZE`` rows (``?page=``, kept within the pages there are). A CSV export holds at most
``EXPORT_ROWS`` rows: a longer list exports in parts (``?part=2`` …), so no request builds a file of the whole
store. Every figure of an export is read from this module when the request runs (never copied at import),
so the pages' links and the files always agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import request
from sqlalchemy import Select

PAGE_SIZE = 50
# Rows per CSV file of a list: a longer list exports in parts (``?part=2`` …), each a bounded request.
EXPORT_ROWS = 10_000
MAX_EXPORT_PARTS = 100_000

Query = TypeVar("Query", bound=Select[Any])


@dataclass(frozen=True)
class Pager:
    page: int
    total: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max((self.total + self.size - 1) // self.size, 1)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def pager(total: int) -> Pager:
    """The page asked for (``?page=``), kept within 1 … the last page."""
    asked = request.args.get("page", 1, type=int) or 1
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return Pager(page=min(max(asked, 1), pages), total=total)


def choice(name: str, allowed: Sequence[str], default: str = "") -> str:
    """A filter value from the query string, or `default` when it is not one of `allowed`."""
    value = request.args.get(name, "").strip()
    return value if value in allowed else default


def export_parts(total: int | None) -> int:
    """How many CSV files a list of `total` rows exports to (1 when the total is not counted)."""
    return max((total or 0) + EXPORT_ROWS - 1, EXPORT_ROWS) // EXPORT_ROWS


def export_links(total: int | None) -> dict[str, int]:
    """What a page's CSV link needs (``csv_link`` in ``admin/operations/_ops.html``): its parts and rows per part."""
    return {"export_parts": export_parts(total), "export_rows": EXPORT_ROWS}


def export_part() -> int:
    """The part of a CSV export asked for (``?part=``, from 1): rows (part-1)·EXPORT_ROWS … part·EXPORT_ROWS-1."""
    return min(max(request.args.get("part", 1, type=int) or 1, 1), MAX_EXPORT_PARTS)


def export_range(part: int) -> tuple[int, int]:
    """The first and last (inclusive) positions of a list that part `part` of its export holds."""
    start = (part - 1) * EXPORT_ROWS
    return start, start + EXPORT_ROWS - 1


def export_slice(query: Query, part: int) -> Query:
    """`query` limited to the rows part `part` of its export holds, read in batches."""
    query = query.limit(EXPORT_ROWS).offset((part - 1) * EXPORT_ROWS)
    return query.execution_options(yield_per=1000)


def part_name(stem: str, part: int) -> str:
    return f"{stem}.csv" if part == 1 else f"{stem}-part{part}.csv"
