"""Validation of what the service writes to the org: the Renew and Contact-rep actions and the Task
conventions. A write-back that would fail only at the customer's click is caught here, before activation."""

from __future__ import annotations

from typing import Any

from mappings.model import REP_CONTROL_TYPES, Mapping, RepControls, WriteBackAction
from mappings.orgshape import OrgShape, PathError, fields_of, labels_of
from mappings.problems import Findings, closest
from mappings.typecheck import value_problem

# Whose records the write-back can name: the pull reads these entities' lookups for it (soql.select_for).
RECORD_ENTITIES = ("contract", "renewal_quote")
# Task convention → the Task field whose values it must be one of.
TASK_PICKLISTS = {
    "type": "Type",
    "subtype": "TaskSubtype",
    "status": "Status",
    "priority": "Priority",
    "contact_request_status": "Status",
    "contact_request_priority": "Priority",
}


def check_write_back(shape: OrgShape, findings: Findings, mapping: Mapping, objects: dict[str, dict[str, Any]]) -> None:
    """`objects`: entity → describe of its object, for the entities whose object the org has."""
    for kind in ("renew", "contact_rep"):
        for index, action in enumerate(getattr(mapping.write_back, kind)):
            _check_action(shape, findings, objects, f"write_back.{kind}.{index}", action)
    if mapping.write_back.rep_controls is not None:
        _check_rep_controls(shape, findings, objects, mapping.write_back.rep_controls)
    _check_tasks(shape, findings, mapping, objects)


def _check_rep_controls(
    shape: OrgShape, findings: Findings, objects: dict[str, dict[str, Any]], controls: RepControls
) -> None:
    path = "write_back.rep_controls"
    try:
        target = shape.require_obj(controls.object)
    except PathError as exc:
        findings.add(f"{path}.object", exc.message, exc.suggestion)
        return
    try:
        pointed = record_targets(shape, objects, controls.record)
    except PathError as exc:
        findings.add(f"{path}.record", f"invalid record path {controls.record}: {exc.message}", exc.suggestion)
        pointed = ()
    if pointed and target["name"].lower() not in {p.lower() for p in pointed}:
        findings.add(
            f"{path}.object", f"the record {controls.record} is a {' or '.join(pointed)}, not a {target['name']}"
        )
    fields = fields_of(target)
    labels = labels_of(fields)
    for control, name in controls.fields.items():
        field_path = f"{path}.fields.{control}"
        field = fields.get(name)
        if field is None:
            findings.add(field_path, f"{target['name']} has no field {name}", closest(name, fields, labels))
        elif not field.get("updateable", False):
            findings.add(field_path, f"{target['name']}.{name} is not updateable (read-only or calculated)")
        elif field.get("type") not in REP_CONTROL_TYPES[control]:
            wanted = " or ".join(REP_CONTROL_TYPES[control])
            findings.add(
                field_path, f"{target['name']}.{name} is a {field.get('type')} field; {control} needs {wanted}"
            )


def record_targets(shape: OrgShape, objects: dict[str, dict[str, Any]], record: str) -> tuple[str, ...]:
    """The objects a `record` path (`contract`, `renewal_quote.SBQQ__Opportunity2__c`) can point at; empty when
    its entity's object is unknown (reported already). Raises PathError when the path itself is wrong."""
    entity, _, lookup = record.partition(".")
    if entity not in RECORD_ENTITIES:
        guess = closest(entity, RECORD_ENTITIES)
        raise PathError(
            "name contract, renewal_quote, or a lookup field on one of them such as renewal_quote.OpportunityId",
            f"{guess}.{lookup}".rstrip(".") if guess else None,
        )
    obj = objects.get(entity)
    if obj is None:
        return ()
    if not lookup:
        return (obj["name"],)
    try:
        resolved = shape.resolve(obj, lookup)
    except PathError as exc:
        raise PathError(exc.message, f"{entity}.{exc.suggestion}" if exc.suggestion else None) from None
    if resolved.type != "reference":
        raise PathError(f"{obj['name']}.{resolved.path} is a {resolved.type} field, not a lookup")
    return resolved.reference_to


