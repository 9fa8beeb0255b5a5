"""The console's Mappings section: the saved versions of each mapping and the shipped presets; per version, an
editor with object and field pickers filled from the org's describe(), and the raw YAML; a preview of the
records a mapping pulls; activation, rollback, a diff against the active version, export and import.

How an edit becomes a version
    A version is never changed: every save stores a new one (its author and time) and leaves the active one
    as it is until an admin activates the new one. Picker edits are *targeted edits of the YAML text*
    (:mod:`mappings.yamledit`): only the value that changed is rewritten — comments, key order and quoting
    stay as written, so the new version's diff shows just the edited lines. A canonical field picked where
    there was none is added after its entity's last field; "not mapped" removes the key. What the pickers
    cannot express (constants, transforms, scope filters, the write-back) is edited in the YAML editor.

What is refused, and where it is said
    A save is checked in full before anything is stored: the YAML must parse and fit the schema, then fit the
    org (objects, field paths, types, scope filters, write-back — :func:`mappings.validate.validate`). Each
    problem is shown beside the form field it concerns (its path mapped to the entity's object picker, a field's
    picker, or the entity); problems with no field (the write-back, YAML syntax) are listed at the top; the
    YAML editor lists every problem with its line. The answer is 422 and nothing is saved. The page keeps the
    edit as a draft (the forms carry its text), so fixing the one bad field keeps the other changes.

When the org cannot be asked
    Pages still render: the pickers become text boxes and the page says why the org could not be asked
    (not configured, unreachable, sign-in refused, the API budget used up) — never a stack trace or a secret.
    A save that loads and fits the schema is then *stored with a warning* that it was not checked against the
    org; nothing can be activated (or rolled back to) without passing a check against the org as it is at
    that moment, so an unchecked version never reaches the pull. Preview, activation and rollback refuse,
    saying why (503).

Preview
    A POST (it spends API calls, and it previews the draft on the page, saved or not): the mapping is checked
    against the org, then the pull's own query for one entity runs with ``LIMIT 20`` and the rows are converted
    by the pull's own conversion into canonical records, shown in a table — nothing is written to the store.

Viewers read every page, diff and export; every POST is an admin's (the blueprint's guard answers 403).
Every change is audited (:func:`~email_actions.web.console.audit.record_change`) in the transaction that makes it.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping as MappingOf
from dataclasses import dataclass, field
from typing import Any, cast

from flask import Response, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from config.settings import Settings
from email_actions.web.console.audit import record_change
from email_actions.web.console.auth import current_user, safe_next
from email_actions.web.console.blueprint import bp
from email_actions.web.console.mappings_org import (
    ConsoleOrg,
    OrgError,
    OrgField,
    OrgObject,
    OrgUnavailable,
    console_org,
)
from mappings.loader import UnknownPreset, load, preset_names, preset_text
from mappings.model import CANONICAL, PULL_ORDER, CanonicalField, Mapping
from mappings.problems import MappingError, MappingProblem
from mappings.typecheck import ACCEPTS
from mappings.yamledit import EditRefused, set_field, set_object
from sync_service.pull.preview import Preview
from sync_service.store import mapping_versions as versions
from sync_service.store.db import current_database, current_session
from sync_service.store.models import MappingVersion

MAX_YAML_CHARACTERS = 200_000


# ------------------------------------------------------------------------------------------ helpers


def _org() -> ConsoleOrg:
    settings = cast(Settings, current_app.extensions["renewals.settings"])
    return console_org(current_app.extensions, settings, current_database().sessionmaker)


def _release() -> None:
    """End the request's transaction before asking the org: on SQLite it holds the write lock, which the
    org layer's own sessions (budget, usage) and every job would otherwise wait for during a slow call."""
    current_session().commit()


def _posted_text(name: str) -> str:
    """A YAML text from a form field; a browser sends a textarea's line breaks as CRLF, which are not the
    admin's and are turned back into LF."""
    return request.form.get(name, "").replace("\r\n", "\n")


