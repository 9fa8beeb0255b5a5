"""The editor page of the console's Mappings section, drawn for a stored version or a draft: per entity, an
object picker and a field picker per canonical field, filled from the org's describe() (fields whose type fits
the canonical field first), and the raw YAML editor; the problems of a text beside the control they concern.

Where a problem is said
    Each problem is shown beside the form control it concerns (its path mapped to the entity's object picker,
    a field's picker, or the entity), and linked from a summary at the top; problems with no control (the
    write-back, YAML syntax) are listed at the top; the YAML editor lists every problem with its line.

When the org cannot be asked
    The page still renders: the pickers become text boxes and the page says why the org could not be asked
    (not configured, unreachable, sign-in refused, the API budget used up) — never a stack trace or a secret.

Drawing only: nothing here writes to the store (it ends the request's transaction before asking the org).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass

from flask import render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from email_actions.web.console.auth import current_user
from email_actions.web.console.mappings_drafts import release, request_org
from email_actions.web.console.mappings_org import ConsoleOrg, OrgError, OrgField, OrgObject
from mappings.loader import load
from mappings.model import CANONICAL, PULL_ORDER, CanonicalField, Mapping
from mappings.problems import MappingProblem
from mappings.typecheck import ACCEPTS
from sync_service.pull.preview import Preview
from sync_service.store import mapping_versions as versions
from sync_service.store.db import current_session
from sync_service.store.models import MappingVersion


def _problem_text(problem: MappingProblem) -> str:
    """A problem as said beside its field (the field names the place)."""
    return problem.message + (f" (did you mean {problem.suggestion}?)" if problem.suggestion else "")


def form_key(path: str) -> str | None:
    """The key of the form control a problem at `path` concerns: an entity's object picker or scope, a
    canonical field's picker, or the entity; None when no control shows it (write-back, the whole file)."""
    parts = path.split(".")
    if len(parts) < 2 or parts[0] != "entities" or parts[1] not in CANONICAL:
        return None
    entity = parts[1]
    if len(parts) >= 4 and parts[2] == "fields" and parts[3] in CANONICAL[entity]:
        return f"entities.{entity}.fields.{parts[3]}"
    if len(parts) >= 3 and parts[2] in ("object", "scope"):
        return f"entities.{entity}.{parts[2]}"
    return f"entities.{entity}"


@dataclass
class FieldRow:
    name: str
    canonical: CanonicalField
    value: str | None  # the field path it is mapped from; None when unmapped or a constant
    constant: str | None  # the constant, as YAML shows it
    transform: str | None
    choices: list[tuple[str, list[tuple[str, str]]]]  # (group label, [(value, text)])


@dataclass
class EntityRow:
    name: str
    object: str
    scope: str | None
    source: str | None
    fields: list[FieldRow]


def _choices(
    canonical: CanonicalField, value: str | None, object_name: str, org_fields: list[OrgField] | None
) -> list[tuple[str, list[tuple[str, str]]]]:
    """The picker's options: fields whose type fits the canonical field first, then the rest; the current
    value on top when the object has no field by that name (a relationship path, or a mistake)."""
    fits = ACCEPTS[canonical.type]
    groups: list[tuple[str, list[tuple[str, str]]]] = []
    names = {f.name for f in org_fields or []}
    if value and value not in names:
        kind = "relationship path" if "." in value else f"not a field of {object_name}"
        groups.append(("Current", [(value, f"{value} ({kind})")]))
    good = [(f.name, f"{f.name} — {f.label} ({f.type})") for f in org_fields or [] if f.type in fits]
    other = [(f.name, f"{f.name} — {f.label} ({f.type})") for f in org_fields or [] if f.type not in fits]
    if good:
        groups.append((f"Fields that fit a {canonical.type}", good))
    if other:
        groups.append(("Other fields (need a transform, or do not fit)", other))
    return groups


@dataclass
class OrgView:
    available: bool
    message: str | None
    objects: list[OrgObject]
    fields: dict[str, list[OrgField] | None]


def _org_view(org: ConsoleOrg, mapping: Mapping) -> OrgView:
    """What the pickers need from the org, or why the org could not say."""
    try:
        objects = org.objects()
        fields = {}
        for spec in mapping.entities.values():
            if spec.object not in fields:
                fields[spec.object] = org.fields(spec.object)
    except OrgError as exc:
        return OrgView(False, str(exc), [], {})
    return OrgView(True, None, objects, fields)


