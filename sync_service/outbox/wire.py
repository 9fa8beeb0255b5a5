"""What the push sends and asks: Task records built from outbox rows, the org's Task shape from describe,
looking keys up in the org after a write whose outcome is unknown (reference 2.8, 3.1, 5 items 2-3), telling
Salesforce's refusal of TaskSubtype on an upsert that turned out to be an update, and the conditional update of
one record with the read that follows a refused one.

A conditional update is an sObject Rows PATCH with `If-Unmodified-Since` (the REST API Developer Guide's
"Conditional Request Headers"): Salesforce compares the date with the record's LastModifiedDate, at the one
second an HTTP date can name, and answers 412 without writing when the record changed after it. It is sent on
the client's `requests` session rather than through `Salesforce.restful`: simple-salesforce, when a call
answers 401 and it signs in again, repeats the call without the caller's headers (api.py `_call_salesforce`
pops them before recursing), which would turn a conditional write into an unconditional one. Here a 401 signs
in again and the same request, header and all, is sent once more.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import requests
from simple_salesforce import Salesforce
from simple_salesforce.format import format_soql
from simple_salesforce.util import exception_handler

from mappings.model import TaskConventions
from sync_service.pull import fetch
from sync_service.pull.convert import sf_datetime
from sync_service.salesforce.client import renew_session

# The Task's shape changes only when an admin edits the org; one describe an hour per org is plenty.
DESCRIBE_TTL_SECONDS = 3600
# Keys per lookup query: 50 quoted Subjects keep the query URL well under limits.
LOOKUP_CHUNK = 50


@dataclass(frozen=True)
class Claimed:
    """A snapshot of one outbox row taken when the push claimed it."""

    id: int
    key: str
    kind: str
    sobject: str
    payload: dict[str, Any]
    target_sf_id: str | None
    sf_id: str | None
    attempts: int
    count: int
    last_event_at: datetime | None
    revision: int
    tried_before: bool = False  # a try may have reached the org: look the key up before creating


@dataclass(frozen=True)
class TaskShape:
    external_id_field: str | None  # the mapping's field, only when describe confirms `externalId: true`
    subtypes: frozenset[str]  # TaskSubtype values the org accepts


_shapes: dict[tuple[str, str | None], tuple[float, TaskShape]] = {}


def task_shape(sf: Salesforce, conventions: TaskConventions) -> TaskShape:
    cache_key = (str(sf.sf_instance), conventions.external_id_field)
    cached = _shapes.get(cache_key)
    if cached is not None and time.monotonic() - cached[0] < DESCRIBE_TTL_SECONDS:
        return cached[1]
    describe = fetch.classify(lambda: sf.restful("sobjects/Task/describe")) or {}
    fields = {f["name"].lower(): f for f in describe.get("fields", [])}
    wanted = (conventions.external_id_field or "").lower()
    ext = fields.get(wanted) if wanted else None
    subtype = fields.get("tasksubtype")
    shape = TaskShape(
        external_id_field=ext["name"] if ext is not None and ext.get("externalId") else None,
        subtypes=frozenset(v["value"] for v in (subtype or {}).get("picklistValues", []) if v.get("active", True)),
    )
    _shapes[cache_key] = (time.monotonic(), shape)
    return shape


def task_record(item: Claimed, shape: TaskShape, *, creating: bool) -> dict[str, Any]:
    payload = item.payload
    record: dict[str, Any] = {"attributes": {"type": "Task"}, **payload["fields"]}
    record["Subject"] = payload["subject"]
    record["Description"] = _description(item)
    subtype = payload.get("subtype")
    # TaskSubtype is create-only in Salesforce; sending it on an update is an error (reference 3.1). An upsert
    # sends it when no id is known for the key; if the org holds the key after all, see `subtype_refused`.
    if creating and subtype and subtype in shape.subtypes:
        record["TaskSubtype"] = subtype
    if shape.external_id_field:
        record[shape.external_id_field] = item.key
    return record


def subtype_refused(answer: dict[str, Any]) -> bool:
    """Whether a record's answer is Salesforce refusing TaskSubtype on an update: what an upsert sent as new (with
    TaskSubtype) meets when the org already holds its key, e.g. a store restored from a backup. The error is
    INVALID_FIELD_FOR_INSERT_UPDATE naming TaskSubtype in its `fields` (the stand-in answers so for a field
    that is not updateable); an error of that code naming no field counts too, since TaskSubtype is the one
    create-only field a Task record carries. Keyed on the code and fields, never on the message (reference 5,
    item 6)."""
    if answer.get("success"):
        return False
    for error in answer.get("errors") or []:
        if not isinstance(error, dict):
            continue
        code = error.get("statusCode") or error.get("errorCode")
        named = {str(f).lower() for f in error.get("fields") or []}
        if code == "INVALID_FIELD_FOR_INSERT_UPDATE" and (not named or "tasksubtype" in named):
            return True
    return False


def without_subtype(record: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in record.items() if name != "TaskSubtype"}


def _description(item: Claimed) -> str:
    text = str(item.payload.get("description", "")).rstrip()
    first = str(item.payload.get("first_event_at", ""))[:16].replace("T", " ")
    last = item.last_event_at.strftime("%Y-%m-%d %H:%M") if item.last_event_at else first
    times = "once" if item.count == 1 else f"{item.count} times"
    when = f"at {first} UTC" if item.count == 1 else f"first at {first} UTC, last at {last} UTC"
    return f"{text}\n\nHappened {times}, {when}."


def update_record(item: Claimed) -> dict[str, Any]:
    return {"attributes": {"type": item.sobject}, "id": item.target_sf_id, **item.payload["values"]}


def find_tasks(sf: Salesforce, field: str, values: list[str]) -> dict[str, str]:
    """Task ids by `field` value (the external id, or the exact Subject) for the values that exist."""
    found: dict[str, str] = {}
    for start in range(0, len(values), LOOKUP_CHUNK):
        chunk = values[start : start + LOOKUP_CHUNK]
        soql = format_soql(f"SELECT Id, {field} FROM Task WHERE {field} IN {{}}", chunk)
        for row in fetch.rest_rows(sf, soql):
            found.setdefault(str(row[field]), str(row["Id"]))
    return found


def http_date(moment: datetime) -> str:
    """`moment` as an HTTP date (`Tue, 07 May 2024 09:30:00 GMT`); the fraction of a second is dropped, as an
    HTTP date cannot carry it."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return format_datetime(aware.astimezone(UTC), usegmt=True)