def _version_or_404(name: str, version: int) -> MappingVersion:
    try:
        return versions.get_version(current_session(), name, version)
    except versions.MappingVersionNotFound:
        abort(404)


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
class Checked:
    """A YAML text, as loaded and as checked against the org."""

    text: str
    mapping: Mapping | None = None
    problems: list[MappingProblem] = field(default_factory=list)
    org_error: str | None = None  # the org could not be asked (the text loads)

    @property
    def ok(self) -> bool:
        return self.mapping is not None and not self.problems


def check(text: str, org: ConsoleOrg, *, fresh: bool = False, name: str | None = None) -> Checked:
    """Load `text` and, when it loads, validate it against the org. `name`: the mapping
    the text must keep naming (an editor page edits one mapping; import starts others)."""
    result = Checked(text)
    if not text.strip():
        result.problems = [MappingProblem("", "the YAML is empty", line=1)]
        return result
    if len(text) > MAX_YAML_CHARACTERS:
        result.problems = [MappingProblem("", f"the YAML is longer than {MAX_YAML_CHARACTERS} characters")]
        return result
    try:
        result.mapping = load(text)
    except MappingError as exc:
        result.problems = exc.problems
        return result
    if name is not None and result.mapping.name != name:
        result.problems = [
            MappingProblem(
                "name",
                f"this page edits mapping {name}, and the YAML names {result.mapping.name}; to start a new mapping, "
                "use Import on the Mappings page",
                line=result.mapping.line_of("name"),
            )
        ]
        return result
    try:
        result.problems = org.validate(result.mapping, fresh=fresh)
    except OrgError as exc:
        result.org_error = str(exc)
    return result


# ------------------------------------------------------------------------------------ the editor page


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
    _release()
    org = _org()
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


# ------------------------------------------------------------------------------------------- pages


@bp.get("/mappings")
def mappings() -> ResponseReturnValue:
    return _list_page()


def _list_page(
    *, import_text: str = "", import_problems: list[MappingProblem] | None = None, status: int = 200
) -> ResponseReturnValue:
    rows = versions.list_versions(current_session())
    by_name: dict[str, list[MappingVersion]] = defaultdict(list)
    for row in rows:
        by_name[row.name].append(row)
    groups = [
        (name, next((r for r in items if r.is_active), None), sorted(items, key=lambda r: -r.version))
        for name, items in sorted(by_name.items())
    ]
    presets = []
    for preset in preset_names():
        presets.append((preset, load(preset_text(preset)).description))
    page = render_template(
        "admin/mappings.html",
        groups=groups,
        presets=presets,
        import_text=import_text,
        import_problems=[str(p) for p in import_problems or []],
        can_edit=current_user().can_edit,
    )
    return page, status


@bp.get("/mappings/<name>")
def mappings_current(name: str) -> ResponseReturnValue:
    try:
        row = versions.get_current(current_session(), name)
    except versions.MappingVersionNotFound:
        abort(404)
    return redirect(url_for("admin.mappings_version", name=name, version=row.version))


@bp.get("/mappings/<name>/v<int:version>")
def mappings_version(name: str, version: int) -> ResponseReturnValue:
    row = _version_or_404(name, version)
    return render_editor(name=name, row=row, based_on=row.version, form_text=row.yaml)


# -------------------------------------------------------------------------------- save and preview


class _EditRefusedAt(Exception):
    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.problem = MappingProblem(path, message)


def _edited_text(base: str, mapping: Mapping) -> str:
    """`base` with the pickers' choices applied: only what differs from `mapping` (base, loaded) is edited.
    An edit the text cannot take raises _EditRefusedAt, naming the control's path."""
    text = base
    for entity, spec in mapping.entities.items():
        chosen = (request.form.get(f"object.{entity}") or "").strip()
        if chosen and chosen != spec.object:
            try:
                text = set_object(text, entity, chosen)
            except EditRefused as exc:
                raise _EditRefusedAt(f"entities.{entity}.object", str(exc)) from None
        for name in CANONICAL.get(entity, {}):
            posted = request.form.get(f"field.{entity}.{name}")
            if posted is None:
                continue
            value = posted.strip() or None
            fm = spec.fields.get(name)
            if fm is not None and fm.field is None:
                continue  # a constant: edited in the YAML only
            if value == (fm.field if fm is not None else None):
                continue
            try:
                text = set_field(text, entity, name, value)
            except EditRefused as exc:
                raise _EditRefusedAt(f"entities.{entity}.fields.{name}", str(exc)) from None
    return text


