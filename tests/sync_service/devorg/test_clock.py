"""The org's clock control (`POST /_devorg/admin/clock`): records written after an advance carry later stamps,
incremental queries see them, the offset outlives a restart, a fresh org runs on real time, and a bad value
is refused with a 400 that names it and changes nothing.

A test that advances a clock has an org of its own: an advance is for good, and the session's shared org must
keep real time. The others share one empty org whose clock nothing moves.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sync_service.devorg.values import parse_datetime
from tests.standin_org import RunningOrg, start_org

HOUR = 3600


@pytest.fixture
def own_org(tmp_path: Path) -> Iterator[RunningOrg]:
    """An empty org of this test's own (no seed: it starts in a moment)."""
    with start_org(tmp_path / "org") as org:
        yield org


@pytest.fixture(scope="module")
def untouched_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOrg]:
    """An empty org whose clock no test moves (the refusals below must leave it so)."""
    with start_org(tmp_path_factory.mktemp("clock-org")) as org:
        yield org


def stamps(org: RunningOrg, task_id: str) -> dict[str, datetime]:
    record = org.salesforce().Task.get(task_id)
    return {name: parse_datetime(record[name]) for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp")}


def post_clock(org: RunningOrg, **request: Any) -> Any:
    return org.http.post(
        f"{org.url}/_devorg/admin/clock", headers={"X-Devorg-Admin": org.info["admin_token"]}, **request
    )


def test_an_org_left_alone_runs_on_real_time(untouched_org: RunningOrg) -> None:
    assert untouched_org.admin("GET", "clock")["offset_seconds"] == 0
    before = datetime.now(UTC).replace(microsecond=0)
    task_id = untouched_org.salesforce().Task.create({"Subject": "now"})["id"]
    after = datetime.now(UTC) + timedelta(milliseconds=1)
    created = stamps(untouched_org, task_id)["CreatedDate"]
    assert before <= created <= after


def test_records_written_after_an_advance_carry_later_stamps(own_org: RunningOrg) -> None:
    sf = own_org.salesforce()
    first = sf.Task.create({"Subject": "before the advance"})["id"]
    untouched = sf.Task.create({"Subject": "never changed"})["id"]
    before = stamps(own_org, first)
    # The second after the newest stamp so far, as an incremental pull's watermark compares.
    newest = max(before["SystemModstamp"], stamps(own_org, untouched)["SystemModstamp"])
    watermark = (newest + timedelta(seconds=1)).replace(microsecond=0)

    own_org.advance_clock(HOUR)
    clock = own_org.admin("GET", "clock")
    assert clock["offset_seconds"] == HOUR
    assert parse_datetime(clock["now"]) >= before["SystemModstamp"] + timedelta(seconds=HOUR)

    second = sf.Task.create({"Subject": "after the advance"})["id"]
    sf.Task.update(first, {"Subject": "changed after the advance"})
    created, changed = stamps(own_org, second), stamps(own_org, first)
    assert created["CreatedDate"] >= before["CreatedDate"] + timedelta(seconds=HOUR)
    assert created["CreatedDate"] == created["SystemModstamp"]
    assert changed["CreatedDate"] == before["CreatedDate"]
    assert changed["LastModifiedDate"] >= before["LastModifiedDate"] + timedelta(seconds=HOUR)
    assert changed["SystemModstamp"] >= before["SystemModstamp"] + timedelta(seconds=HOUR)

    # What an incremental pull asks: what was stamped after the newest record it saw, and only that.
    since = watermark.strftime("%Y-%m-%dT%H:%M:%SZ")
    found = sf.query(f"SELECT Id FROM Task WHERE SystemModstamp > {since}")["records"]
    assert {r["Id"] for r in found} == {first, second}

    own_org.advance_clock(0.5)  # fractions of a second are fine; advances add up
    assert own_org.admin("GET", "clock")["offset_seconds"] == HOUR + 0.5


def test_the_offset_outlives_a_restart(tmp_path: Path) -> None:
    with start_org(tmp_path / "org") as org:
        org.advance_clock(HOUR)
        task_id = org.salesforce().Task.create({"Subject": "stamped an hour ahead"})["id"]
        stamped = stamps(org, task_id)["SystemModstamp"]
    with start_org(tmp_path / "org") as again:
        assert again.admin("GET", "clock")["offset_seconds"] == HOUR
        later = again.salesforce().Task.create({"Subject": "after the restart"})["id"]
        assert stamps(again, later)["SystemModstamp"] >= stamped


@pytest.mark.parametrize(
    ("request_body", "named"),
    [
        ({"json": {"advance_seconds": "soon"}}, "advance_seconds"),
        ({"json": {"advance_seconds": -1}}, "advance_seconds"),
        ({"json": {"advance_seconds": 0}}, "advance_seconds"),
        ({"json": {"advance_seconds": True}}, "advance_seconds"),
        ({"json": {"advance_seconds": None}}, "advance_seconds"),
        ({"json": {"advance_seconds": 10**12}}, "advance_seconds"),
        ({"data": '{"advance_seconds": NaN}'}, "advance_seconds"),
        ({"json": {}}, "advance_seconds"),
        ({"json": {"advance_seconds": 2, "rewind": True}}, "rewind"),
        ({"json": [2]}, "JSON object"),
        ({"data": "two seconds"}, "JSON"),
    ],
)
def test_a_bad_value_is_a_400_naming_it_and_changes_nothing(
    untouched_org: RunningOrg, request_body: dict[str, Any], named: str
) -> None:
    response = post_clock(untouched_org, **request_body)
    assert response.status_code == 400
    assert named in response.json()["error"]
    assert untouched_org.admin("GET", "clock")["offset_seconds"] == 0


def test_the_clock_needs_the_admin_token(untouched_org: RunningOrg) -> None:
    response = untouched_org.http.post(
        f"{untouched_org.url}/_devorg/admin/clock", json={"advance_seconds": 2}, headers={"X-Devorg-Admin": "wrong"}
    )
    assert response.status_code == 403
    assert untouched_org.admin("GET", "clock")["offset_seconds"] == 0
