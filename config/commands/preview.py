"""``renewals preview``: render one email of a contract from the store, to look at it before it is sent.

The email is built exactly as the sending job builds it (same context, brand, links and templates) from an
unsaved email message, and nothing is written: the session is rolled back and closed. ``--stage`` is the
reminder's stage (days from the end date, negative before it) and sets the day the email is written on, so
the wording ("in 30 days", "today", "7 days ago") is the stage's whatever today's date is. A contact request
is shown with placeholder text where the customer's message and preferences go.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from sqlalchemy import make_url, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from config.commands.cli import settings_from_environment
from email_actions.mail import brand_settings
from email_actions.mail.brands import BrandError, BrandUnusable, brand_for_contract
from email_actions.mail.links import Links
from email_actions.mail.rendering.context import REP_KINDS, build_context
from email_actions.mail.rendering.mime import compose_email
from email_actions.mail.rendering.render import KINDS, TemplateProblem, default_renderer
from sync_service.outbox.tasks import active_mapping
from sync_service.store import models
from sync_service.store.db import Database
from sync_service.store.models import new_nonce

PLACEHOLDER_REQUEST = {
    "message": "(The customer's message appears here.)",
    "preferred_time": "(their preferred time)",
    "channel": "(phone or email)",
}


def _find_contract(session: Session, reference: str) -> object | None:

    reference = reference.strip()
    if reference.isdigit():
        return session.get(models.Contract, int(reference))
    column = models.Contract.sf_id
    if len(reference) == 15:
        return session.scalars(select(models.Contract).where(column.like(f"{reference}___"))).first()
    return session.scalars(select(models.Contract).where(column == reference)).first()


@click.command("preview")
@click.option("--contract", "reference", required=True, help="The contract's local id or Salesforce id.")
@click.option(
    "--stage",
    type=int,
    default=None,
    help="Days from the end date, negative before it (-30, 0, 7); the email is written as of that day. "
    "Required for a reminder; other kinds default to today.",
)
@click.option("--kind", type=click.Choice(KINDS), default="reminder", show_default=True, help="Which email.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["html", "text", "eml"]),
    default="html",
    show_default=True,
    help="The HTML part, the plain-text part, or the whole MIME message as SES would get it.",
)
@click.option("--out", type=click.Path(dir_okay=False, writable=True, path_type=Path), help="Write to this file.")
def preview(reference: str, stage: int | None, kind: str, output_format: str, out: Path | None) -> None:
    """Render one email of a contract (nothing is saved or sent)."""

    if kind == "reminder" and stage is None:
        raise click.UsageError("a reminder needs --stage (days from the end date, e.g. -30)")
    settings = settings_from_environment()
    url = make_url(settings.database_url)
    database_file = url.database if url.get_backend_name() == "sqlite" else None
    # SQLite would create an empty file on connecting: a preview must not write anything, not even that.
    if database_file and not database_file.startswith(("file:", ":memory:")) and not Path(database_file).exists():
        raise click.ClickException(f"there is no store at {database_file}: run `renewals db upgrade` first")
    database = Database(settings.database_url)
    session = database.sessionmaker()
    try:
        try:
            book = brand_settings.brands(session, settings)  # the admin console's, else the brands file's
        except BrandError as exc:
            raise click.ClickException(str(exc)) from None
        contract = _find_contract(session, reference)
        if not isinstance(contract, models.Contract):
            raise click.ClickException(f"no contract with the id or Salesforce id {reference!r}")
        mapping = active_mapping(session)
        use_reseller_brand = mapping.branding.use_reseller_brand if mapping is not None else True
        try:
            brand = brand_for_contract(book, contract, use_reseller_brand=use_reseller_brand)
        except BrandUnusable as exc:
            raise click.ClickException(f"contract {reference}: {exc}") from None
        if stage is not None and contract.end_date is not None:
            today = contract.end_date + timedelta(days=stage)
        else:
            today = datetime.now(UTC).date()
        message = models.EmailMessage(
            id=0,
            key=f"preview:{contract.id}",
            kind=kind,
            contract=contract,
            contact=contract.contact,
            rep=contract.rep,
            stage=stage if kind == "reminder" else None,
            brand=brand.key,
            nonce=new_nonce(),
            data=dict(PLACEHOLDER_REQUEST) if kind == "contact_request" else {},
        )
        context = build_context(session, message, brand=brand, links=Links(settings), today=today)
        try:
            rendered = default_renderer().render(context)
        except TemplateProblem as exc:
            raise click.ClickException(str(exc)) from None
        to = context.rep_email if kind in REP_KINDS else context.contact_email
        if output_format == "eml":
            data = compose_email(rendered, context, to=to or "undisclosed-recipients:;")
        else:
            data = (rendered.html if output_format == "html" else rendered.text).encode()
    except SQLAlchemyError as exc:
        raise click.ClickException(f"cannot read the store: {type(exc).__name__}") from None
    finally:
        session.rollback()
        session.close()
        database.dispose()
    if out is None:
        click.echo(data, nl=False)  # bytes go to the binary stdout as they are
    else:
        out.write_bytes(data)
        click.echo(f"Wrote {out} ({kind}, brand {brand.key}, to {to or '(no address)'}): {rendered.subject}")
