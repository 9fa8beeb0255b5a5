"""Validation of a mapping against one org's describe(): every object, field path, type, scope filter and
write-back value is checked, and each problem names the mapping line, the path and a "did you mean".

An invalid mapping is never activated: the versions store refuses to activate with problems outstanding.

`describe` is called once per object (callers pass a cached function wrapping `sf.<Obj>.describe()`);
`object_names`, all of the org's objects from the global describe, feeds the "did you mean" for objects and
spares describe calls for names the org does not have; `run_query` (e.g. `sf.query`) lets each scope
filter be checked by the org itself — without it scope filters are not checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from simple_salesforce.exceptions import SalesforceMalformedRequest

from mappings.model import CANONICAL, Mapping
from mappings.orgshape import Describe, OrgShape, PathError, ResolvedField, fields_of, labels_of
from mappings.problems import Findings, MappingProblem, closest
from mappings.typecheck import fits, source_problem, transform_problem, value_problem
from mappings.writeback import check_write_back

RunQuery = Callable[[str], Any]
# Where the store can keep a quote document's bytes from (quote_documents.source_object).
STORED_SOURCES = ("Document", "ContentVersion")


def validate(
    mapping: Mapping,
    describe: Describe,
    *,
    object_names: Iterable[str] | None = None,
    run_query: RunQuery | None = None,
) -> list[MappingProblem]:
    """Everything in `mapping` that does not fit the org; an empty list means it can be activated."""
    shape = OrgShape(describe, object_names)
    findings = Findings(mapping.line_of)
    objects: dict[str, dict[str, Any]] = {}
    for entity, spec in mapping.entities.items():
        path = f"entities.{entity}"
        try:
            objects[entity] = shape.require_obj(spec.object)
        except PathError as exc:
            findings.add(f"{path}.object", exc.message, exc.suggestion)
            continue
        if not objects[entity].get("queryable", True):
            findings.add(f"{path}.object", f"{spec.object} cannot be queried")
            continue
        if spec.scope is not None:
            unbalanced = _unbalanced(spec.scope)
            if unbalanced:
                findings.add(f"{path}.scope", f"invalid scope filter: {unbalanced}")
            elif run_query is not None:
                _check_scope(findings, f"{path}.scope", objects[entity], spec.scope, run_query)
    for entity, obj in objects.items():
        _check_fields(shape, findings, mapping, objects, entity, obj)
    check_write_back(shape, findings, mapping, objects)
    _check_renewal_rules(shape, findings, mapping, objects)
    return sorted(findings.problems, key=lambda p: (p.line is None, p.line or 0))


def _check_fields(
    shape: OrgShape,
    findings: Findings,
    mapping: Mapping,
    objects: dict[str, dict[str, Any]],
    entity: str,
    obj: dict[str, Any],
) -> None:
    spec = mapping.entities[entity]
    for name, field_map in spec.fields.items():
        canonical = CANONICAL[entity][name]
        path = f"entities.{entity}.fields.{name}"
        if field_map.transform is not None:
            wrong = transform_problem(canonical.type, field_map.transform)
            if wrong:
                findings.add(f"{path}.transform", wrong)
                continue
        if field_map.field is None:
            if not fits(canonical.type, field_map.constant):
                findings.add(path, f"the constant {field_map.constant!r} is not a {canonical.type} value")
            continue
        try:
            resolved = shape.resolve(obj, field_map.field)
        except PathError as exc:
            findings.add(path, exc.message, exc.suggestion)
            continue
        wrong = source_problem(canonical, resolved.type, field_map.transform, int(resolved.describe.get("length") or 0))
        if wrong:
            findings.add(path, f"wrong type: {resolved.path} is a {resolved.type} field, {wrong}")
            continue
        _check_reference(findings, mapping, objects, entity, name, resolved)
    if entity == "quote_document" and spec.source is None:
        findings.add(
            f"entities.{entity}",
            "say which object holds the document's bytes: source: Document or ContentVersion",
        )
    elif entity == "quote_document" and spec.source not in STORED_SOURCES:
        # The schema names Attachment, but the store (and the download) keep Documents and ContentVersions
        # only: such a mapping would fail every pull at its first document.
        findings.add(
            f"entities.{entity}.source",
            f"quote documents from {spec.source} are not supported yet; use Document or ContentVersion",
        )


def _check_reference(
    findings: Findings,
    mapping: Mapping,
    objects: dict[str, dict[str, Any]],
    entity: str,
    name: str,
    resolved: ResolvedField,
) -> None:
    """A ref must point at the object its canonical target is mapped to: contract.account at the account
    entity's object; a document id at the `source` object."""
    canonical = CANONICAL[entity][name]
    if canonical.type != "ref":
        return
    if canonical.ref is not None:
        # An unknown target object is reported on its own entity; comparing with it would only add noise.
        target_obj = objects.get(canonical.ref)
        target = target_obj["name"] if target_obj else None
        what = f"the {canonical.ref} entity's object"
    else:
        target = mapping.entities[entity].source
        what = "the document source"
    if target is None or resolved.type == "string":
        return
    # A lookup (or `What.Id` across a polymorphic one) names its targets; a record's own Id is its object.
    pointed = resolved.reference_to or (resolved.object,)
    if target.lower() not in {p.lower() for p in pointed}:
        findings.add(
            f"entities.{entity}.fields.{name}",
            f"{resolved.path} points at {', '.join(pointed)}, not {target} ({what})",
        )


