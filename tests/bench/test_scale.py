"""`renewals bench scale` at a small size: two real workers on one PostgreSQL store and one Redis push every Task
to the stand-in org once and send every email to SES once, none twice, none missing; the push fans out over
both workers (one helper queued for two batches). Figures are printed, never asserted against a speed."""

from __future__ import annotations

import pytest

from tests.bench.scale import scale_figures
from tests.bench.send import AWS_ENV
from tests.conftest import postgresql_url


def test_two_workers_push_and_send_each_item_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    figures = scale_figures(
        workers=(2,),
        tasks=250,  # a batch of 200 and one of 50: the push queues a helper for the second
        reminders=26,  # 52 emails: two batches of the email queue (the first one staggered to 50)
        latency_ms=5,
        database_url=postgresql_url().render_as_string(hide_password=False),
    )
    push = figures["push"]["workers_2"]
    assert (push["duplicates"], push["missing"], push["statuses"]) == (0, 0, {"done": 250})
    assert push["helpers_queued"] == 1
    send = figures["send"]["workers_2"]
    assert (send["duplicates"], send["missing"], send["statuses"]) == (0, 0, {"sent": 52})
    assert figures["send_throttle_errors"] == 0
