"""`renewals bench conflicts` at a small scale: with records edited in Salesforce between pull and push and
transient faults firing, every injected conflict is detected (with a Task in the org), no field the user did
not change is overwritten, no rep change is lost and nothing is dead-lettered. Figures are counted, not timed."""

from __future__ import annotations

import json

from click.testing import CliRunner

from tests.bench.cli import bench


def test_the_fault_run_meets_its_targets() -> None:
    result = CliRunner().invoke(
        bench, ["conflicts", "--writes", "40", "--edited", "0.5", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["writes"] == 40 and figures["edited_in_salesforce"] == 20
    assert figures["conflicts_injected"] > 0
    assert figures["conflicts_detected"] == figures["conflicts_injected"]
    assert figures["conflict_tasks_in_org"] == figures["conflicts_injected"]
    assert figures["fields_overwritten_not_changed_by_user"] == 0
    assert figures["rep_changes_lost"] == 0
    assert (figures["dead_lettered"], figures["still_pending"]) == (0, 0)
