"""`renew_to_task` of `renewals bench push` at a tiny scale: the bench's renewals go through (the contracts it
picks are ones the renewal rules let a customer renew from the email) and each one's Task reaches the org.
Latencies are printed by the bench, never asserted."""

from __future__ import annotations

from tests.bench.renew import renew_to_task_figures


def test_the_bench_renews_and_every_task_reaches_the_org() -> None:
    figures = renew_to_task_figures(2)

    assert figures["renewals"] == figures["renewed_rows"] == 2
    assert figures["renew_to_task_p50_s"] >= 0