def _check_action(
    shape: OrgShape, findings: Findings, objects: dict[str, dict[str, Any]], path: str, action: WriteBackAction
) -> None:
    try:
        target = shape.require_obj(action.object)
    except PathError as exc:
        findings.add(f"{path}.object", exc.message, exc.suggestion)
        target = None
    try:
        pointed = record_targets(shape, objects, action.record)
    except PathError as exc:
        findings.add(f"{path}.record", f"invalid record path {action.record}: {exc.message}", exc.suggestion)
        pointed = ()
    if target is None:
        return
    if pointed and target["name"].lower() not in {p.lower() for p in pointed}:
        findings.add(
            f"{path}.object",
            f"the record {action.record} is a {' or '.join(pointed)}, not a {target['name']}",
            pointed[0] if len(pointed) == 1 else None,
        )
    if not target.get("updateable", True):
        findings.add(f"{path}.object", f"{target['name']} records cannot be updated")
        return
    if not action.set:
        findings.add(f"{path}.set", "the action sets no field")
    fields = fields_of(target)
    labels = labels_of(fields)
    for name, value in action.set.items():
        field_path = f"{path}.set.{name}"
        field = fields.get(name) or next((f for n, f in fields.items() if n.lower() == name.lower()), None)
        if field is None:
            findings.add(field_path, f"{target['name']} has no field {name}", closest(name, fields, labels))
        elif field["name"] != name:
            findings.add(field_path, f"the org spells the field {field['name']}", field["name"])
        elif not field.get("updateable", False):
            findings.add(field_path, f"{target['name']}.{name} is not updateable (read-only or calculated)")
        elif wrong := value_problem(field, value):
            findings.add(field_path, wrong[0], wrong[1])


def _check_tasks(shape: OrgShape, findings: Findings, mapping: Mapping, objects: dict[str, dict[str, Any]]) -> None:
    tasks = mapping.write_back.tasks
    task = shape.obj("Task")
    if task is None:
        findings.add("write_back.tasks", "the org has no Task object to log activities on")
        return
    fields = fields_of(task)
    try:
        pointed = record_targets(shape, objects, tasks.what)
    except PathError as exc:
        findings.add("write_back.tasks.what", f"invalid record path {tasks.what}: {exc.message}", exc.suggestion)
        pointed = ()
    allowed = tuple(fields.get("WhatId", {}).get("referenceTo") or ())
    if pointed and not {p.lower() for p in pointed} & {a.lower() for a in allowed}:
        contract = objects.get("contract")
        fallback = "contract" if contract and contract["name"] in allowed else None
        findings.add(
            "write_back.tasks.what",
            f"a Task's WhatId cannot point at {' or '.join(pointed)} (activities not enabled); "
            f"it takes {', '.join(allowed)}",
            fallback,
        )
    for attr, field_name in TASK_PICKLISTS.items():
        value = getattr(tasks, attr)
        field = fields.get(field_name)
        if value is None:
            continue
        if field is None:
            findings.add(f"write_back.tasks.{attr}", f"Task has no field {field_name}; set {attr} to null")
        elif wrong := value_problem(field, value):
            findings.add(f"write_back.tasks.{attr}", wrong[0], wrong[1])
    for entity, field_name in (("contact", "WhoId"), ("rep", "OwnerId")):
        obj, lookup = objects.get(entity), fields.get(field_name)
        targets = tuple((lookup or {}).get("referenceTo") or ())
        if obj is not None and targets and obj["name"] not in targets:
            findings.add(
                f"entities.{entity}.object",
                f"a Task's {field_name} takes {', '.join(targets)}, so {obj['name']} cannot be the {entity} on Tasks",
            )
    _check_external_id(findings, fields, tasks.external_id_field)


def _check_external_id(findings: Findings, fields: dict[str, dict[str, Any]], name: str | None) -> None:
    """Only a field the org flags External ID can key Task upserts; without one the push keeps its own keys."""
    if name is None:
        return
    path = "write_back.tasks.external_id_field"
    flagged = [n for n, f in fields.items() if f.get("externalId")]
    field = fields.get(name) or next((f for n, f in fields.items() if n.lower() == name.lower()), None)
    if field is None:
        findings.add(
            path,
            f"Task has no field {name}; set external_id_field to null if the org has no External ID field on Task",
            closest(name, flagged),
        )
    elif field["name"] != name:
        findings.add(path, f"the org spells the field {field['name']}", field["name"])
    elif not field.get("externalId"):
        findings.add(
            path,
            f"Task.{name} is not flagged External ID; flag it in Setup, or set external_id_field to null",
            closest(name, flagged),
        )
