"""REST resources below /services/data/vXX.X/: query, sObject rows, upsert by external id, describe,
limits and blobs. Composite resources are in `composite.py`, Bulk API 2.0 in `bulk.py`.

sObject rows honour Salesforce's conditional request headers (`conditional.py`): GET answers `Last-Modified`
(and `ETag` on Account) and may answer 304; a PATCH whose precondition fails answers 412 and writes nothing; an
invalid If-Match, If-None-Match or If-Unmodified-Since on any PATCH or POST below /sobjects/{Object}/ is a 400
before anything is looked up or written; DELETE ignores them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sync_service.devorg import ids
from sync_service.devorg.errors import ApiError, not_found
from sync_service.devorg.server import bulk, composite, conditional
from sync_service.devorg.server.call import Call, external_id_value
from sync_service.devorg.server.records import create, object_or_404, render, update
from sync_service.devorg.server.reply import Reply, json_reply, no_content
from sync_service.devorg.soql import execute

if TYPE_CHECKING:
    from sync_service.devorg.org import Org


def family(call: Call) -> str:
    """The route family a request belongs to, for fault injection."""
    seg = call.segments
    head = seg[0] if seg else ""
    if head in ("query", "queryAll"):
        return "query"
    if head == "sobjects":
        if len(seg) <= 1 or seg[-1] == "describe":
            return "describe"
        if len(seg) == 4 and seg[3] in ("Body", "VersionData"):
            return "blob"
        return "sobjects"
    if head == "composite":
        return "collections" if len(seg) > 1 and seg[1] == "sobjects" else "composite"
    if head == "jobs":
        return "bulk"
    if head == "limits":
        return "limits"
    return "*"


def route(org: Org, call: Call) -> Reply:
    seg = call.segments
    if not seg:
        return _resources(call)
    head = seg[0]
    if head in ("query", "queryAll"):
        return _query(org, call, head == "queryAll")
    if head == "sobjects":
        return _sobjects(org, call)
    if head == "composite":
        return composite.route(org, call, route)
    if head == "jobs":
        return bulk.route(org, call)
    if head == "limits" and len(seg) == 1:
        _allow(call, "GET")
        return json_reply(200, limits(org))
    raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def _allow(call: Call, *methods: str) -> None:
    if call.method not in methods:
        raise ApiError(
            405, "METHOD_NOT_ALLOWED", f"HTTP Method '{call.method}' not allowed. Allowed are {','.join(methods)}"
        )


def _resources(call: Call) -> Reply:
    names = ("sobjects", "query", "queryAll", "composite", "jobs", "limits")
    return json_reply(200, {n: call.api_url(n) for n in names})


# ---------------------------------------------------------------------------------------------- query


def _batch_size(call: Call) -> int:
    options = call.header("Sforce-Query-Options") or ""
    for part in options.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(200, min(2000, int(value)))
    return 2000


def _query(org: Org, call: Call, include_deleted: bool) -> Reply:
    _allow(call, "GET")
    seg = call.segments
    size = _batch_size(call)
    resource = "queryAll" if include_deleted else "query"
    if len(seg) == 2:
        locator, _, offset_text = seg[1].partition("-")
        cursor = org.cursor(locator)
        offset = int(offset_text) if offset_text.isdigit() else 0
        return json_reply(200, _page(call, resource, locator, cursor.records, cursor.total_size, offset, size))
    soql = call.params.get("q")
    if not soql:
        raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
    with org.lock:
        result = execute(
            soql,
            org.schema,
            org.store,
            now=org.now(),
            tz=org.tz,
            include_deleted=include_deleted,
            api_version=call.version,
        )
    if len(result.records) <= size:
        return json_reply(200, {"totalSize": result.total_size, "done": True, "records": result.records})
    locator = org.open_cursor(result.records, result.total_size)
    return json_reply(200, _page(call, resource, locator, result.records, result.total_size, 0, size))


def _page(
    call: Call, resource: str, locator: str, records: list[dict[str, Any]], total: int, offset: int, size: int
) -> dict[str, Any]:
    chunk = records[offset : offset + size]
    end = offset + len(chunk)
    page: dict[str, Any] = {"totalSize": total, "done": end >= len(records)}
    if end < len(records):
        page["nextRecordsUrl"] = call.api_url(f"{resource}/{locator}-{end}")
    page["records"] = chunk
    return page


# ---------------------------------------------------------------------------------------------- sObjects


def _sobjects(org: Org, call: Call) -> Reply:
    seg = call.segments
    if len(seg) == 1:
        _allow(call, "GET")
        return json_reply(
            200,
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [obj.global_describe(call.version) for obj in org.schema],
            },
        )
    obj = object_or_404(org, seg[1])
    if call.method in ("PATCH", "POST"):
        conditional.read(call)  # an invalid If-Match, If-None-Match or If-Unmodified-Since: 400, nothing written
    if len(seg) == 2:
        _allow(call, "GET", "POST")
        if call.method == "GET":
            return json_reply(200, {"objectDescribe": obj.global_describe(call.version), "recentItems": []})
        with org.store.transaction():
            record = create(org, obj.name, call.json_object(), call.user_id)
        return json_reply(
            201,
            {"id": record["Id"], "success": True, "errors": []},
            Location=call.api_url(f"sobjects/{obj.name}/{record['Id']}"),
        )
    if len(seg) == 3 and seg[2] == "describe":
        _allow(call, "GET")
        return json_reply(200, obj.describe(call.version))
    if len(seg) == 3:
        if seg[2] == "Id" and call.method == "POST":
            return _create_via_id(org, call, obj.name)
        return _row(org, call, obj.name, seg[2])
    if len(seg) == 4 and obj.field(seg[2]) is not None and obj.field(seg[2]).type != "base64":  # type: ignore[union-attr]
        return _by_external_id(org, call, obj.name, seg[2], external_id_value(call.raw_segments[3]))
    if len(seg) == 4:
        return _blob(org, call, obj.name, seg[2], seg[3])
    raise not_found()


def _create_via_id(org: Org, call: Call, sobject: str) -> Reply:
    with org.store.transaction():
        record = create(org, sobject, call.json_object(), call.user_id)
    return json_reply(201, {"id": record["Id"], "success": True, "errors": [], "created": True})


def _row(org: Org, call: Call, sobject: str, record_id: str) -> Reply:
    _allow(call, "GET", "PATCH", "DELETE")
    normal = ids.normalize(record_id)
    if normal is None:
        raise ApiError(400, "MALFORMED_ID", f"{sobject} ID: id value of incorrect type: {record_id}", ["Id"])
    if call.method == "GET":
        record = org.store.get(normal)
        if record is None or record.get("IsDeleted") or org.store.object_of(normal) != object_or_404(org, sobject).name:
            raise not_found()
        fields = call.params.get("fields")
        obj = object_or_404(org, sobject)
        body = render(org, obj, record, call.version, fields.split(",") if fields else None)
        headers = conditional.validators(obj.name, record)
        if conditional.evaluate(conditional.read(call), obj.name, record, call.method):
            return Reply(304, None, headers)
        return Reply(200, body, headers)
    if call.method == "DELETE":
        with org.store.transaction():
            org.store.delete(normal, sobject)
        return no_content()
    obj = object_or_404(org, sobject)
    preconditions = conditional.read(call)
    values = call.json_object()
    with org.store.transaction():
        # Checked and written under the store's lock: no other request can change the record in between.
        current = org.store.get(normal)
        if current is not None and not current.get("IsDeleted") and org.store.object_of(normal) == obj.name:
            conditional.evaluate(preconditions, obj.name, current, call.method)
        update(org, sobject, normal, values, call.user_id)
    return Reply(204, None, conditional.etag_header(obj.name, org.store.get(normal)))


def _by_external_id(org: Org, call: Call, sobject: str, field_name: str, value: str) -> Reply:
    obj = object_or_404(org, sobject)
    f = obj.field(field_name)
    assert f is not None
    if not f.external_id and f.type != "id":
        raise ApiError(
            404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field_name}"
        )
    _allow(call, "GET", "PATCH", "DELETE", "POST")
    matches = [org.store.get(value)] if f.type == "id" else org.store.find_by(obj.name, f.name, value)
    matches = [m for m in matches if m is not None and not m.get("IsDeleted")]
    if len(matches) > 1:
        return json_reply(300, [call.api_url(f"sobjects/{obj.name}/{m['Id']}") for m in matches])
    if call.method == "GET":
        if not matches:
            raise not_found()
        return json_reply(200, render(org, obj, matches[0], call.version))
    if call.method == "DELETE":
        if not matches:
            raise not_found()
        with org.store.transaction():
            org.store.delete(matches[0]["Id"])
        return no_content()
    body = call.json_object()
    if matches:
        with org.store.transaction():
            update(org, obj.name, matches[0]["Id"], body, call.user_id)
        if org.upsert_update_status == 200:
            return json_reply(200, {"id": matches[0]["Id"], "success": True, "errors": [], "created": False})
        return no_content()
    if call.params.get("updateOnly", "").lower() == "true":
        raise not_found()
    with org.store.transaction():
        record = create(org, obj.name, {**body, f.name: value}, call.user_id)
    return json_reply(
        201,
        {"id": record["Id"], "success": True, "errors": [], "created": True},
        Location=call.api_url(f"sobjects/{obj.name}/{record['Id']}"),
    )


def _blob(org: Org, call: Call, sobject: str, record_id: str, field_name: str) -> Reply:
    _allow(call, "GET")
    if call.in_composite:
        raise ApiError(400, "INVALID_API_INPUT", "Binary content retrieval is not supported in composite requests")
    obj = object_or_404(org, sobject)
    f = obj.field(field_name)
    normal = ids.normalize(record_id)
    record = org.store.get(normal) if normal else None
    if f is None or f.type != "base64" or record is None or record.get("IsDeleted"):
        raise not_found()
    data = org.store.blob(record["Id"], f.name)
    if data is None:
        raise not_found()
    content_type = record.get("ContentType") or (
        "application/pdf" if data.startswith(b"%PDF") else "application/octet-stream"
    )
    return Reply(200, data, content_type=content_type)


# ---------------------------------------------------------------------------------------------- limits


def limits(org: Org) -> dict[str, dict[str, int]]:
    used = org.api_used()
    daily = org.daily_api_limit

    def entry(maximum: int, remaining: int) -> dict[str, int]:
        return {"Max": maximum, "Remaining": max(remaining, 0)}

    jobs = bulk.jobs_today(org)
    return {
        "DailyApiRequests": entry(daily, daily - used),
        "DailyBulkApiRequests": entry(15_000, 15_000 - jobs),
        "DailyBulkV2QueryJobs": entry(10_000, 10_000 - bulk.query_jobs_today(org)),
        "DailyBulkV2QueryFileStorageMB": entry(1_048_576, 1_048_576),
        "DailyAsyncApexExecutions": entry(250_000, 250_000),
        "DataStorageMB": entry(1_024, 1_024 - sum(org.store.count(o.name) for o in org.schema) * 2 // 1024),
        "FileStorageMB": entry(10_240, 10_240),
        "SingleEmail": entry(5_000, 5_000),
        "MassEmail": entry(5_000, 5_000),
        "HourlyODataCallout": entry(20_000, 20_000),
    }
