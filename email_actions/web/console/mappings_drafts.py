"""A mapping's text on its way to becoming a version, for the console's Mappings pages: read from a form,
checked (it must load, fit the schema, and fit the org: :func:`mappings.validate.validate`), and stored as a
new version, audited.

A version is never changed: every save stores a new one (its author and time) and leaves the active one as it
is until an admin activates the new one. When the org cannot be asked (not configured, unreachable, sign-in
refused, the API budget used up), a text that loads and fits the schema is *stored with a warning* that it
was not checked against the org; activation checks it again (:mod:`.mappings_versions`), so an unchecked
version never reaches the pull.

Callers end the request's transaction (:func:`release`) before asking the org: on SQLite it holds the write
lock that the org layer's own sessions would wait for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import abort, current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from config.settings import get_settings
from email_actions.web.console.audit import record_change
from email_actions.web.console.auth import current_user
from email_actions.web.console.mappings_org import ConsoleOrg, OrgError, console_org
from mappings.loader import load
from mappings.model import Mapping
from mappings.problems import MappingError, MappingProblem
from sync_service.store import mapping_versions as versions
from sync_service.store.db import current_database, current_session
from sync_service.store.models import MappingVersion

MAX_YAML_CHARACTERS = 200_000


def request_org() -> ConsoleOrg:
    """The app's view of the org (:mod:`.mappings_org`); call :func:`release` before asking it anything."""
    return console_org(current_app.extensions, get_settings(), current_database().sessionmaker)


def release() -> None:
    """End the request's transaction before asking the org: on SQLite it holds the write lock, which the
    org layer's own sessions (budget, usage) and every job would otherwise wait for during a slow call."""
    current_session().commit()


def posted_text(name: str) -> str:
    """A YAML text from a form field; a browser sends a textarea's line breaks as CRLF, which are not the
    admin's and are turned back into LF."""
    return request.form.get(name, "").replace("\r\n", "\n")


def version_or_404(name: str, version: int) -> MappingVersion:
    try:
        return versions.get_version(current_session(), name, version)
    except versions.MappingVersionNotFound:
        abort(404)


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


def store_version(
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
