"""The pull's SOQL: only Salesforce ids are ever quoted into a query."""

from __future__ import annotations

import pytest

from sync_service.pull import plan
from tests.sync_service.pull.conftest import load_preset


def test_by_ids_quotes_salesforce_ids_only() -> None:
    mapping = load_preset("salesforce_cpq")
    query = plan.by_ids(mapping, "account", ["001000000000001AAA", "001000000000002"])
    assert query.soql().endswith("FROM Account WHERE (Id IN ('001000000000001AAA', '001000000000002'))")
    # A lookup mapped through a transform or a constant can hold any text; it never reaches the query.
    with pytest.raises(ValueError, match="not Salesforce ids"):
        plan.by_ids(mapping, "account", ["001000000000001AAA", "x') OR (Name != '"])
    with pytest.raises(ValueError, match="no ids"):
        plan.by_ids(mapping, "account", [])
