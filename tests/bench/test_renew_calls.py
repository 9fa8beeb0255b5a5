"""`renewals bench renew-calls` at a tiny scale: a renewal from the email costs one API call more than before
issue 13 (the live quote read; the conditional write replaces its share of a collections call). Calls are
counted by the stand-in org, never timed."""

from __future__ import annotations

from tests.bench.renew_calls import renew_call_figures


def test_a_renewal_from_the_email_costs_one_call_more_than_before() -> None:
    figures = renew_call_figures(2)

    assert figures["renewals"] == figures["renewed_rows"] == 4
    assert figures["post_calls_per_renewal"] == 1
    assert figures["extra_calls_per_renewal"] == 1 <= figures["target_extra_calls"]
