"""ORDER BY: keys computed once per row, then one stable sort per key from the last to the first.

Text sorts case-insensitively, picklists in their defined value order (as Salesforce does), nulls first on
ASC and last on DESC unless NULLS FIRST/LAST says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import model

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
    normalizers = [_normalizer(k) for k in keys]
    decorated = [([norm(k.getter(row)) for k, norm in zip(keys, normalizers, strict=True)], row) for row in rows]
    for index in range(len(keys) - 1, -1, -1):
        key = keys[index]
        try:
            decorated.sort(key=lambda item: item[0][index], reverse=key.descending)
        except TypeError:
            # Mixed value types in one column (bad data): fall back to comparing their text.
            decorated.sort(key=lambda item: (item[0][index][0], str(item[0][index][1])), reverse=key.descending)
    return [row for _, row in decorated]


def _normalizer(key: SortKey) -> Callable[[Any], tuple[int, Any]]:
    # After a reverse sort the largest flag comes first, so the null flag flips with the direction.
    null = (0 if key.nulls_first != key.descending else 2, 0)
    cat = model.category(key.field_type)
    if key.picklist:
        ranks = {value.lower(): i for i, value in enumerate(key.picklist)}
        unknown = len(ranks)

        def picklist(value: Any) -> tuple[int, Any]:
            if value is None:
                return null
            lowered = str(value).lower()
            return (1, (ranks.get(lowered, unknown), lowered))

        return picklist
    if cat == model.TEXT:
        return lambda value: null if value is None else (1, str(value).lower())
    return lambda value: null if value is None else (1, value)
