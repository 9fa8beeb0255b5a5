"""The editor of the console's Mappings section: a version's editor page, saving an edit as a new version,
a preview of the records a draft pulls, and what the pickers ask the org (an object's fields; reading the org
again). The page itself is drawn by :mod:`.mappings_editor_page`.

How an edit becomes a version
    Every save stores a new version (:func:`~.mappings_drafts.store_version`). Picker edits are *targeted
    edits of the YAML text* (:mod:`mappings.yamledit`): only the value that changed is rewritten — comments,
    key order and quoting stay as written, so the new version's diff shows just the edited lines. A canonical
    field picked where there was none is added after its entity's last field; "not mapped" removes the key.
    What the pickers cannot express (constants, transforms, scope filters, the write-back) is edited in the
    YAML editor.

What is refused
    A save is checked in full before anything is stored: the YAML must parse and fit the schema, then fit the
    org (objects, field paths, types, scope filters, write-back — :func:`mappings.validate.validate`). The
    answer is 422 with each problem beside its field, and nothing is saved. The page keeps the edit as a draft
    (the forms carry its text), so fixing the one bad field keeps the other changes. When the org cannot be
    asked, a text that loads is stored with a warning, and a preview refuses, saying why (503).

Preview
    A POST (it spends API calls, and it previews the draft on the page, saved or not): the mapping is checked
    against the org, then the pull's own query for one entity runs with ``LIMIT 20`` and the rows are converted
    by the pull's own conversion into canonical records, shown in a table — nothing is written to the store.

The forms are read by hand: the pickers' fields are named after the mapping's entities and fields, so the
form is as dynamic as the mapping. Viewers read the pages; every POST is an admin's (the blueprint's guard
answers 403), and every save is audited in the transaction that makes it.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingOf
from dataclasses import dataclass

from flask import abort, flash, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue

from email_actions.web.console.auth import safe_next
from email_actions.web.console.blueprint import bp
from email_actions.web.console.mappings_drafts import (
    Checked,
    check,
    posted_text,
    release,
    request_org,
    store_version,
    version_or_404,
)
from email_actions.web.console.mappings_editor_page import render_editor
from email_actions.web.console.mappings_org import OrgError, OrgUnavailable
from mappings.loader import load
from mappings.model import CANONICAL, Mapping
from mappings.problems import MappingError, MappingProblem
from mappings.typecheck import ACCEPTS
from mappings.yamledit import EditRefused, set_field, set_object
from sync_service.store.models import MappingVersion


@bp.get("/mappings/<name>/v<int:version>")
def mappings_version(name: str, version: int) -> ResponseReturnValue:
    row = version_or_404(name, version)
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
    base = posted_text("base_yaml")
    if name is not None and based_on is not None and not base:
        base = version_or_404(name, based_on).yaml
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
    return Draft(name, based_on, base, posted_text("yaml"))


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
    row = version_or_404(draft.name, draft.based_on)
    return row if row.yaml == draft.text else None


@bp.post("/mappings/save")
def mappings_save() -> ResponseReturnValue:
    draft = _draft()
    if draft.edit_problem is not None:
        return _refused(draft, Checked(draft.text, load(draft.text), [draft.edit_problem]))
    if _stored_row(draft) is not None:
        flash(f"Nothing changed: version {draft.based_on} was not saved again.")
        return redirect(url_for("admin.mappings_version", name=draft.name, version=draft.based_on))
    release()
    checked = check(draft.text, request_org(), name=draft.name)
    if not checked.ok:
        return _refused(draft, checked, message="Not saved: fix the problems shown and save again.")
    if draft.based_on is None:  # a draft that came from an import: finishing that import
        return store_version(checked, action="mapping.import", source="editor")
    return store_version(checked, action="mapping.save", based_on=draft.based_on)


@bp.post("/mappings/preview")
def mappings_preview() -> ResponseReturnValue:
    draft = _draft()
    entity = request.form.get("preview_entity", "contract")
    if draft.edit_problem is not None:
        return _refused(draft, Checked(draft.text, load(draft.text), [draft.edit_problem]))
    release()
    org = request_org()
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


# ------------------------------------------------------------------------------------- the org


@bp.get("/mappings/org/objects/<object_name>/fields")
def mappings_object_fields(object_name: str) -> ResponseReturnValue:
    """The fields of an object, for the pickers' script: `{object, fields: [{name, label, type}], accepts}`,
    or `{object, error}` when the org cannot say (answered 200 so the page shows the reason)."""
    release()
    accepts: MappingOf[str, list[str]] = {kind: sorted(types) for kind, types in ACCEPTS.items()}
    try:
        found = request_org().fields(object_name)
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
    request_org().refresh()
    flash("The org's objects and fields will be read again.")
    return redirect(safe_next(request.form.get("next")) or url_for("admin.mappings"))
