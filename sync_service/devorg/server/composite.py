"""sObject Collections (`composite/sobjects`) and Composite (`composite`): many records or subrequests in
one API call, with allOrNone rollback and `@{ref.field}` references (reference 2.8, 2.9)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sync_service.devorg import ids
from sync_service.devorg.errors import ApiError
from sync_service.devorg.server.call import Call
from sync_service.devorg.server.records import create, object_or_404, render, update
from sync_service.devorg.server.reply import Reply, json_reply

if TYPE_CHECKING:
    from sync_service.devorg.org import Org

Router = Callable[["Org", Call], Reply]
MAX_RECORDS = 200
MAX_SUBREQUESTS = 25
_ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
    "fields": [],
}


def route(org: Org, call: Call, router: Router) -> Reply:
    seg = call.segments
    if len(seg) == 1:
        if call.method != "POST":
            raise ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{call.method}' not allowed. Allowed are POST")
        return _composite(org, call, router)
    if seg[1] != "sobjects":
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    if len(seg) == 2:
        if call.method == "POST":
            return _save(org, call, creating=True)
        if call.method == "PATCH":
            return _save(org, call, creating=False)
        if call.method == "DELETE":
            return _delete(org, call)
    elif len(seg) == 3 and call.method in ("GET", "POST"):
        return _retrieve(org, call, seg[2])
    elif len(seg) == 4 and call.method == "PATCH":
        return _upsert(org, call, seg[2], seg[3])
    raise ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{call.method}' not allowed")


def _records(call: Call) -> tuple[list[Any], bool]:
    body = call.json_object()
    records = body.get("records")
    if not isinstance(records, list):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must contain a 'records' array")
    if len(records) > MAX_RECORDS:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call",
        )
    return records, bool(body.get("allOrNone", False))


def _record_type(record: Any) -> str:
    if not isinstance(record, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
    attributes = record.get("attributes")
    sobject = attributes.get("type") if isinstance(attributes, dict) else None
    if not isinstance(sobject, str) or not sobject:
        raise ApiError(400, "INVALID_TYPE", "Must send a concrete entity type.")
    return sobject


def _run_each(
    org: Org, items: list[Any], all_or_none: bool, one: Callable[[Any], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Apply `one` to every item, each in its own savepoint; with allOrNone, any failure undoes them all."""
    results: list[dict[str, Any]] = []
    try:
        with org.store.transaction():
            for item in items:
                try:
                    with org.store.transaction():
                        results.append(one(item))
                except ApiError as err:
                    results.append({"id": _id_of(item), "success": False, "errors": [err.record_error()]})
            if all_or_none and any(not r["success"] for r in results):
                raise _RollBack
    except _RollBack:
        for result in results:
            if result["success"]:
                result.update(id=None, success=False, errors=[_ROLLED_BACK])
                result.pop("created", None)
    return results


class _RollBack(Exception):
    pass


def _id_of(item: Any) -> str | None:
    if isinstance(item, dict):
        value = item.get("id") or item.get("Id")
        return value if isinstance(value, str) else None
    return item if isinstance(item, str) else None


def _fields(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("attributes",)}


def _record_fault(org: Org, sobject: str, values: dict[str, Any]) -> None:
    fault = org.faults.record_fault(sobject, values)
    if fault is not None:
        raise fault


