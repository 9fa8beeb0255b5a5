"""Sending the due reminders: queue an email row per reminder (and the rep's notice), then send each at most
once under the shared SES rate.

**Queue.** Every planned reminder due today or earlier gets two ``EmailMessage`` rows, keyed
``reminder:<id>`` and ``rep_notice:<id>`` (insert-or-nothing on the unique key, so two workers queueing
at once queue each email once).

**Send**, per queued email:

1. check it may still go (an address, not suppressed, not opted out of email in Salesforce, the contract not
   renewed, cancelled or held since planning, a usable brand) and render it; a problem marks *that* email
   ``skipped`` with the reason, and the batch goes on;
2. respect the daily quota and reserve a send slot from the Redis rate limiter shared by every worker
   (evenly spaced slots, ``ratelimit.py``);
3. shortly before the slot, **claim** it: ``UPDATE … SET status='sending' WHERE id=… AND status='queued'``,
   committed *before* SES is called. Whoever's update matched one row sends; everyone else moves on;
4. call SES at the slot; record ``sent`` with the MessageId and the "sent" Task in the outbox in one
   transaction.

Several emails are in flight per sender (threads): while some wait for their slot or SES's answer, others
render and claim, so SES's latency never leaves a slot unused. A run with a **deadline** (a batch job
before its timeout) takes no slot after it: the emails it did not reach stay ``queued`` (``deferred``), a
claimed one waiting for a slot goes back to ``queued``, and none is left ``sending`` by the timeout.

The window that remains: a worker killed between step 3's commit and step 4's commit leaves the row in
``sending``. It is never resent automatically (SES may have taken it); after ``STALE_SENDING`` the sweep
marks it ``unknown`` for a person to check (the admin console lists them; SES event publishing's Send
event with the ``email_message_id`` tag tells). So a reminder goes out at most once: a lost one is
possible in that window, a duplicate is not.

**Stale data** (:mod:`sync_service.freshness`): while a mapping's last successful pull is older than the freshness
limit, no reminder is queued and queued reminders and rep notices are left ``queued`` (counted as ``waiting``),
to go once a pull has brought the store up to date and the checks above run on fresh data. Confirmations and
contact-request notices answer what a customer just did and still go.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, cast

import structlog
from botocore.exceptions import BotoCoreError, ClientError
from redis import Redis
from sqlalchemy import Table, and_, bindparam, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from config.settings import Settings
from email_actions.mail import brand_settings
from email_actions.mail.brands import Brand, BrandBook, BrandUnusable, brand_for_contract, load_brands
from email_actions.mail.links import Links
from email_actions.mail.rendering import formatting
from email_actions.mail.rendering.context import READ_RULES, build_context
from email_actions.mail.rendering.mime import compose
from email_actions.mail.rendering.render import Renderer, TemplateProblem, default_renderer
from email_actions.mail.sending import ratelimit
from email_actions.mail.sending.ses import Deferred, NotSent, OutcomeUnknown, Paused, Rejected, SesSender
from mappings.model import Mapping
from sync_service.freshness import reminders_paused
from sync_service.outbox.tasks import active_mapping, record_email_activity, task_conventions
from sync_service.planning.planner import CANCEL_OPTED_OUT
from sync_service.renewability import active_rules
from sync_service.store import models
from sync_service.store.db import reader_sessions, writing
from sync_service.store.models import new_nonce, utcnow

log = structlog.get_logger(__name__)

STALE_SENDING = timedelta(minutes=10)
# Emails one sender has in flight at once (threads); the shared rate limiter still sets the pace.
SEND_CONCURRENCY = 8
QUEUE_CHUNK = 500
# The emails the staleness guard holds back: the reminder and the rep's copy of it.
REMINDER_KINDS = ("reminder", "rep_notice")
SKIP_OPTED_OUT = CANCEL_OPTED_OUT  # the planner's wording, so reports and pages read one reason


@dataclass
class SendSummary:
    queued: int = 0
    sent: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    unknown: int = 0
    requeued: int = 0
    throttled: int = 0
    paused: str | None = None
    # Reminders and rep notices left queued because the data is stale, and why.
    waiting: int = 0
    stale: str | None = None
    # Emails left queued because the run's deadline came first (which: `deferred_ids`).
    deferred: int = 0
    deferred_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "queued": self.queued,
            "sent": self.sent,
            "skipped": sum(self.skipped.values()),
            "skipped_reasons": dict(self.skipped),
            "failed": self.failed,
            "unknown": self.unknown,
            "requeued": self.requeued,
            "throttled": self.throttled,
            "paused": self.paused,
            "waiting": self.waiting,
            "stale": self.stale,
            "deferred": self.deferred,
        }


class Skip(Exception):
    """This email must not go; the message says why (stored on the row)."""


class _Claimed(Exception):
    """Another worker claimed the email first."""


@dataclass
class Prepared:
    raw: bytes
    sender: str
    to: str
    subject: str
    brand: Brand
    locale: str


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(models.EmailMessage)


def queue_due(session: Session, *, today: date, limit: int | None = None) -> int:
    """Queue the emails of every planned reminder due by `today` that has none yet; returns how many
    reminders were queued. Commit is the caller's."""
    quote_contact = (
        select(models.RenewalQuote.contact_id)
        .where(
            models.RenewalQuote.contract_id == models.Reminder.contract_id,
            models.RenewalQuote.is_deleted.is_(False),
        )
        .order_by(models.RenewalQuote.id.desc())
        .limit(1)
        .correlate(models.Reminder)
        .scalar_subquery()
    )
    query = (
        select(
            models.Reminder.id,
            models.Reminder.contract_id,
            models.Reminder.offset_days,
            func.coalesce(quote_contact, models.Contract.contact_id),
            models.Contract.rep_id,
        )
        .join(models.Contract, models.Contract.id == models.Reminder.contract_id)
        .where(
            models.Reminder.status == "planned",
            models.Reminder.due_on <= today,
            ~exists().where(
                and_(models.EmailMessage.reminder_id == models.Reminder.id, models.EmailMessage.kind == "reminder")
            ),
        )
        .order_by(models.Reminder.due_on, models.Reminder.id)
    )
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query).all()
    now = utcnow()
    for start in range(0, len(rows), QUEUE_CHUNK):
        values = []
        for reminder_id, contract_id, stage, contact_id, rep_id in rows[start : start + QUEUE_CHUNK]:
            common = {
                "reminder_id": reminder_id,
                "contract_id": contract_id,
                "contact_id": contact_id,
                "rep_id": rep_id,
                "stage": stage,
                "status": "queued",
                "attempts": 0,
                "created_at": now,
                "data": {},
            }
            values.append({**common, "key": f"reminder:{reminder_id}", "kind": "reminder", "nonce": new_nonce()})
            values.append({**common, "key": f"rep_notice:{reminder_id}", "kind": "rep_notice", "nonce": new_nonce()})
        session.execute(_insert(session).values(values).on_conflict_do_nothing(index_elements=["key"]))
    return len(rows)