def conditional_update(
    sf: Salesforce, sobject: str, sf_id: str, values: dict[str, Any], unmodified_since: datetime
) -> bool:
    """PATCH `values` onto one record only if it was not modified after `unmodified_since`: True when written,
    False when Salesforce answered 412 (modified since; nothing written). Any other failure raises
    simple-salesforce's exception for it (for `fetch.classify`), a transport failure `requests`' own."""
    path = f"sobjects/{sobject}/{sf_id}"
    response = _patch(sf, path, values, unmodified_since)
    if response.status_code == 401 and renew_session(sf):
        response = _patch(sf, path, values, unmodified_since)
    if response.status_code == 412:
        return False
    if response.status_code >= 300:
        exception_handler(response, name=path)
    return True


def _patch(sf: Salesforce, path: str, values: dict[str, Any], since: datetime) -> requests.Response:
    headers = {**sf.headers, "If-Unmodified-Since": http_date(since)}
    return sf.session.request("PATCH", sf.base_url + path, headers=headers, json=values)


def read_fields(sf: Salesforce, sobject: str, sf_id: str, fields: list[str]) -> tuple[dict[str, Any], datetime | None]:
    """One record's `fields` as Salesforce holds them now, and its LastModifiedDate (one sObject Rows GET)."""
    wanted = [f for f in fields if f.lower() != "lastmodifieddate"]
    body = sf.restful(f"sobjects/{sobject}/{sf_id}", params={"fields": ",".join([*wanted, "LastModifiedDate"])})
    record = body if isinstance(body, dict) else {}
    lowered = {key.lower(): value for key, value in record.items()}
    return {f: lowered.get(f.lower()) for f in wanted}, sf_datetime(lowered.get("lastmodifieddate"))