@dataclass
class Draft:
    """What a save or preview post asks for: the text to check, and the loadable text it was made from."""

    name: str | None  # the mapping being edited; None for a draft that came from an import
    based_on: int | None
    base: str
    text: str
    edit_problem: MappingProblem | None = None


def _draft() -> Draft:
    name = request.form.get("name") or None
    based_on = request.form.get("based_on", type=int)
    base = _posted_text("base_yaml")
    if name is not None and based_on is not None and not base:
        base = _version_or_404(name, based_on).yaml
    try:
        base_mapping = load(base)
    except MappingError:
        abort(400)
    if name is not None and base_mapping.name != name:
        abort(400)
    if request.form.get("mode") == "fields":
        try:
            return Draft(name, based_on, base, _edited_text(base, base_mapping))
        except _EditRefusedAt as exc:
            return Draft(name, based_on, base, base, exc.problem)
    return Draft(name, based_on, base, _posted_text("yaml"))


def _refused(draft: Draft, checked: Checked, *, status: int = 422, message: str | None = None) -> ResponseReturnValue:
    """The editor again, with the draft and its problems. The pickers show the draft when it loads (and
    each problem beside its control), else the text it was made from."""
    loads = checked.mapping is not None
    return render_editor(
        name=draft.name,
        row=None,
        based_on=draft.based_on,
        form_text=checked.text if loads else draft.base,
        yaml_text=checked.text,
        problems=checked.problems,
        problems_in_form=loads,
        message=message,
        preview_entity=request.form.get("preview_entity", "contract"),
        status=status,
    )


def _stored_row(draft: Draft) -> MappingVersion | None:
    """The version the draft descends from, when the draft is that version unchanged."""
    if draft.name is None or draft.based_on is None:
        return None
    row = _version_or_404(draft.name, draft.based_on)
    return row if row.yaml == draft.text else None


@bp.post("/mappings/save")
def mappings_save() -> ResponseReturnValue:
    draft = _draft()
    if draft.edit_problem is not None:
        return _refused(draft, Checked(draft.text, load(draft.text), [draft.edit_problem]))
    if _stored_row(draft) is not None:
        flash(f"Nothing changed: version {draft.based_on} was not saved again.")
        return redirect(url_for("admin.mappings_version", name=draft.name, version=draft.based_on))
    _release()
    checked = check(draft.text, _org(), name=draft.name)
    if not checked.ok:
        return _refused(draft, checked, message="Not saved: fix the problems shown and save again.")
    if draft.based_on is None:  # a draft that came from an import: finishing that import
        return _store(checked, action="mapping.import", source="editor")
    return _store(checked, action="mapping.save", based_on=draft.based_on)


def _store(
    checked: Checked, *, action: str, based_on: int | None = None, source: str | None = None
) -> ResponseReturnValue:
    """Save `checked` (which loads and has no known problems) as a new version, audited; redirect to it."""
    assert checked.mapping is not None
    session = current_session()
    name = checked.mapping.name
    before = {"name": name, "version": based_on} if based_on is not None else {}
    for attempt in range(2):
        latest = session.scalar(select(func.max(MappingVersion.version)).where(MappingVersion.name == name))
        try:
            row = versions.save_version(session, checked.text, author=current_user().actor)
            after: dict[str, Any] = {"name": name, "version": row.version}
            if source:
                after["source"] = source
            if checked.org_error:
                after["checked_against_org"] = False
            record_change(session, action, before=before, after=after)
            session.commit()
            break
        except IntegrityError:  # another admin saved the same next version number first: take the one after
            session.rollback()
            if attempt:
                raise
    flash(f"Saved {name} version {row.version}. It is not active until you activate it.")
    if checked.org_error:
        flash(
            f"Saved without checking it against the org ({checked.org_error}); it will be checked when you "
            "activate it.",
            "error",
        )
    if based_on is not None and latest is not None and latest > based_on:
        flash(
            f"Note: it is based on version {based_on}, and version {latest} was saved after that one; "
            "compare them with the diff.",
            "error",
        )
    return redirect(url_for("admin.mappings_version", name=name, version=row.version))


