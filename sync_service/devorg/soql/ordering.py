"""ORDER BY: keys computed once per row, then one stable sort per key from the last to the first.

Text sorts case-insensitively, picklists in their defined value order (as Salesforce does), nulls first on
ASC and last on DESC unless NULLS FIRST/LAST says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sync_service.devorg.soql import model

Getter = Callable[[Any], Any]


@dataclass
class SortKey:
    getter: Getter
    descending: bool
    nulls_first: bool
    field_type: str
    picklist: tuple[str, ...] = ()


def sort_rows(rows: list[Any], keys: list[SortKey]) -> list[Any]:
    if not keys or len(rows) < 2:
        return rows
    order = list(range(len(rows)))
    for key in reversed(keys):
        column = _column(rows, key)
        try:
            order.sort(key=column.__getitem__, reverse=key.descending)
        except TypeError:
            # Mixed value types in one column (bad data): fall back to comparing their text.
            order.sort(key=lambda i: (column[i][0], str(column[i][1])), reverse=key.descending)
    return [rows[i] for i in order]


def _column(rows: list[Any], key: SortKey) -> list[Any]:
    """The sort key of every row for one ORDER BY item, computed column-wise."""
    values: list[Any] = list(map(key.getter, rows))
    if key.picklist:
        ranks = {value.lower(): i for i, value in enumerate(key.picklist)}
        unknown = len(ranks)
        values = [None if v is None else (ranks.get(str(v).lower(), unknown), str(v).lower()) for v in values]
    elif model.category(key.field_type) == model.TEXT:
        values = [None if v is None else str(v).lower() for v in values]
    # Nulls get a flag that sorts before (0) or after (2) every value; after a reverse sort the largest flag
    # comes first, so the flag flips with the direction.
    null = (0 if key.nulls_first != key.descending else 2, 0)
    return [null if v is None else (1, v) for v in values]
