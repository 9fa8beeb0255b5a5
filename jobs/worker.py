"""The RQ worker that runs every job inside the Flask app context.

Jobs therefore see ``flask.current_app``, the settings (``config.settings.get_settings()``) and the
store (``sync_service.store.db.session_scope()``) exactly as views do. The app is built once in the worker
process; each job runs in a forked work horse with a fresh app context.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from rq import Worker
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue

from config.settings import Settings
from email_actions.app import create_app
from jobs.base import get_queue, redis_connection
from jobs.queues import EMAIL, QUEUE_NAMES


class AppWorker(Worker):
    def __init__(self, queues: Any, *args: Any, settings: Settings, **kwargs: Any) -> None:
        super().__init__(queues, *args, **kwargs)
        self.settings = settings
        # Built once, before any fork; it opens no connections, so work horses share nothing live.
        self.app: Flask = create_app(settings)
        if EMAIL in self.queue_names():
            # Render caches filled before any fork: every work horse inherits them.
            from email_actions.sending.pipeline import warm_renderer

            warm_renderer(settings)

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        with self.app.app_context():
            return super().perform_job(job, queue, execution)


def make_worker(settings: Settings, queue_names: tuple[str, ...] = QUEUE_NAMES) -> AppWorker:
    connection = redis_connection(settings)
    queues = [get_queue(name, connection) for name in queue_names]
    return AppWorker(queues, connection=connection, settings=settings)
