"""Mappings to and from YAML, and the presets shipped with the service.

Loading never guesses: YAML that does not parse, a duplicated key, or a shape the schema refuses raises
`MappingError` listing every problem with the YAML line of the offending key and its dotted path, so an admin
can fix the file in one go.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml
from pydantic import ValidationError

from mappings.model import Mapping, canonical_issues
from mappings.problems import MappingError, MappingProblem, closest, nearest_line

PRESET_PACKAGE = "mappings.presets"


class UnknownPreset(LookupError):
    """No preset by that name (or version): presets exist only as version 0 of the shipped files."""


def load(text: str) -> Mapping:
    """The mapping a YAML text describes, remembering the line of every key for later problems."""
    data, lines = _parse(text)
    if not isinstance(data, dict):
        raise MappingError(
            [MappingProblem("", "a mapping is a YAML mapping with name, entities and write_back keys", line=1)]
        )
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        raise MappingError(_shape_problems(exc, data, lines)) from None
    mapping._source_lines = lines
    return mapping


def dump(mapping: Mapping) -> str:
    """YAML for a mapping, keys in schema order, defaults left out; `load(dump(m)) == m`."""
    data = mapping.model_dump(mode="python", exclude_defaults=True)
    for entity in data.get("entities", {}).values():
        # `end_date: EndDate` rather than `end_date: {field: EndDate}`, as people write it.
        entity["fields"] = {
            name: spec["field"] if set(spec) == {"field"} else spec for name, spec in entity["fields"].items()
        }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=120)


def preset_names() -> list[str]:
    folder = resources.files(PRESET_PACKAGE)
    return sorted(item.name.removesuffix(".yaml") for item in folder.iterdir() if item.name.endswith(".yaml"))


def preset_text(name: str) -> str:
    """The YAML of a shipped preset, exactly as written."""
    if name not in preset_names():
        suggestion = closest(name, preset_names())
        hint = f"; did you mean {suggestion}?" if suggestion else ""
        raise UnknownPreset(f"no preset {name!r} (presets: {', '.join(preset_names())}){hint}")
    return resources.files(PRESET_PACKAGE).joinpath(f"{name}.yaml").read_text(encoding="utf-8")


def preset(name: str) -> Mapping:
    return load(preset_text(name))


def _parse(text: str) -> tuple[Any, dict[str, int]]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise MappingError([MappingProblem("", "the file is empty", line=1)])
        lines: dict[str, int] = {}
        duplicates: list[MappingProblem] = []
        _walk(node, "", lines, duplicates)
        if duplicates:
            raise MappingError(duplicates)
        try:
            return loader.construct_document(node), lines
        except ValueError as exc:  # a scalar that only looks like its type, such as the date 2026-02-30
            bad = _unconstructible(node)
            if bad is None:
                raise MappingError([MappingProblem("", f"YAML does not parse: {exc}")]) from None
            kind = bad.tag.rsplit(":", 1)[-1]
            message = f"YAML does not parse: {bad.value!r} is not a valid {kind} ({exc}); quote it if it is text"
            mark = bad.start_mark
            raise MappingError([MappingProblem("", message, line=mark.line + 1, column=mark.column + 1)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = "; ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        raise MappingError(
            [
                MappingProblem(
                    "",
                    f"YAML does not parse: {what}",
                    line=mark.line + 1 if mark else None,
                    column=mark.column + 1 if mark else None,
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise MappingError([MappingProblem("", f"YAML does not parse: {exc}")]) from None
    finally:
        loader.dispose()


def _unconstructible(node: yaml.Node) -> yaml.ScalarNode | None:
    """The first scalar under `node` that YAML cannot turn into a value of its implicit type, if any."""
    pending, seen = [node], set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.ScalarNode):
            try:
                yaml.SafeLoader("").construct_object(current)
            except ValueError:
                return current
        elif isinstance(current, yaml.MappingNode):
            pending.extend(part for pair in current.value for part in pair)
        elif isinstance(current, yaml.SequenceNode):
            pending.extend(current.value)
    return None


def _walk(
    node: yaml.Node,
    path: str,
    lines: dict[str, int],
    duplicates: list[MappingProblem],
    seen: set[int] | None = None,
) -> None:
    """Record the 1-based line of every key and list item under its dotted path; collect duplicate keys,
    which plain YAML loading would silently resolve to the last one.

    A node reached again through a YAML alias is not walked again: nested aliases (a "billion laughs"
    file of a few hundred bytes) would otherwise take hours, and a recursive one would never end."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = f"{path}.{key.value}" if path else str(key.value)
            line = key.start_mark.line + 1
            if child in lines:
                duplicates.append(
                    MappingProblem(child, f"duplicate key (first on line {lines[child]}); keep one", line=line)
                )
                continue
            lines[child] = line
            _walk(value, child, lines, duplicates, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = f"{path}.{index}"
            lines[child] = item.start_mark.line + 1
            _walk(item, child, lines, duplicates, seen)


def _shape_problems(exc: ValidationError, data: dict[str, Any], lines: dict[str, int]) -> list[MappingProblem]:
    problems = []
    canonical = _canonical_problems(data)
    errors = exc.errors()
    # A misspelt key usually shows up twice: as an unknown key and as its sibling that is missing.
    missing = [(e["loc"][:-1], str(e["loc"][-1])) for e in errors if e["type"] == "missing"]
    for error in errors:
        loc = error["loc"]
        if canonical is not None and loc == ("entities",) and error["type"] == "value_error":
            continue  # the same findings as `canonical`, which know their lines
        path = ".".join(str(part) for part in loc)
        message = str(error["msg"]).removeprefix("Value error, ")
        suggestion = None
        if error["type"] == "extra_forbidden":
            message = f"unknown key {loc[-1]!r}"
            suggestion = closest(str(loc[-1]), [key for parent, key in missing if parent == loc[:-1]])
        elif error["type"] == "missing":
            message = f"missing key {loc[-1]!r}"
        problems.append(MappingProblem(path, message, suggestion, nearest_line(lines, path)))
    for problem in canonical or []:
        problems.append(
            MappingProblem(problem.path, problem.message, problem.suggestion, nearest_line(lines, problem.path))
        )
    return sorted(problems, key=lambda p: (p.line or 0, p.path))


def _canonical_problems(data: dict[str, Any]) -> list[MappingProblem] | None:
    """Unknown or missing entities and fields, from the raw YAML; None if `entities` is not shaped for it."""
    entities = data.get("entities")
    if not isinstance(entities, dict):
        return None
    fields: dict[str, list[str]] = {}
    for name, spec in entities.items():
        mapped = spec.get("fields") if isinstance(spec, dict) else None
        fields[str(name)] = [str(key) for key in mapped] if isinstance(mapped, dict) else []
    return canonical_issues(fields)
