"""jobs.base.enqueue_after_commit: work whose rows are committed is queued when Redis answers; when Redis is down
the request goes on, the miss is logged, and the scheduler's sweeps find the committed rows later."""

from __future__ import annotations

import pytest
from redis import Redis
from structlog.testing import capture_logs

from jobs.base import enqueue_after_commit, get_queue
from jobs.queues import EMAIL
from tests.processes import free_port

JOB = "tests.jobs.sample_jobs.add"


def test_the_work_is_queued_when_redis_answers(redis: Redis) -> None:
    with capture_logs() as logs, enqueue_after_commit("a sum"):
        get_queue(EMAIL, redis).enqueue_call(JOB, args=(1, 2))
    assert get_queue(EMAIL, redis).count == 1
    assert logs == []


def test_redis_being_down_is_logged_and_the_rest_of_the_block_skipped() -> None:
    down = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    reached: list[str] = []
    with capture_logs() as logs, enqueue_after_commit("a sum and its email"):
        get_queue(EMAIL, down).enqueue_call(JOB, args=(1, 2))
        reached.append("the second enqueue")  # Redis is down for it too: not tried
    assert reached == []
    [line] = logs
    assert line["log_level"] == "warning"
    assert line["event"] == "work not queued; the periodic sweep will pick it up"
    assert line["work"] == "a sum and its email"
    assert "Connection refused" in line["error"]


def test_other_errors_are_not_hidden() -> None:
    with pytest.raises(ZeroDivisionError), enqueue_after_commit("a sum"):
        _ = 1 / 0