def _save(org: Org, call: Call, *, creating: bool) -> Reply:
    records, all_or_none = _records(call)

    def one(record: Any) -> dict[str, Any]:
        sobject = object_or_404(org, _record_type(record)).name
        values = _fields(record)
        _record_fault(org, sobject, values)
        if creating:
            if any(k.lower() == "id" for k in values):
                raise ApiError(400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
            saved = create(org, sobject, values, call.user_id)
        else:
            record_id = values.pop("id", None) or values.pop("Id", None)
            if not isinstance(record_id, str) or ids.normalize(record_id) is None:
                raise ApiError(400, "MALFORMED_ID", f"invalid record id: {record_id}", ["Id"])
            saved = update(org, sobject, record_id, values, call.user_id)
        return {"id": saved["Id"], "success": True, "errors": []}

    return json_reply(200, _run_each(org, records, all_or_none, one))


def _upsert(org: Org, call: Call, sobject_name: str, field_name: str) -> Reply:
    obj = object_or_404(org, sobject_name)
    f = obj.field(field_name)
    if f is None or not f.external_id:
        raise ApiError(
            404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field_name}"
        )
    records, all_or_none = _records(call)

    def one(record: Any) -> dict[str, Any]:
        if _record_type(record).lower() != obj.name.lower():
            raise ApiError(400, "INVALID_TYPE", f"Record type must be {obj.name} for this upsert")
        values = _fields(record)
        key = next((v for k, v in values.items() if k.lower() == f.name.lower()), None)
        if not isinstance(key, str) or not key:
            raise ApiError(400, "MISSING_ARGUMENT", f"{f.name} not specified", [f.name])
        _record_fault(org, obj.name, values)
        matches = org.store.find_by(obj.name, f.name, key)
        if len(matches) > 1:
            raise ApiError(
                300,
                "DUPLICATE_EXTERNAL_ID",
                f"{f.name} duplicates value on records with ids: {', '.join(m['Id'] for m in matches)}",
            )
        if matches:
            saved = update(org, obj.name, matches[0]["Id"], values, call.user_id)
            return {"id": saved["Id"], "success": True, "errors": [], "created": False}
        saved = create(org, obj.name, values, call.user_id)
        return {"id": saved["Id"], "success": True, "errors": [], "created": True}

    return json_reply(200, _run_each(org, records, all_or_none, one))


