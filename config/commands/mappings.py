"""``renewals mappings``: list, show, validate, diff, export, import and activate field mappings.

Validation, import and activation sign in to the org the settings name (RENEWALS_SALESFORCE_*) and check
the mapping against its describe(). A problem is printed as `line N: path: message (did you mean X?)`, the
command exits 1, and nothing in the store changes.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, ParamSpec, TypeVar

import click
import requests
from simple_salesforce.exceptions import SalesforceError
from sqlalchemy.orm import Session

from config.commands.cli import settings_from_environment
from mappings.loader import UnknownPreset, load, preset_names, preset_text
from mappings.model import Mapping
from mappings.org import validate_in_org
from mappings.problems import MappingError, MappingProblem
from sync_service.salesforce.client import SalesforceNotConfigured, connect
from sync_service.salesforce.connect_settings import connection_from_settings
from sync_service.store import mapping_versions as versions
from sync_service.store.db import Database
from sync_service.store.models import MappingVersion

P = ParamSpec("P")
T = TypeVar("T")


@click.group()
def mappings() -> None:
    """Field mappings between the org and the service, versioned in the store (RENEWALS_DATABASE_URL)."""


@mappings.command("list")
@click.argument("name", required=False)
def list_command(name: str | None) -> None:
    """List saved versions (all mappings, or NAME's) and which one of each is active."""
    with _session() as session:
        rows = versions.list_versions(session, name)
        if not rows:
            presets = ", ".join(preset_names())
            click.echo(
                f"No mappings saved yet. Start from a preset ({presets}): renewals mappings import --preset NAME."
            )
            return
        click.echo(f"{'NAME':<24} {'VERSION':>7}  ACTIVE  {'SAVED (UTC)':<19}  AUTHOR")
        for row in rows:
            saved = row.created_at.strftime("%Y-%m-%d %H:%M:%S")
            active = "yes" if row.is_active else "no"
            click.echo(f"{row.name:<24} {row.version:>7}  {active:<6}  {saved:<19}  {row.author}")


@mappings.command()
@click.argument("name")
@click.option("--version", type=int, help="Version to show (default: the active one, else the latest).")
def show(name: str, version: int | None) -> None:
    """Show one version's YAML with who saved it and when."""
    with _session() as session:
        row = _row(session, name, version)
        state = "active" if row.is_active else "inactive"
        saved = f"{row.created_at:%Y-%m-%d %H:%M:%S} UTC"
        click.echo(f"# {row.name} version {row.version} ({state}), saved by {row.author} at {saved}")
        click.echo(row.yaml, nl=not row.yaml.endswith("\n"))


@mappings.command()
@click.argument("name", required=False)
@click.option("--version", type=int, help="Stored version of NAME (default: the active one, else the latest).")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A YAML file.")
@click.option("--preset", help="A shipped preset.")
def validate(name: str | None, version: int | None, path: Path | None, preset: str | None) -> None:
    """Check a mapping (stored NAME, --file or --preset) against the org; exit 1 listing any problems."""
    if [name, path, preset].count(None) != 2:
        raise click.UsageError("give exactly one of NAME, --file or --preset")
    if name is not None:
        with _session() as session:
            text = _row(session, name, version).yaml
    else:
        text = path.read_text(encoding="utf-8") if path is not None else _preset(preset or "")
    mapping = _checked(text)
    click.echo(f"{mapping.name} is valid against the org.")


@mappings.command()
@click.argument("name")
@click.argument("old", type=int)
@click.argument("new", type=int)
def diff(name: str, old: int, new: int) -> None:
    """Show what changed from version OLD to version NEW (unified diff of the YAML)."""
    with _session() as session:
        text = _store_call(versions.diff, session, name, old, new)
    click.echo(text or f"Versions {old} and {new} of {name} are identical.", nl=not text)


@mappings.command()
@click.argument("name")
@click.option("--version", type=int, help="Version to export (default: the active one, else the latest).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not to stdout.")
def export(name: str, version: int | None, output: Path | None) -> None:
    """Print a version's YAML exactly as saved, for editing and `import`."""
    with _session() as session:
        text = _row(session, name, version).yaml
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        output.write_text(text, encoding="utf-8")


@mappings.command("import")
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--preset", help="Import a shipped preset (version 0), e.g. salesforce_cpq or salesforce_cpq@0.")
@click.option("--author", default=lambda: _default_author(), show_default="your user name", help="Who saves it.")
@click.option("--activate", "make_active", is_flag=True, help="Also make the new version the active one.")
def import_command(path: Path | None, preset: str | None, author: str, make_active: bool) -> None:
    """Save a YAML file (or a preset) as the next version of the mapping it names, once it validates."""
    if (path is None) == (preset is None):
        raise click.UsageError("give a FILE or --preset NAME")
    text = path.read_text(encoding="utf-8") if path is not None else _preset(preset or "")
    mapping = _checked(text)
    with _session() as session:
        row = versions.save_version(session, text, author=author)
        if make_active:
            versions.activate(session, mapping.name, row.version, [])
    click.echo(f"Imported {mapping.name} as version {row.version}{' and activated it' if make_active else ''}.")


@mappings.command()
@click.argument("name")
@click.option("--version", type=int, help="Version to activate (default: the latest); an earlier one rolls back.")
def activate(name: str, version: int | None) -> None:
    """Make a version the active one, after validating it against the org as it is now."""
    with _session() as session:
        row = _row(session, name, version, latest=True)
        text, number = row.yaml, row.version
    _checked(text)
    with _session() as session:
        versions.activate(session, name, number, [])
    click.echo(f"Activated {name} version {number}.")


def _checked(text: str) -> Mapping:
    """The mapping `text` describes, valid against the org; otherwise print its problems and exit 1."""
    try:
        mapping = load(text)
    except MappingError as exc:
        _fail(exc.problems, "the mapping does not load")
    try:
        sf = connect(connection_from_settings(settings_from_environment()))
        problems = validate_in_org(mapping, sf)
    except SalesforceNotConfigured as exc:
        raise click.ClickException(str(exc)) from None
    except (SalesforceError, requests.RequestException) as exc:
        raise click.ClickException(f"the org could not be asked: {exc}") from None
    if problems:
        _fail(problems, f"{mapping.name} does not fit the org")
    return mapping


def _fail(problems: Sequence[MappingProblem], summary: str) -> NoReturn:
    for problem in problems:
        click.echo(str(problem))
    count = len(problems)
    click.echo(f"{summary}: {count} problem{'s' if count != 1 else ''}; nothing was changed.", err=True)
    sys.exit(1)


@contextmanager
def _session() -> Iterator[Session]:
    database = Database(settings_from_environment().database_url)
    try:
        with database.session_scope() as session:
            yield session
    finally:
        database.dispose()


def _row(session: Session, name: str, version: int | None, *, latest: bool = False) -> MappingVersion:
    if version is not None:
        return _store_call(versions.get_version, session, name, version)
    return _store_call(versions.get_latest if latest else versions.get_current, session, name)


def _store_call(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`function`'s result; a version that does not exist ends the command with its message."""
    try:
        return function(*args, **kwargs)
    except versions.MappingVersionNotFound as exc:
        raise click.ClickException(str(exc)) from None


def _preset(spec: str) -> str:
    """A preset's YAML from `NAME` or `NAME@0` (presets exist only as version 0)."""
    name, _, version = spec.partition("@")
    try:
        if version not in ("", "0"):
            raise UnknownPreset(f"preset {name!r} has no version {version}; presets exist only as version 0")
        return preset_text(name)
    except UnknownPreset as exc:
        raise click.ClickException(str(exc.args[0])) from None


def _default_author() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
