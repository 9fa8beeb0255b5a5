"""The console's Mappings section: the saved versions of each mapping and the shipped presets (``/admin/mappings``),
and a version's lifecycle: activation, rollback, a diff between versions, export as YAML, and import (a file,
pasted text or a preset). Editing a version is :mod:`.mappings_editor`; how the org is asked,
:mod:`.mappings_org`.

A version is never changed, and only one version of a mapping is active: what the pull reads. Nothing can be
activated (or rolled back to) without passing a check against the org as it is at that moment (fresh
describes), so a version saved while the org could not be asked never reaches the pull; when the org cannot
be asked now, activation and rollback refuse, saying why (503), and a version that does not fit the org opens
in the editor with its problems (422). An import is checked like a save: one that loads but does not fit the
org opens in the editor as a draft, to be fixed and saved there.

Viewers read every page, diff and export; every POST is an admin's (the blueprint's guard answers 403).
Every change is audited (:func:`~email_actions.web.console.audit.record_change`) in the transaction that makes it.
"""

from __future__ import annotations

import re
from collections import defaultdict

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from email_actions.web.console.audit import record_change
from email_actions.web.console.auth import current_user
from email_actions.web.console.blueprint import bp
from email_actions.web.console.mappings_drafts import (
    MAX_YAML_CHARACTERS,
    check,
    posted_text,
    release,
    request_org,
    store_version,
    version_or_404,
)
from email_actions.web.console.mappings_editor_page import render_editor
from mappings.loader import UnknownPreset, load, preset_names, preset_text
from mappings.problems import MappingProblem
from sync_service.store import mapping_versions as versions
from sync_service.store.db import current_session
from sync_service.store.models import MappingVersion

# ------------------------------------------------------------------------------------------ the list


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


# ------------------------------------------------------------------------------- activate, roll back


def _activation(name: str, version: int, action: str) -> ResponseReturnValue:
    session = current_session()
    row = version_or_404(name, version)
    active = versions.get_active(session, name)
    if row.is_active:
        flash(f"Version {version} is already the active one.")
        return redirect(url_for("admin.mappings_version", name=name, version=version))
    if action == "mapping.rollback" and (active is None or version >= active.version):
        flash("Roll back goes to a version older than the active one; use Activate for this one.", "error")
        return redirect(url_for("admin.mappings_version", name=name, version=version))
    text = row.yaml
    release()
    checked = check(text, request_org(), fresh=True)
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


# -------------------------------------------------------------------------------------- diff, export


_HUNK = re.compile(r"^@@ ")


@bp.get("/mappings/<name>/v<int:version>/diff")
def mappings_diff(name: str, version: int) -> ResponseReturnValue:
    session = current_session()
    row = version_or_404(name, version)
    active = versions.get_active(session, name)
    against = request.args.get("against", type=int)
    if against is None:
        against = active.version if active is not None else (version - 1 if version > 1 else None)
    lines: list[tuple[str, str]] = []
    other = None
    if against is not None:
        other = version_or_404(name, against)
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
    row = version_or_404(name, version)
    filename = re.sub(r"[^a-z0-9_-]", "", name) or "mapping"
    return Response(
        row.yaml,
        mimetype="application/yaml",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}-v{row.version}.yaml"',
            "Cache-Control": "no-store",
        },
    )


# -------------------------------------------------------------------------------------------- import


def _import(text: str, source: str) -> ResponseReturnValue:
    release()
    checked = check(text, request_org())
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
    return store_version(checked, action="mapping.import", source=source)


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
    return _import(posted_text("yaml"), "pasted")


@bp.post("/mappings/presets/<preset>/import")
def mappings_import_preset(preset: str) -> ResponseReturnValue:
    try:
        text = preset_text(preset)
    except UnknownPreset:
        abort(404)
    return _import(text, f"preset:{preset}")