def _check_scope(findings: Findings, path: str, obj: dict[str, Any], scope: str, run_query: RunQuery) -> None:
    """Let the org judge the filter, written exactly as the pull will embed it."""
    prefix = f"SELECT Id FROM {obj['name']} WHERE ("
    try:
        run_query(f"{prefix}{scope}) LIMIT 1")
    except SalesforceMalformedRequest as exc:
        code, message = _salesforce_error(exc.content)
        column = re.search(r"Column:(\d+)", message)
        where = ""
        if column and 0 < int(column.group(1)) - len(prefix) <= len(scope):
            where = f" at column {int(column.group(1)) - len(prefix)} of the filter"
        reason = message.strip().splitlines()[-1] if message.strip() else code
        missing = re.search(r"No such column '(\w+)'", message)
        fields = fields_of(obj)
        suggestion = closest(missing.group(1), fields, labels_of(fields)) if missing else None
        findings.add(path, f"invalid scope filter{where}: {code}: {reason}", suggestion)


def _unbalanced(scope: str) -> str | None:
    """What is wrong with the filter's parentheses or quotes, or None. The pull embeds the filter in
    parentheses next to its own conditions (and negates it to find records that left the scope): a filter
    such as `A = 1) OR (B = 2` is valid SOQL on its own but would break out and change those conditions."""
    depth, quoted, escaped = 0, False, False
    for column, char in enumerate(scope, 1):
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == "'":
                quoted = False
        elif char == "'":
            quoted = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return f"the ')' at column {column} closes a parenthesis the filter did not open"
    if quoted:
        return "a quoted value is not closed"
    return "a '(' is not closed" if depth else None


def _salesforce_error(content: Any) -> tuple[str, str]:
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", "")), str(content[0].get("message", ""))
    return "", str(content)


__all__ = ["Describe", "MappingProblem", "RunQuery", "validate"]


# Renewal rule → the renewal quote's canonical field whose values it lists.
_RULE_FIELDS = {"renewed_statuses": "status", "renewable_statuses": "status", "approved_values": "approval"}


def _check_renewal_rules(
    shape: OrgShape, findings: Findings, mapping: Mapping, objects: dict[str, dict[str, Any]]
) -> None:
    """The values `renewal` lists must be values the quote's mapped field can hold: a misspelt status would
    make every quote unrenewable (or none renewed) without a word."""
    quote = mapping.entities.get("renewal_quote")
    obj = objects.get("renewal_quote")
    for rule, canonical in _RULE_FIELDS.items():
        values = getattr(mapping.renewal, rule) or []
        if not values or quote is None:
            continue
        path = f"renewal.{rule}"
        field_map = quote.fields.get(canonical)
        if field_map is None:
            findings.add(path, f"lists values of the renewal quote's {canonical}, which is not mapped")
            continue
        if obj is None or field_map.field is None or field_map.transform is not None:
            continue
        try:
            resolved = shape.resolve(obj, field_map.field)
        except PathError:
            continue  # reported with the field
        if resolved.type not in ("picklist", "multipicklist"):
            continue
        for index, value in enumerate(values):
            wrong = value_problem(resolved.describe, value)
            if wrong:
                findings.add(f"{path}.{index}", wrong[0], wrong[1])
