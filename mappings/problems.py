"""What is wrong with a mapping, said so an admin can fix it: where (YAML line and dotted path), what, and a
"did you mean" when something close exists.

Both the loader (YAML syntax, shape) and `validate.py` (the org's describe) report `MappingProblem`s, so the
CLI and the admin console print them the same way.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class MappingProblem:
    path: str  # dotted path in the mapping, e.g. `entities.contract.fields.end_date`; "" for the whole file
    message: str
    suggestion: str | None = None  # a value to put instead: shown as "did you mean X?"
    line: int | None = None  # 1-based YAML line, when the mapping was loaded from YAML
    column: int | None = None  # 1-based, for YAML syntax errors

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}" + (f", column {self.column}" if self.column is not None else ""))
        if self.path:
            where.append(self.path)
        text = ": ".join([*where, self.message])
        return f"{text} (did you mean {self.suggestion}?)" if self.suggestion else text


class MappingError(Exception):
    """A mapping that cannot be used: it does not parse, has the wrong shape, or does not fit the org."""

    def __init__(self, problems: Sequence[MappingProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class Findings:
    """Problems found so far, each given the YAML line of its path (`line_of`, e.g. `Mapping.line_of`)."""

    def __init__(self, line_of: Callable[[str], int | None]):
        self.line_of = line_of
        self.problems: list[MappingProblem] = []

    def add(self, path: str, message: str, suggestion: str | None = None) -> None:
        self.problems.append(MappingProblem(path, message, suggestion, self.line_of(path)))


def nearest_line(lines: dict[str, int], path: str) -> int | None:
    """The line of `path`, or of its nearest ancestor that has one: a key left out has no line of its own."""
    parts = path.split(".") if path else []
    while parts:
        line = lines.get(".".join(parts))
        if line is not None:
            return line
        parts.pop()
    return None


def closest(name: str, candidates: Iterable[str], labels: dict[str, str] | None = None) -> str | None:
    """The candidate an admin most likely meant by `name`, or None.

    Tries, in order: the same name in another case; a candidate whose label reads like the name (a custom
    field renamed in Setup keeps its label, so `Total_Contract_Value__c` finds `TCV__c` labelled "Total Contract
    Value"); then close spellings of names and of labels.
    """
    names = list(candidates)
    by_lower = {n.lower(): n for n in names}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    labels = labels or {}
    wanted = _words(name)
    for candidate in names:
        label = labels.get(candidate)
        if label and _words(label) == wanted:
            return candidate
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    if match:
        return by_lower[match[0]]
    by_label = {_words(label): n for n, label in labels.items() if label and n in by_lower}
    match = difflib.get_close_matches(wanted, list(by_label), n=1, cutoff=0.75)
    return by_label[match[0]] if match else None


def _words(name: str) -> str:
    """`Apttus__Total_Contract_Value__c` and "Total Contract Value" both become `total contract value`."""
    base = re.sub(r"__(c|r)$", "", name)
    base = base.rsplit("__", 1)[-1]  # a managed package's namespace prefix
    base = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", base)  # CamelCase → words
    return " ".join(re.split(r"[\W_]+", base.lower())).strip()
