"""Targeted edits of a mapping's YAML text: change one value, add or remove one key, and leave every other
character — comments, blank lines, quoting, key order — as the admin wrote it.

The console's field pickers edit through here, so a version saved from the pickers differs from its base in
exactly the lines that changed, and its diff shows just that. The text is composed with PyYAML, whose nodes
carry their character offsets; an edit splices the text at those offsets and checks that the result, loaded
again, says what was meant. Whatever cannot be spliced safely — a value behind a YAML alias (editing it would
change every place that uses the anchor), a block scalar, a canonical field mapped to a constant — raises
`EditRefused`, saying to edit the YAML instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml

# A value written without quotes: an API name or a dotted field path. Anything else is double-quoted (JSON's
# string syntax is valid YAML), so a value can never change the document's structure.
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*")


class EditRefused(ValueError):
    """The edit cannot be made in the text as written; the message says why and what to do instead."""


def scalar_text(value: str) -> str:
    """`value` as a YAML scalar: plain when it is an API name that YAML reads back as the same text (not
    `true`, `null`, `No`...), double-quoted otherwise."""
    if _PLAIN.fullmatch(value) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value)


def set_object(text: str, entity: str, object_name: str) -> str:
    """The text with `entities.<entity>.object` set to `object_name`."""
    root = _compose(text)
    node = _child(_entity(root, entity), "object")
    if node is None:
        raise EditRefused(f"entities.{entity} has no object key to change; edit the YAML")
    edited = _replace_scalar(text, root, node, object_name, f"entities.{entity}.object")
    _check(edited, ("entities", entity, "object"), object_name)
    return edited


def set_field(text: str, entity: str, canonical: str, field: str | None) -> str:
    """The text with canonical field `entities.<entity>.fields.<canonical>` mapped from the Salesforce field
    path `field`, or unmapped (its key removed, transform and all) when `field` is None. A transform stays
    when only the field changes; a key that was not there is added after the entity's last field."""
    root = _compose(text)
    fields = _child(_entity(root, entity), "fields")
    path = f"entities.{entity}.fields.{canonical}"
    if not isinstance(fields, yaml.MappingNode):
        raise EditRefused(f"entities.{entity}.fields is not a mapping; edit the YAML")
    _refuse_aliased(root, fields, f"entities.{entity}.fields")
    current = _child(fields, canonical)
    if field is None:
        if current is None:
            return text
        edited = _remove_key(text, fields, canonical, path)
        _check(edited, ("entities", entity, "fields", canonical), _MISSING)
        return edited
    if current is None:
        edited = _insert_key(text, fields, canonical, scalar_text(field), path)
    elif isinstance(current, yaml.ScalarNode):
        edited = _replace_scalar(text, root, current, field, path)
    elif isinstance(current, yaml.MappingNode):
        source = _child(current, "field")
        if source is None:
            raise EditRefused(f"{path} is mapped to a constant; to map it from a field, edit the YAML")
        edited = _replace_scalar(text, root, source, field, f"{path}.field")
    else:
        raise EditRefused(f"{path} is not a field or a field map; edit the YAML")
    _check(edited, ("entities", entity, "fields", canonical), field)
    return edited


# --------------------------------------------------------------------------------------------- the nodes

_MISSING = object()


def _compose(text: str) -> yaml.Node:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise EditRefused(f"the YAML does not parse ({exc.__class__.__name__}); fix it in the YAML editor") from None
    if not isinstance(node, yaml.MappingNode):
        raise EditRefused("the YAML is not a mapping; fix it in the YAML editor")
    return node


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value
    return None


def _entity(root: yaml.Node, entity: str) -> yaml.Node:
    node = _child(_child(root, "entities"), entity)
    if not isinstance(node, yaml.MappingNode):
        raise EditRefused(f"the mapping has no entity {entity}; add it in the YAML")
    return node


