"""`renewals bench state-fields` at a tiny scale: reading the renewal state back costs a pull no extra call, and
a renewal opportunity won in Salesforce (a change the contract's own SystemModstamp does not show) reaches the
store through an incremental pull. Calls are counted, not timed."""

from __future__ import annotations

from pathlib import Path

from tests.bench.state_fields import state_field_figures


def test_the_state_fields_ride_on_the_pulls_queries(tmp_path: Path) -> None:
    figures = state_field_figures(tmp_path / "org", 200)

    assert figures["extra_calls_per_full_pull"] == 0
    assert figures["extra_calls_per_incremental_pull"] == 0
    assert figures["extra_calls_per_edits_only_incremental_pull"] == 0
    assert figures["renewal_opportunities_won_in_salesforce"] == 2
    assert figures["contracts_renewed_in_salesforce"] >= 2
    # The incremental pull brings every win back; without the state fields none is seen.
    assert figures["contracts_marked_renewed"] == figures["contracts_renewed_in_salesforce"]
    assert figures["contracts_marked_renewed_without_state_fields"] == 0
