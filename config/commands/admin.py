"""``renewals admin``: the console's users — create, list, set a password or role, disable and enable.

Passwords are read from a prompt (twice, not echoed) or, for scripts, from standard input with
``--password-stdin``; never from an argument, where they would land in the shell history and `ps`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.commands.cli import settings_from_environment
from email_actions.web.console import auth
from sync_service.store.db import Database
from sync_service.store.models import ADMIN_ROLES, AdminUser, AuditEntry


@click.group()
def admin() -> None:
    """Users of the admin console (stored in RENEWALS_DATABASE_URL)."""


@contextmanager
def _session() -> Iterator[Session]:
    db = Database(settings_from_environment().database_url)
    try:
        with db.session_scope() as session:
            yield session
    except auth.UserError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.dispose()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _audit(session: Session, action: str, username: str, after: dict[str, object]) -> None:
    session.add(AuditEntry(actor="cli", action=action, before={}, after={"username": username, **after}))


@admin.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(ADMIN_ROLES), default="viewer", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def create_user(username: str, role: str, password_stdin: bool) -> None:
    """Create a console user: admins change things, viewers only read."""
    password = _password(password_stdin)
    with _session() as session:
        user = auth.create_user(session, username, password, role)
        _audit(session, "user.create", user.username, {"role": role})
    click.echo(f"Created {role} {user.username}.")


@admin.command("list-users")
def list_users() -> None:
    """List the console's users."""
    with _session() as session:
        users = session.scalars(select(AdminUser).order_by(AdminUser.username)).all()
        if not users:
            click.echo("No users yet: renewals admin create-user NAME --role admin")
            return
        click.echo(f"{'USER':<32} {'ROLE':<7} {'STATE':<8} LAST SIGN-IN (UTC)")
        for user in users:
            state = "disabled" if user.is_disabled else "active"
            last = f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never"
            click.echo(f"{user.username:<32} {user.role:<7} {state:<8} {last}")


@admin.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def set_password(username: str, password_stdin: bool) -> None:
    """Give a user a new password (their sign-ins end)."""
    password = _password(password_stdin)
    with _session() as session:
        user = auth.set_password(session, username, password)
        _audit(session, "user.set_password", user.username, {})
    click.echo(f"Password of {user.username} changed.")


@admin.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(ADMIN_ROLES))
def set_role(username: str, role: str) -> None:
    """Make a user an admin or a viewer."""
    with _session() as session:
        user = auth.set_role(session, username, role)
        _audit(session, "user.set_role", user.username, {"role": role})
    click.echo(f"{user.username} is now {role}.")


@admin.command("disable-user")
@click.argument("username")
def disable_user(username: str) -> None:
    """Stop a user signing in (their sign-ins end at once)."""
    with _session() as session:
        user = auth.set_disabled(session, username, True)
        _audit(session, "user.disable", user.username, {})
    click.echo(f"{user.username} is disabled.")


@admin.command("enable-user")
@click.argument("username")
def enable_user(username: str) -> None:
    """Let a disabled user sign in again."""
    with _session() as session:
        user = auth.set_disabled(session, username, False)
        _audit(session, "user.enable", user.username, {})
    click.echo(f"{user.username} is enabled.")