def _entity_rows(mapping: Mapping, org: OrgView) -> list[EntityRow]:
    rows = []
    for entity in PULL_ORDER:
        spec = mapping.entities.get(entity)
        if spec is None:
            continue
        org_fields = org.fields.get(spec.object)
        fields = []
        for name, canonical in CANONICAL[entity].items():
            fm = spec.fields.get(name)
            value = fm.field if fm is not None else None
            constant = json.dumps(fm.constant) if fm is not None and fm.field is None else None
            transform = None
            if fm is not None and fm.transform is not None:
                transform = json.dumps(fm.transform.model_dump(exclude_defaults=True), sort_keys=True)
            choices = _choices(canonical, value, spec.object, org_fields) if org.available else []
            fields.append(FieldRow(name, canonical, value, constant, transform, choices))
        rows.append(EntityRow(entity, spec.object, spec.scope, spec.source, fields))
    return rows


def _errors(problems: list[MappingProblem], *, in_form: bool) -> tuple[dict[str, str], list[str]]:
    """Problems as messages beside form controls (key → message) and those that belong to no control."""
    beside: dict[str, list[str]] = defaultdict(list)
    general = []
    for problem in problems:
        key = form_key(problem.path) if in_form else None
        if key is None:
            general.append(str(problem))
        else:
            beside[key].append(_problem_text(problem))
    return {key: "; ".join(messages) for key, messages in beside.items()}, general


def _error_links(errors: dict[str, str]) -> list[tuple[str, str, str]]:
    """(anchor, place, message) of each problem shown beside a control, in page order, for the summary at
    the top of the page (the controls can be far down)."""
    order = {entity: index for index, entity in enumerate(PULL_ORDER)}
    links = []
    for key, message in errors.items():
        parts = key.split(".")
        entity = parts[1]
        if len(parts) == 4:
            links.append(
                (
                    (order[entity], list(CANONICAL[entity]).index(parts[3]) + 1),
                    f"row-{entity}-{parts[3]}",
                    f"{entity} · {parts[3]}",
                    message,
                )
            )
        else:
            place = f"{entity} · {parts[2]}" if len(parts) == 3 else entity
            links.append(((order[entity], 0), f"entity-{entity}", place, message))
    return [(anchor, place, message) for _, anchor, place, message in sorted(links)]


def render_editor(
    *,
    name: str | None,
    row: MappingVersion | None,
    based_on: int | None,
    form_text: str,
    yaml_text: str | None = None,
    problems: list[MappingProblem] | None = None,
    problems_in_form: bool = True,
    message: str | None = None,
    preview: Preview | None = None,
    preview_entity: str = "contract",
    status: int = 200,
) -> ResponseReturnValue:
    """The editor page, for a stored version (`row`) or a draft (`row` None). `name`: the mapping its saves must
    keep naming (None for a draft from an import); `based_on`: the version its saves descend from.
    `form_text` (loadable YAML) fills the pickers and is what picker edits apply to; `yaml_text` fills the
    YAML editor (default: `form_text`). `problems` are those of `yaml_text`; when they concern the pickers'
    text (`problems_in_form`), each shows beside its control. `message`: a failure to state at the top."""
    session = current_session()
    mapping = load(form_text)
    shown = name or mapping.name
    active = versions.get_active(session, shown)
    latest = session.scalar(select(func.max(MappingVersion.version)).where(MappingVersion.name == shown))
    release()
    org = request_org()
    org_view = _org_view(org, mapping)
    problems = problems or []
    errors, general = _errors(problems, in_form=problems_in_form)
    page = render_template(
        "admin/mapping_edit.html",
        name=name,
        shown_name=shown,
        row=row,
        based_on=based_on,
        active=active,
        latest=latest,
        mapping=mapping,
        entities=_entity_rows(mapping, org_view),
        org=org_view,
        org_where=org.where,
        form_text=form_text,
        yaml_text=form_text if yaml_text is None else yaml_text,
        errors=errors,
        error_links=_error_links(errors),
        general=general,
        problems=problems,
        message=message,
        preview=preview,
        preview_entity=preview_entity if preview_entity in mapping.entities else "contract",
        entity_names=[e for e in PULL_ORDER if e in mapping.entities],
        can_edit=current_user().can_edit,
    )
    return page, status