@bp.post("/mappings/preview")
def mappings_preview() -> ResponseReturnValue:
    draft = _draft()
    entity = request.form.get("preview_entity", "contract")
    if draft.edit_problem is not None:
        return _refused(draft, Checked(draft.text, load(draft.text), [draft.edit_problem]))
    _release()
    org = _org()
    checked = check(draft.text, org, name=draft.name)
    if checked.org_error:
        return _refused(draft, checked, status=503, message=f"No preview: {checked.org_error}")
    if not checked.ok or checked.mapping is None:
        return _refused(draft, checked, message="No preview: fix the problems shown first.")
    if entity not in checked.mapping.entities:
        entity = "contract"
    try:
        result = org.preview(checked.mapping, entity)
    except OrgUnavailable as exc:
        return _refused(draft, checked, status=503, message=f"No preview: {exc}")
    except OrgError as exc:
        return _refused(draft, checked, message=f"No preview: {exc}")
    return render_editor(
        name=draft.name,
        row=_stored_row(draft),
        based_on=draft.based_on,
        form_text=draft.text,
        preview=result,
        preview_entity=entity,
    )


# ------------------------------------------------------------------------------- activate, roll back


def _activation(name: str, version: int, action: str) -> ResponseReturnValue:
    session = current_session()
    row = _version_or_404(name, version)
    active = versions.get_active(session, name)
    if row.is_active:
        flash(f"Version {version} is already the active one.")
        return redirect(url_for("admin.mappings_version", name=name, version=version))
    if action == "mapping.rollback" and (active is None or version >= active.version):
        flash("Roll back goes to a version older than the active one; use Activate for this one.", "error")
        return redirect(url_for("admin.mappings_version", name=name, version=version))
    text = row.yaml
    _release()
    checked = check(text, _org(), fresh=True)
    verb = "rolled back" if action == "mapping.rollback" else "activated"
    if checked.org_error:
        return render_editor(
            name=name,
            row=row,
            based_on=version,
            form_text=text,
            message=f"Not {verb}: {checked.org_error}",
            status=503,
        )
    if checked.problems:
        return render_editor(
            name=name,
            row=row,
            based_on=version,
            form_text=text,
            problems=checked.problems,
            message=f"Not {verb}: version {version} does not fit the org as it is now.",
            status=422,
        )
    reason = request.form.get("reason", "").strip()[:500] or None
    # Read again in the transaction that activates: another admin may have activated a version meanwhile.
    active = versions.get_active(session, name)
    previous = active.version if active is not None else None
    if previous == version:
        flash(f"Version {version} is already the active one.")
        return redirect(url_for("admin.mappings_version", name=name, version=version))
    if action == "mapping.rollback":
        versions.rollback(session, name, version, lambda _mapping: [])  # checked just above, against the org now
    else:
        versions.activate(session, name, version, [])
    record_change(
        session,
        action,
        before={"name": name, "version": previous},
        after={"name": name, "version": version},
        reason=reason,
    )
    session.commit()
    flash(f"{name} version {version} is active now" + (f" (was version {previous})." if previous else "."))
    return redirect(url_for("admin.mappings_version", name=name, version=version))


@bp.post("/mappings/<name>/v<int:version>/activate")
def mappings_activate(name: str, version: int) -> ResponseReturnValue:
    return _activation(name, version, "mapping.activate")


@bp.post("/mappings/<name>/v<int:version>/rollback")
def mappings_rollback(name: str, version: int) -> ResponseReturnValue:
    return _activation(name, version, "mapping.rollback")


# ------------------------------------------------------------------------------------ diff, export


_HUNK = re.compile(r"^@@ ")


