"""The RQ worker that runs every job inside an app context.

Jobs therefore see the settings (``config.settings.get_settings()``) and the store
(``sync_service.store.db.session_scope()``) exactly as views do. The worker's app is a bare Flask app with just
those two (:func:`job_app`): jobs sit below the web app and must not need any of it. It is built once in the
worker process; each job runs in a forked work horse with a fresh app context.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

import structlog
from flask import Flask
from rq import Worker
from rq.exceptions import DeserializationError
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

import jobs
from config.settings import Settings
from email_actions.mail import brand_settings
from email_actions.mail.brands import BrandBook, BrandError
from email_actions.mail.sending.pipeline import warm_renderer
from email_actions.mail.sending.ses import ses_client
from jobs.base import get_queue, redis_connection
from jobs.queues import EMAIL, QUEUE_NAMES
from sync_service.store import db, models
from sync_service.store.db import current_database

# Contact locales whose data a worker loads before it forks (babel: tens of ms each); others load in the horse.
LOCALES = 50


class AppWorker(Worker):
    def __init__(self, queues: Any, *args: Any, settings: Settings, **kwargs: Any) -> None:
        super().__init__(queues, *args, **kwargs)
        self.settings = settings
        # Built once, before any fork; it opens no connections, so work horses share nothing live.
        self.app: Flask = job_app(settings)
        import_job_modules()
        if EMAIL in self.queue_names():
            # Render caches filled before any fork: every work horse inherits them.
            book, locales = render_inputs(self.app, settings)
            warm_renderer(settings, book, locales)
            # boto3 loads SES's service model and finds the credentials once per process: here, so that every
            # work horse makes its client from what it inherits (a tenth of a second less per batch).
            ses_client(settings)

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        # Every line written while the job runs (ours, RQ's, the libraries') names the job (config/settings/logs.py).
        with self.app.app_context(), structlog.contextvars.bound_contextvars(job_id=job.id, job=_function_of(job)):
            return super().perform_job(job, queue, execution)


def _function_of(job: Job) -> str | None:
    """The job's function's dotted name; None when the job's data does not load (RQ then fails the job itself)."""
    try:
        return job.func_name
    except DeserializationError:
        return None


def import_job_modules() -> list[str]:
    """Import every module of the ``jobs`` package now, before any fork: RQ imports a job's function by its
    dotted path in the work horse, and a horse that imports ``jobs.push`` (simple-salesforce, the outbox, the
    pull's modules) spends a tenth of a second of CPU on it, per job, where the modules imported here are
    inherited. Returns the modules' names."""
    names = [f"{jobs.__name__}.{info.name}" for info in pkgutil.iter_modules(jobs.__path__)]
    for name in names:
        importlib.import_module(name)
    return names


def job_app(settings: Settings) -> Flask:
    """The app context jobs run in: the settings and the store, nothing of the web app."""

    app = Flask("renewals.jobs")
    app.extensions["renewals.settings"] = settings
    db.init_app(app)
    return app


def render_inputs(app: Flask, settings: Settings) -> tuple[BrandBook | None, list[str]]:
    """The brands in force (the admin console's, else the file's) and the locales the store's contacts have, if
    the store answers now; else None and no locales (the brands file's and the default locale are warmed then;
    a work horse prepares whatever it lacks). No connection outlives the call, so none is shared with the forked
    work horses."""

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return None, []  # no store yet (connecting would create an empty file)
    with app.app_context():
        db = current_database()
        try:
            with db.session_scope() as session:
                locales = session.scalars(
                    select(models.Contact.locale).where(models.Contact.locale.is_not(None)).distinct().limit(LOCALES)
                ).all()
                return brand_settings.brands(session, settings), [str(locale) for locale in locales]
        except (SQLAlchemyError, BrandError):
            return None, []
        finally:
            db.engine.dispose()


def make_worker(settings: Settings, queue_names: tuple[str, ...] = QUEUE_NAMES) -> AppWorker:
    connection = redis_connection(settings)
    queues = [get_queue(name, connection) for name in queue_names]
    return AppWorker(queues, connection=connection, settings=settings)
