"""The ``renewals`` console script.

Subcommands live next to what they run and are imported only when used (``renewals --help`` imports
none of them), so a slow or broken subsystem never stops the others' commands — and the stand-in org's
commands appear even before that package is installed.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click

from config.settings import Settings, SettingsError, load_settings

# name -> (module:attribute, one-line help shown by `renewals --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "web": ("config.commands.web:web", "Serve the web app (gunicorn; --dev for Flask's dev server)."),
    "worker": ("config.commands.worker:worker", "Run jobs from the queues, inside the app context."),
    "scheduler": ("config.commands.worker:scheduler", "Enqueue the periodic jobs when they are due."),
    "db": ("config.commands.db:db", "Database migrations (renewals db upgrade)."),
    "bench": ("tests.bench.cli:bench", "Benchmarks that print figures (a development checkout only)."),
    "devorg": ("sync_service.devorg.cli:devorg", "The local stand-in Salesforce org."),
    "mappings": ("config.commands.mappings:mappings", "Versioned field mappings, validated against the org."),
    "sync": ("config.commands.sync:sync", "Pull from Salesforce now (--full, --mapping, --reconcile)."),
    "outbox": ("config.commands.outbox:outbox", "Salesforce writes that failed: list, retry, discard."),
    "plan": ("config.commands.plan:plan", "Plan today's reminders now (the scheduler does it daily)."),
    "send": ("config.commands.send:send", "Send the due reminder emails now (--dry-run to check)."),
    "preview": ("config.commands.preview:preview", "Render one email of a contract (--stage, --kind, --out)."),
    "admin": ("config.commands.admin:admin", "Users of the admin console (create-user, list-users, ...)."),
    "demo": ("config.commands.demo:demo", "Start the whole system locally and print where to click."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def __init__(self, *args: Any, lazy_commands: dict[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self.lazy_commands:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = self.lazy_commands[cmd_name][0].split(":")
        if module_name.startswith(f"{DEVELOPMENT_PACKAGE}."):
            _find_development_checkout(cmd_name)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module_name.startswith(exc.name):
                raise
            raise click.ClickException(f"'renewals {cmd_name}' is not available: {module_name} is missing.") from exc
        command = getattr(module, attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module_name}.{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy_commands and name not in self.commands:
                rows.append((name, self.lazy_commands[name][1]))
            elif (command := self.commands.get(name)) is not None and not command.hidden:
                rows.append((name, command.get_short_help_str()))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


# The benchmarks live with the tests (tests/bench/), outside the product's packages and its wheel; a development
# install (pip install -e) reaches them from the checkout beside the `config` package.
DEVELOPMENT_PACKAGE = "tests"


def _find_development_checkout(cmd_name: str) -> None:
    checkout = Path(__file__).resolve().parents[2]
    if not (checkout / DEVELOPMENT_PACKAGE / "bench" / "__init__.py").is_file():
        raise click.ClickException(
            f"'renewals {cmd_name}' runs from a development checkout of the project (its code lives in tests/bench/, "
            "which installed packages do not carry): clone the repository, then run it there after `make demo` "
            "or `pip install -e '.[dev,devorg]'`, or as `python -m tests.bench`."
        )
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))


@click.group(cls=LazyGroup, lazy_commands=COMMANDS)
def main() -> None:
    """Renewals from the inbox: reminder emails customers renew from, every step shown in Salesforce.

    Configured by RENEWALS_* environment variables (see the README's configuration table).
    """


def settings_from_environment() -> Settings:
    """The settings for a command, or a clean exit naming what to fix (no traceback, no values)."""
    # Imported on use, not at the top: `renewals --help` and the commands that need no settings (the stand-in
    # org's) must not depend on the email library or the planner loading.
    from email_actions.mail.brands import check_brands_file
    from sync_service.planning.cadence import check_cadence_file

    try:
        settings = load_settings()
        check_cadence_file(settings)
        check_brands_file(settings)
        return settings
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