@bp.get("/mappings/<name>/v<int:version>/diff")
def mappings_diff(name: str, version: int) -> ResponseReturnValue:
    session = current_session()
    row = _version_or_404(name, version)
    active = versions.get_active(session, name)
    against = request.args.get("against", type=int)
    if against is None:
        against = active.version if active is not None else (version - 1 if version > 1 else None)
    lines: list[tuple[str, str]] = []
    other = None
    if against is not None:
        other = _version_or_404(name, against)
        for line in versions.diff(session, name, against, version).splitlines():
            if line.startswith(("+++", "---")) or _HUNK.match(line):
                kind = "hunk"
            else:
                kind = "add" if line.startswith("+") else "del" if line.startswith("-") else ""
            lines.append((kind, line))
    all_versions = versions.list_versions(session, name)
    return render_template(
        "admin/mapping_diff.html",
        name=name,
        row=row,
        other=other,
        active=active,
        lines=lines,
        versions=all_versions,
    )


@bp.get("/mappings/<name>/v<int:version>/export")
def mappings_export(name: str, version: int) -> ResponseReturnValue:
    row = _version_or_404(name, version)
    filename = re.sub(r"[^a-z0-9_-]", "", name) or "mapping"
    return Response(
        row.yaml,
        mimetype="application/yaml",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}-v{row.version}.yaml"',
            "Cache-Control": "no-store",
        },
    )


# ---------------------------------------------------------------------------------------- import


def _import(text: str, source: str) -> ResponseReturnValue:
    _release()
    checked = check(text, _org())
    if checked.mapping is None:
        return _list_page(import_text=text, import_problems=checked.problems, status=422)
    if checked.problems:
        # It loads: open it in the editor as a draft, each problem beside its field, to be fixed and saved there.
        return render_editor(
            name=None,
            row=None,
            based_on=None,
            form_text=text,
            problems=checked.problems,
            message=f"Not imported: {checked.mapping.name} does not fit the org. Fix the problems shown and save.",
            status=422,
        )
    return _store(checked, action="mapping.import", source=source)


@bp.post("/mappings/import")
def mappings_import() -> ResponseReturnValue:
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        try:
            text = upload.read(MAX_YAML_CHARACTERS * 4 + 1).decode("utf-8")
        except UnicodeDecodeError:
            problem = MappingProblem("", "the file is not UTF-8 text; save it as UTF-8 and import it again")
            return _list_page(import_problems=[problem], status=422)
        return _import(text.removeprefix("\ufeff"), f"file:{upload.filename[:100]}")
    return _import(_posted_text("yaml"), "pasted")


@bp.post("/mappings/presets/<preset>/import")
def mappings_import_preset(preset: str) -> ResponseReturnValue:
    try:
        text = preset_text(preset)
    except UnknownPreset:
        abort(404)
    return _import(text, f"preset:{preset}")


# ------------------------------------------------------------------------------------- the org


@bp.get("/mappings/org/objects/<object_name>/fields")
def mappings_object_fields(object_name: str) -> ResponseReturnValue:
    """The fields of an object, for the pickers' script: `{object, fields: [{name, label, type}], accepts}`,
    or `{object, error}` when the org cannot say (answered 200 so the page shows the reason)."""
    _release()
    accepts: MappingOf[str, list[str]] = {kind: sorted(types) for kind, types in ACCEPTS.items()}
    try:
        found = _org().fields(object_name)
    except OrgError as exc:
        return jsonify(object=object_name, error=str(exc), fields=[], accepts=accepts)
    if found is None:
        return jsonify(object=object_name, error=f"the org has no object {object_name}", fields=[], accepts=accepts)
    return jsonify(
        object=object_name,
        fields=[{"name": f.name, "label": f.label, "type": f.type} for f in found],
        accepts=accepts,
    )


@bp.post("/mappings/org/refresh")
def mappings_org_refresh() -> ResponseReturnValue:
    _org().refresh()
    flash("The org's objects and fields will be read again.")
    return redirect(safe_next(request.form.get("next")) or url_for("admin.mappings"))
