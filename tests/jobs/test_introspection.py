"""What the console reads of the queues, against a real Redis: depths without side effects, failed jobs
described without their tracebacks, and putting a failed job back (or saying why not)."""

from __future__ import annotations

from redis import Redis

from config.settings import Settings
from jobs.base import get_queue
from jobs.introspection import (
    REDIS_CONNECT_TIMEOUT,
    REDIS_TIMEOUT,
    Requeue,
    exception_summary,
    failed_jobs,
    introspection_redis,
    queue_depths,
    requeue_all_failed,
    requeue_failed_job,
)
from jobs.queues import PUSH, QUEUE_NAMES
from jobs.worker import make_worker


def test_the_exception_summary_keeps_the_type_and_first_line_only() -> None:
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "jobs/pull.py", line 10, in pull_job\n'
        "    raise KeyError('x')\n"
        "KeyError: 'x'\n\n"
        "During handling of the above exception, another exception occurred:\n\n"
        "Traceback (most recent call last):\n"
        '  File "jobs/pull.py", line 12, in pull_job\n'
        "    connect(url)\n"
        "sqlalchemy.exc.OperationalError: could not connect to postgresql://renewals:hunter2@db:5432/x\n"
        "DETAIL: more about it\n"
    )
    summary = exception_summary(traceback)
    assert summary == "sqlalchemy.exc.OperationalError: could not connect to postgresql://***@db:5432/x"
    assert exception_summary("ValueError: " + "v" * 500).endswith("…")
    assert len(exception_summary("ValueError: " + "v" * 500)) == 200
    assert exception_summary(None) == ""


def fail_for_good(settings: Settings, redis: Redis, count: int = 1) -> list[str]:
    """Ids of `count` jobs of the push queue that failed with no retries left, run by a real worker."""
    jobs = [get_queue(PUSH, redis).enqueue_call("tests.jobs.sample_jobs.fail") for _ in range(count)]
    make_worker(settings, (PUSH,)).work(burst=True)
    return [job.id for job in jobs]


def test_depths_are_read_without_changing_anything(settings: Settings, redis: Redis) -> None:
    fail_for_good(settings, redis)
    for n in range(2):
        get_queue(PUSH, redis).enqueue_call("tests.jobs.sample_jobs.add", args=(n, 1))
    keys = {key: redis.dump(key) for key in redis.keys("*")}

    depths, workers = queue_depths(redis)

    assert [d.name for d in depths] == list(QUEUE_NAMES)
    push = depths[0]
    assert (push.waiting, push.running, push.scheduled, push.deferred, push.failed) == (2, 0, 0, 0, 1)
    assert all(d.waiting == d.failed == 0 for d in depths[1:])
    assert workers == 0  # a burst worker leaves no registration behind
    assert {key: redis.dump(key) for key in redis.keys("*")} == keys


def test_failed_jobs_are_described_without_their_traceback(settings: Settings, redis: Redis) -> None:
    first, second = fail_for_good(settings, redis, 2)
    redis.delete(f"rq:job:{first}")  # its data expired; it is still listed as failed

    described = {job.id: job for job in failed_jobs(redis, PUSH, 0, 10)}

    assert described[second].function == "tests.jobs.sample_jobs.fail"
    assert described[second].exception == "RuntimeError: this job always fails"
    assert described[second].enqueued_at is not None and described[second].ended_at is not None
    assert not described[second].expired
    assert described[first].expired and described[first].exception == ""
    assert [job.id for job in failed_jobs(redis, PUSH, 1, 1)] == list(described)[1:]  # a range, not all of it


def test_requeueing_one_failed_job_says_what_came_of_it(settings: Settings, redis: Redis) -> None:
    retried, expired = fail_for_good(settings, redis, 2)
    redis.delete(f"rq:job:{expired}")

    assert requeue_failed_job(redis, PUSH, "0123456789abcdef") is Requeue.NOT_FAILED
    assert requeue_failed_job(redis, PUSH, expired) is Requeue.EXPIRED
    assert requeue_failed_job(redis, PUSH, retried) is Requeue.DONE
    assert get_queue(PUSH, redis).get_job_ids() == [retried]
    assert requeue_failed_job(redis, PUSH, retried) is Requeue.NOT_FAILED  # no longer failed
    assert requeue_failed_job(redis, "email", expired) is Requeue.NOT_FAILED  # another queue's


def test_requeueing_all_failed_jobs_of_a_queue(settings: Settings, redis: Redis) -> None:
    ids = fail_for_good(settings, redis, 2)

    assert requeue_all_failed(redis, "email") == (0, [])
    failed, retried = requeue_all_failed(redis, PUSH)

    assert failed == 2 and sorted(retried) == sorted(ids)
    assert sorted(get_queue(PUSH, redis).get_job_ids()) == sorted(ids)
    assert queue_depths(redis)[0][0].failed == 0


def test_the_console_connection_gives_up_quickly(settings: Settings) -> None:
    kwargs = introspection_redis(settings).connection_pool.connection_kwargs
    assert kwargs["socket_connect_timeout"] == REDIS_CONNECT_TIMEOUT and kwargs["socket_timeout"] == REDIS_TIMEOUT
