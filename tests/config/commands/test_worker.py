"""`renewals worker --burst` runs queued jobs, as the Procfile's worker process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flask import Flask
from redis import Redis

from config.settings import Settings
from jobs.base import enqueue
from jobs.maintenance import heartbeat, last_heartbeat
from jobs.queues import DEFAULT
from tests.conftest import TEST_SECRET_KEY

RENEWALS = str(Path(sys.executable).with_name("renewals"))


def test_renewals_worker_burst_runs_the_queued_jobs(app: Flask, settings: Settings, redis: Redis) -> None:
    with app.app_context():
        enqueue(DEFAULT, heartbeat)
    env = {
        **os.environ,
        "RENEWALS_SECRET_KEYS": TEST_SECRET_KEY,
        "RENEWALS_DATABASE_URL": settings.database_url,
        "RENEWALS_REDIS_URL": settings.redis_url,
    }
    result = subprocess.run(
        [RENEWALS, "worker", "--burst", "--queue", DEFAULT], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert last_heartbeat(redis) is not None