def _nodes(node: yaml.Node) -> Iterator[yaml.Node]:
    """Every node of the tree, a node reached through several aliases once per way to reach it — but a
    collection's contents only once, so a recursive alias cannot loop."""
    pending, expanded = [node], set()
    while pending:
        current = pending.pop()
        yield current
        if id(current) in expanded:
            continue
        expanded.add(id(current))
        if isinstance(current, yaml.MappingNode):
            pending.extend(part for pair in current.value for part in pair)
        elif isinstance(current, yaml.SequenceNode):
            pending.extend(current.value)


def _refuse_aliased(root: yaml.Node, node: yaml.Node, path: str) -> None:
    if sum(1 for seen in _nodes(root) if seen is node) > 1:
        raise EditRefused(
            f"{path} is shared through a YAML alias, so changing it here would change it elsewhere too; edit the YAML"
        )


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _after_line(text: str, index: int) -> int:
    """The index just past the end of the line holding `index` (its newline included)."""
    end = text.find("\n", index)
    return len(text) if end == -1 else end + 1


def _last_end(node: yaml.Node) -> int:
    """Where the text of `node` ends: a block collection ends with its last item, not at the next token."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _last_end(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _last_end(node.value[-1])
    return int(node.end_mark.index)


# ------------------------------------------------------------------------------------------------ edits


def _replace_scalar(text: str, root: yaml.Node, node: yaml.Node, value: str, path: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise EditRefused(f"{path} is not a single value; edit the YAML")
    if node.style in ("|", ">"):
        raise EditRefused(f"{path} is written as a block scalar; edit the YAML")
    _refuse_aliased(root, node, path)
    start, end = int(node.start_mark.index), int(node.end_mark.index)
    return text[:start] + scalar_text(value) + text[end:]


def _insert_key(text: str, mapping: yaml.MappingNode, key: str, value: str, path: str) -> str:
    entry = f"{scalar_text(key)}: {value}"
    if mapping.flow_style:
        if not mapping.value:
            close = int(mapping.end_mark.index) - 1
            if text[close : close + 1] != "}":
                raise EditRefused(f"cannot add {path} to this mapping; edit the YAML")
            return text[:close] + entry + text[close:]
        at = _last_end(mapping.value[-1][1])
        return text[:at] + ", " + entry + text[at:]
    if not mapping.value:
        raise EditRefused(f"cannot add {path} to an empty mapping; edit the YAML")
    first_key = mapping.value[0][0]
    indent = int(first_key.start_mark.column)
    if text[_line_start(text, first_key.start_mark.index) : first_key.start_mark.index].strip():
        raise EditRefused(f"cannot add {path} next to keys that do not start their lines; edit the YAML")
    at = _after_line(text, _last_end(mapping.value[-1][1]))
    prefix = "" if at == 0 or text[at - 1] == "\n" else "\n"
    return text[:at] + prefix + " " * indent + entry + "\n" + text[at:]


def _remove_key(text: str, mapping: yaml.MappingNode, key: str, path: str) -> str:
    index = next(i for i, (k, _) in enumerate(mapping.value) if isinstance(k, yaml.ScalarNode) and k.value == key)
    key_node, value = mapping.value[index]
    if mapping.flow_style:
        start, end = int(key_node.start_mark.index), _last_end(value)
        if index + 1 < len(mapping.value):
            end = int(mapping.value[index + 1][0].start_mark.index)
        elif index > 0:
            start = _last_end(mapping.value[index - 1][1])
        return text[:start] + text[end:]
    start = _line_start(text, key_node.start_mark.index)
    if text[start : key_node.start_mark.index].strip():
        raise EditRefused(f"cannot remove {path}: its key does not start its line; edit the YAML")
    return text[:start] + text[_after_line(text, _last_end(value)) :]


def _check(text: str, path: tuple[str, ...], expected: Any) -> None:
    """The edited text loads and holds `expected` at `path` (a field map's `field` counts as its value)."""
    try:
        value: Any = yaml.safe_load(text)
    except yaml.YAMLError:
        raise EditRefused(f"changing {'.'.join(path)} here would break the YAML; edit the YAML") from None
    for part in path:
        value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
    if isinstance(value, dict) and "field" in value:
        value = value["field"]
    if value != expected:
        raise EditRefused(f"{'.'.join(path)} could not be changed in the text as written; edit the YAML")