def queued_ids(session: Session, *, limit: int | None = None, reminders: bool = True) -> list[int]:
    """The queued emails' ids, oldest first; without reminders and rep notices when `reminders` is false."""
    query = (
        select(models.EmailMessage.id).where(models.EmailMessage.status == "queued").order_by(models.EmailMessage.id)
    )
    if not reminders:
        query = query.where(models.EmailMessage.kind.not_in(REMINDER_KINDS))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def sweep_stale_sending(session: Session, *, now: datetime | None = None) -> int:
    """Mark emails stuck in `sending` (their worker died mid-send) as `unknown`; never resend them."""
    now = now or utcnow()
    result = session.execute(
        update(models.EmailMessage)
        .where(models.EmailMessage.status == "sending", models.EmailMessage.sending_at < now - STALE_SENDING)
        .values(
            status="unknown",
            status_at=now,
            error="the send was interrupted (worker stopped) after it was recorded; SES may or may not have "
            "accepted it, so it is not resent automatically",
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


# The statements every email runs, built once (building one costs about as much CPU as running it), with
# the values as parameters; the updates are Core statements on the table, the ORM's bookkeeping is not needed.
_SUPPRESSED = select(models.EmailSuppression).where(
    models.EmailSuppression.address == bindparam("address"),
    models.EmailSuppression.scope.in_(bindparam("scopes", expanding=True)),
)
_EMAILS = cast(Table, models.EmailMessage.__table__)
_CLAIM = (
    update(_EMAILS)
    .where(_EMAILS.c.id == bindparam("message_id"), _EMAILS.c.status == "queued")
    .values(
        status="sending",
        sending_at=bindparam("now"),
        status_at=bindparam("now"),
        attempts=_EMAILS.c.attempts + 1,
        to_address=bindparam("to"),
        subject=bindparam("title"),
        brand=bindparam("brand_key"),
        locale=bindparam("locale_name"),
    )
)


@lru_cache(maxsize=64)
def _set_statement(expected: str, names: tuple[str, ...]) -> Any:
    """`UPDATE email_messages SET <names> WHERE id = :message_id AND status = <expected>`."""
    return (
        update(_EMAILS)
        .where(_EMAILS.c.id == bindparam("message_id"), _EMAILS.c.status == expected)
        .values({name: bindparam(f"set_{name}") for name in names})
    )


def suppressed(session: Session, address: str, *, scopes: Iterable[str]) -> models.EmailSuppression | None:
    return session.scalar(_SUPPRESSED, {"address": address.strip().lower(), "scopes": list(scopes)})


class Composer:
    """Checks whether an email may go and builds it (brand, render, MIME); writes nothing."""

    def __init__(
        self,
        settings: Settings,
        *,
        renderer: Renderer | None = None,
        today: date | None = None,
        book: BrandBook | None = None,
    ) -> None:
        # The process's renderer: premailer's inlining is cached per template and brand for its lifetime.
        self.renderer = renderer if renderer is not None else default_renderer()
        self.links = Links(settings)
        # The brands in force (brand_settings.brands); without them, the brands file's.
        self.book = book if book is not None else load_brands(settings.brands_file)
        self.today = today

    def _recipient(self, session: Session, message: models.EmailMessage) -> str:
        if message.kind in ("reminder", "confirmation", "renewal_refused"):
            contact = message.contact
            if contact is None or contact.is_deleted:
                raise Skip("the contract has no contact to send to")
            if not contact.email:
                raise Skip("the contact has no email address")
            address = contact.email
            scopes = ("all", "reminders") if message.kind == "reminder" else ("all",)
            if message.kind == "reminder" and contact.suppressed_at is not None:
                raise Skip("the contact is suppressed (bounce, complaint or unsubscribe)")
            if message.kind == "reminder" and contact.email_opted_out:
                # As the last pull saw the org (HasOptedOutOfEmail in the presets): the planner cancels such
                # reminders too, this catches the ones queued before that pull.
                raise Skip(SKIP_OPTED_OUT)
        else:
            rep = message.rep
            if rep is None or not rep.email:
                raise Skip("the contract's rep has no email address")
            if not rep.is_active:
                raise Skip("the contract's rep is inactive")
            address = rep.email
            scopes = ("all",)
        found = suppressed(session, address, scopes=scopes)
        if found is not None:
            raise Skip(f"{address} is suppressed ({found.reason})")
        return address

    def _check_contract(self, message: models.EmailMessage) -> None:
        contract = message.contract
        if message.kind not in ("reminder", "rep_notice"):
            return
        reminder = message.reminder
        # The customer's email settles the reminder (sent or skipped); the rep's notice still goes then,
        # so the rep hears of a reminder that could not reach the customer too.
        allowed = ("planned",) if message.kind == "reminder" else ("planned", "sent", "skipped")
        if reminder is not None and reminder.status not in allowed:
            raise Skip(f"the reminder is {reminder.status} since it was queued")
        if contract.is_deleted:
            raise Skip("the contract was deleted in Salesforce")
        if contract.is_cancelled:
            raise Skip("the contract was cancelled")
        if contract.renewed_at is not None:
            raise Skip("the contract was renewed")
        if contract.is_held:
            raise Skip("a rep holds this contract's reminders")

    def prepare(
        self,
        session: Session,
        message: models.EmailMessage,
        *,
        use_reseller_brand: bool,
        rules: Mapping | None = READ_RULES,
    ) -> Prepared:
        """Everything needed to send `message`, or :class:`Skip` saying why it must not go (`rules`: the
        active mapping's renewal rules when the caller read them once for a batch)."""
        self._check_contract(message)
        to = self._recipient(session, message)
        try:
            brand = brand_for_contract(self.book, message.contract, use_reseller_brand=use_reseller_brand)
        except BrandUnusable as exc:
            raise Skip(str(exc)) from exc
        today = self.today or utcnow().date()
        try:
            context = build_context(session, message, brand=brand, links=self.links, today=today, rules=rules)
            rendered = self.renderer.render(context)
        except TemplateProblem as exc:
            raise Skip(f"the email cannot be rendered: {exc}") from exc
        reply_to = self._reply_to(message, brand)
        list_unsubscribe = context.links.get("unsubscribe") if message.kind == "reminder" else None
        raw = compose(
            rendered,
            sender=brand.sender,
            to=to,
            reply_to=reply_to,
            list_unsubscribe=list_unsubscribe,
            headers={"X-Renewals-Email": f"{message.kind}-{message.id}"},
        )
        return Prepared(
            raw=raw, sender=brand.sender, to=to, subject=rendered.subject, brand=brand, locale=context.locale
        )

    @staticmethod
    def _reply_to(message: models.EmailMessage, brand: Brand) -> str | None:
        if message.kind in ("reminder", "confirmation", "renewal_refused"):
            rep = message.rep
            if brand.reply_to:
                return brand.reply_to
            return rep.email if rep is not None and rep.is_active and rep.email else None
        contact = message.contact
        if message.kind == "contact_request" and contact is not None and contact.email:
            return contact.email
        return None


class EmailSender:
    """Sends queued emails; one per job or CLI run (it caches the brands and rendered templates)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        redis: Redis,
        *,
        ses: SesSender | None = None,
        renderer: Renderer | None = None,
        today: date | None = None,
        concurrency: int = SEND_CONCURRENCY,
    ) -> None:
        self.sessions = sessions
        # Each email is read and rendered in a read transaction and written in short write transactions of
        # its own (:func:`writing`): on SQLite no thread holds the database's write lock while it renders.
        self.readers = reader_sessions(sessions)
        self.settings = settings
        self.concurrency = concurrency
        self.redis = redis
        self.ses = ses if ses is not None else SesSender(settings, redis)
        # The brands in force when the run starts: an admin's change applies from the next run (job).
        with sessions() as session:
            book = brand_settings.brands(session, settings)
        self.composer = Composer(settings, renderer=renderer, today=today, book=book)

    def send(
        self,
        message_ids: Iterable[int],
        *,
        progress: Callable[[int], None] | None = None,
        deadline: float | None = None,
    ) -> SendSummary:
        """Send each queued email of `message_ids` at most once; returns what happened.

        `concurrency` emails are in flight at once (SES answers in tens of milliseconds; one at a time a
        worker would stay far below the account's rate); each is claimed, sent and recorded on its own.
        Nothing is claimed for a slot after `deadline` (a `time.monotonic()` value): those emails stay
        queued and are counted (and listed) as deferred.
        """
        summary = SendSummary()
        reason = ratelimit.paused(self.redis)
        if reason is not None:
            summary.paused = reason
            return summary
        with self.sessions() as session:
            mapping = active_mapping(session)
            conventions = task_conventions(session)
            rules = active_rules(session)
            summary.stale = reminders_paused(session, self.settings)
        use_reseller_brand = mapping.branding.use_reseller_brand if mapping is not None else True
        stop = threading.Event()

        def one(message_id: int) -> tuple[str, str] | None:
            if stop.is_set():
                return None
            if deadline is not None and time.monotonic() >= deadline:
                return ("deferred", "")
            try:
                return self._send_one(
                    message_id, use_reseller_brand, conventions, stale=summary.stale, deadline=deadline, rules=rules
                )
            except Paused as exc:
                stop.set()
                ratelimit.pause(self.redis, str(exc), seconds=exc.seconds)
                summary.paused = str(exc)
                return ("requeued", "")

        ids = list(message_ids)
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="send") as pool:
            for message_id, outcome in zip(ids, pool.map(one, ids), strict=True):
                if outcome is not None:
                    kind, detail = outcome
                    if kind == "skipped":
                        summary.skipped[detail] += 1
                    elif kind == "deferred":
                        summary.deferred += 1
                        summary.deferred_ids.append(message_id)
                    else:
                        setattr(summary, kind, getattr(summary, kind) + 1)
                if progress is not None:
                    progress(1)
        summary.throttled = self.ses.throttled
        return summary

    def _send_one(
        self,
        message_id: int,
        use_reseller_brand: bool,
        conventions: Any,
        *,
        stale: str | None = None,
        deadline: float | None = None,
        rules: Mapping | None = READ_RULES,
    ) -> tuple[str, str] | None:
        with self.readers() as session:
            # The row and every row its checks and context read, in one query.
            message = session.get(models.EmailMessage, message_id, options=_EMAIL_ROWS)
            if message is None or message.status != "queued":
                return None
            if stale is not None and message.kind in REMINDER_KINDS:
                return ("waiting", "")  # stays queued: it goes once a pull has made the data fresh again
            try:
                prepared = self.composer.prepare(session, message, use_reseller_brand=use_reseller_brand, rules=rules)
            except Skip as exc:
                prepared = None
                reason = str(exc)
            # End the read transaction: every write below is a short write transaction of its own.
            session.commit()
            if prepared is None:
                with writing(session):
                    self._set(session, message_id, "queued", status="skipped", error=reason)
                    self._settle_reminder(session, message_id, "skipped", reason)
                log.info("email skipped", email_message_id=message_id, reason=reason)
                return ("skipped", _reason_key(reason))
            try:
                quota = self.ses.quota()
            except (BotoCoreError, ClientError) as exc:
                # GetSendQuota itself throttled or unreachable: nothing was sent; the email waits its turn.
                log.warning(
                    "SES quota unreadable; email back in the queue", email_message_id=message_id, error=str(exc)
                )
                return ("requeued", "")
            if ratelimit.daily_room(self.redis, quota) <= 0:
                raise Paused(
                    f"the daily sending quota ({quota.max_24_hour_send:.0f} in 24 hours) is used up", seconds=600
                )
            claimed = False

            def claim() -> None:
                nonlocal claimed
                if claimed:
                    return
                now = utcnow()
                with writing(session):
                    result = session.execute(
                        _CLAIM,
                        {
                            "message_id": message_id,
                            "now": now,
                            "to": prepared.to,
                            "title": prepared.subject[:255],
                            "brand_key": prepared.brand.key,
                            "locale_name": prepared.locale,
                        },
                    )
                if getattr(result, "rowcount", 0) != 1:
                    raise _Claimed
                claimed = True

            tags = {"email_message_id": str(message_id), "kind": message.kind}
            try:
                ses_id = self.ses.send(
                    prepared.raw, sender=prepared.sender, tags=tags, before_call=claim, deadline=deadline
                )
            except _Claimed:
                return None
            except Deferred:
                if claimed:
                    self._put_back(session, message_id, error=None)
                return ("deferred", "")
            except NotSent as exc:
                if claimed:
                    self._put_back(session, message_id, error=str(exc))
                log.warning("email not sent; back in the queue", email_message_id=message_id, reason=str(exc))
                return ("requeued", "")
            except Paused:
                if claimed:
                    self._put_back(session, message_id, error=None)
                raise
            except Rejected as exc:
                with writing(session):
                    self._set(session, message_id, "sending", status="failed", error=str(exc))
                    self._settle_reminder(session, message_id, "skipped", str(exc))
                log.warning("email rejected", email_message_id=message_id, reason=str(exc))
                return ("failed", "")
            except OutcomeUnknown as exc:
                with writing(session):
                    self._set(session, message_id, "sending", status="unknown", error=str(exc))
                log.error("email outcome unknown; not resent", email_message_id=message_id, reason=str(exc))
                return ("unknown", "")
            now = utcnow()
            # The row, its reminder and the "sent" Task commit together: none without the others.
            with writing(session):
                self._set(session, message_id, "sending", status="sent", ses_message_id=ses_id, sent_at=now, error=None)
                # The row as the two updates left it, without reading it again (the Task quotes these).
                for name, value in (
                    ("status", "sent"),
                    ("to_address", prepared.to),
                    ("subject", prepared.subject[:255]),
                    ("ses_message_id", ses_id),
                    ("sent_at", now),
                ):
                    set_committed_value(message, name, value)
                session.expire(message, ["attempts", "sending_at", "status_at", "error", "brand", "locale"])
                if message.kind == "reminder":
                    self._settle_reminder(session, message_id, "sent", None)
                    record_email_activity(session, message, "sent", at=now, conventions=conventions)
            ratelimit.count_sent(self.redis)
            return ("sent", "")

    @staticmethod
    def _set(session: Session, message_id: int, expected: str, **values: Any) -> None:
        """Set `values` on the email if its status is still `expected` (call inside :func:`writing`)."""
        values.setdefault("status_at", utcnow())
        names = tuple(sorted(values))
        session.execute(
            _set_statement(expected, names),
            {"message_id": message_id, **{f"set_{name}": values[name] for name in names}},
        )

    @classmethod
    def _put_back(cls, session: Session, message_id: int, **values: Any) -> None:
        """The email did not leave: back from "sending" to the queue, in a write of its own."""
        with writing(session):
            cls._set(session, message_id, "sending", status="queued", **values)

    @staticmethod
    def _settle_reminder(session: Session, message_id: int, status: str, reason: str | None) -> None:
        message = session.get_one(models.EmailMessage, message_id)
        if message.kind != "reminder" or message.reminder is None or message.reminder.status != "planned":
            return
        message.reminder.status = status
        message.reminder.reason = reason


_EMAIL_ROWS = (
    joinedload(models.EmailMessage.contract).joinedload(models.Contract.account),
    joinedload(models.EmailMessage.contract).joinedload(models.Contract.reseller_account),
    joinedload(models.EmailMessage.contact),
    joinedload(models.EmailMessage.rep),
    joinedload(models.EmailMessage.reminder),
)


def warm_renderer(settings: Settings, book: BrandBook | None = None, locales: Iterable[str | None] = ()) -> int:
    """Prepare every template for every usable brand of `book` (default: the brands file's) now, in this
    process: the HTML ones inlined, the subject and text ones compiled, and the data of `locales` (and the
    default locale) loaded, so processes forked from it (RQ's work horses) start with that work done; returns how
    many HTML templates were prepared."""
    renderer = default_renderer()
    prepared = 0
    for kind in models.EMAIL_KINDS:
        try:
            renderer.text_templates(kind)
        except TemplateProblem as exc:
            log.error("email template cannot be rendered", kind=kind, problem=str(exc))
    for brand in (book or load_brands(settings.brands_file)).brands.values():
        for kind in models.EMAIL_KINDS:
            try:
                renderer.html_template(kind, brand)
            except TemplateProblem as exc:
                log.error("email template cannot be rendered", kind=kind, brand=brand.key, problem=str(exc))
            else:
                prepared += 1
    formatting.warm(locales)
    return prepared


def _reason_key(reason: str) -> str:
    """Group skip reasons for the summary (addresses and names vary, the cause does not)."""
    if " is suppressed " in reason:
        return "address suppressed"
    if reason.startswith("brand "):
        return "brand cannot be used"
    if reason.startswith("the email cannot be rendered"):
        return "template error"
    return reason


def dry_run_due(
    session: Session, settings: Settings, *, today: date, limit: int | None = None
) -> list[tuple[str, str]]:
    """What `send` would do with the reminders due by `today`: (email, "would send" or the skip reason).
    Builds unsaved email rows and rolls back: nothing is written or sent."""
    composer = Composer(settings, today=today, book=brand_settings.brands(session, settings))
    mapping = active_mapping(session)
    use_reseller_brand = mapping.branding.use_reseller_brand if mapping is not None else True
    query = (
        select(models.Reminder)
        .where(
            models.Reminder.status == "planned",
            models.Reminder.due_on <= today,
            ~exists().where(
                and_(models.EmailMessage.reminder_id == models.Reminder.id, models.EmailMessage.kind == "reminder")
            ),
        )
        .order_by(models.Reminder.due_on, models.Reminder.id)
        .options(joinedload(models.Reminder.contract))
    )
    if limit is not None:
        query = query.limit(limit)
    outcomes = []
    with session.no_autoflush:
        for reminder in session.scalars(query).unique():
            contract = reminder.contract
            for kind in ("reminder", "rep_notice"):
                message = models.EmailMessage(
                    id=0,
                    key=f"{kind}:{reminder.id}",
                    kind=kind,
                    contract=contract,
                    contact=contract.contact,
                    rep=contract.rep,
                    stage=reminder.offset_days,
                    nonce=new_nonce(),
                    status="queued",
                    data={},
                )
                message.reminder = reminder
                label = f"contract {contract.number or contract.sf_id} {kind} (stage {reminder.offset_days})"
                try:
                    prepared = composer.prepare(session, message, use_reseller_brand=use_reseller_brand)
                except Skip as exc:
                    outcomes.append((label, f"skip: {exc}"))
                else:
                    outcomes.append((f"{label} to {prepared.to}", "would send"))
                session.expunge(message) if message in session else None
    session.rollback()
    return outcomes