def _delete(org: Org, call: Call) -> Reply:
    params = call.params
    id_list = [i for i in params.get("ids", "").split(",") if i]
    if not id_list:
        raise ApiError(400, "MISSING_ARGUMENT", "ids parameter is required")
    if len(id_list) > MAX_RECORDS:
        raise ApiError(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {MAX_RECORDS} ids")
    all_or_none = params.get("allOrNone", "false").lower() == "true"

    def one(record_id: Any) -> dict[str, Any]:
        normal = ids.normalize(record_id)
        if normal is None:
            raise ApiError(400, "MALFORMED_ID", f"malformed id {record_id}", [])
        if org.store.get(normal) is None:
            raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        org.store.delete(normal)
        return {"id": normal, "success": True, "errors": []}

    return json_reply(200, _run_each(org, id_list, all_or_none, one))


def _retrieve(org: Org, call: Call, sobject: str) -> Reply:
    obj = object_or_404(org, sobject)
    source = (
        call.params
        if call.method == "GET"
        else {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in call.json_object().items()}
    )
    id_list = [i for i in source.get("ids", "").split(",") if i]
    fields = [f for f in source.get("fields", "").split(",") if f]
    if not id_list or not fields:
        raise ApiError(400, "MISSING_ARGUMENT", "ids and fields are required")
    if len(id_list) > 2000:
        raise ApiError(414, "URI_TOO_LONG", "too many ids")
    unknown = [name.strip() for name in fields if obj.field(name.strip()) is None]
    if unknown:
        raise ApiError(400, "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type {obj.name}")
    out: list[dict[str, Any] | None] = []
    for record_id in id_list:
        normal = ids.normalize(record_id)
        record = org.store.get(normal) if normal else None
        if record is None or record.get("IsDeleted") or org.store.object_of(record["Id"]) != obj.name:
            out.append(None)
        else:
            out.append(render(org, obj, record, call.version, fields))
    return json_reply(200, out)


# ---------------------------------------------------------------------------------------------- composite

_REF = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_HALTED = {
    "errorCode": "PROCESSING_HALTED",
    "message": "The transaction was rolled back since another operation in the same transaction failed.",
}


def _resolve(path: str, results: dict[str, Any]) -> Any:
    match = _REF.fullmatch(path)
    assert match is not None
    ref, rest = match.group(1), match.group(2)
    if ref not in results:
        raise KeyError(ref)
    value = results[ref]
    for part in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", rest):
        key, index = part
        value = value[key] if key else value[int(index)]
    return value


def _substitute(value: Any, results: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _REF.fullmatch(value)
        if whole:
            return _resolve(value, results)
        return _REF.sub(lambda m: str(_resolve(m.group(0), results)), value)
    if isinstance(value, dict):
        return {k: _substitute(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, results) for v in value]
    return value


def _composite(org: Org, call: Call, router: Router) -> Reply:
    body = call.json_object()
    subrequests = body.get("compositeRequest")
    if not isinstance(subrequests, list) or not subrequests:
        raise ApiError(400, "JSON_PARSER_ERROR", "compositeRequest must be a non-empty array")
    if len(subrequests) > MAX_SUBREQUESTS:
        raise ApiError(400, "LIMIT_EXCEEDED", f"Limit of {MAX_SUBREQUESTS} subrequests exceeded")
    all_or_none = bool(body.get("allOrNone", False))
    results: dict[str, Any] = {}
    responses: list[dict[str, Any]] = []
    failed = False
    try:
        with org.store.transaction():
            for sub in subrequests:
                ref = str(sub.get("referenceId", "")) if isinstance(sub, dict) else ""
                if failed and all_or_none:
                    responses.append(_sub_response(ref, 400, [_HALTED]))
                    continue
                reply = _run_sub(org, call, router, sub, results)
                status = reply.status
                parsed = (
                    json.loads(reply.encode() or b"null") if reply.content_type.startswith("application/json") else None
                )
                responses.append(_sub_response(ref, status, parsed, reply.headers))
                if status < 300 and isinstance(parsed, (dict, list)):
                    results[ref] = parsed
                elif status >= 400:
                    failed = True
            if failed and all_or_none:
                raise _RollBack
    except _RollBack:
        for response in responses:
            if response["httpStatusCode"] < 300:
                response.update(
                    httpStatusCode=400,
                    httpHeaders={},
                    body=[
                        {
                            "errorCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                            "message": _ROLLED_BACK["message"],
                        }
                    ],
                )
    return json_reply(200, {"compositeResponse": responses})


def _sub_response(ref: str, status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"body": body, "httpHeaders": headers or {}, "httpStatusCode": status, "referenceId": ref}


def _run_sub(org: Org, call: Call, router: Router, sub: Any, results: dict[str, Any]) -> Reply:
    try:
        if not isinstance(sub, dict) or not sub.get("url") or not sub.get("method"):
            raise ApiError(400, "JSON_PARSER_ERROR", "Each subrequest needs method, url and referenceId")
        if not isinstance(sub.get("httpHeaders") or {}, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "httpHeaders must be a JSON object")
        try:
            url = _substitute(str(sub["url"]), results)
            body = _substitute(sub.get("body"), results)
        except (KeyError, IndexError, TypeError) as exc:
            raise ApiError(400, "PROCESSING_HALTED", f"Invalid reference specified. No value for {exc} found") from None
        parts = urlsplit(url)
        prefix = re.match(r"^/services/data/v(\d+\.\d+)/(.*)$", parts.path)
        if prefix is None:
            raise ApiError(400, "INVALID_API_INPUT", f"Invalid URL in subrequest: {url}")
        sub_call = Call(
            method=str(sub["method"]).upper(),
            version=prefix.group(1),
            path=prefix.group(2),
            query=parts.query,
            raw_body=b"" if body is None else json.dumps(body).encode(),
            headers={str(k): str(v) for k, v in (sub.get("httpHeaders") or {}).items()},
            user_id=call.user_id,
            in_composite=True,
        )
        with org.store.transaction():
            return router(org, sub_call)
    except ApiError as err:
        return json_reply(err.status, err.body())
