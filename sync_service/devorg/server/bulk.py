"""Bulk API 2.0 ingest and query jobs, exactly as simple-salesforce's `sf.bulk2` drives them (reference 1.12,
2.10): JSON job info, CSV uploads answered 201, CSV results with a header on every page, the
`Sforce-NumberOfRecords` and `Sforce-Locator` headers, and 412 JOB_NOT_COMPLETE before completion.

Jobs run synchronously when they are closed but report `InProgress` for a configurable moment, so a client
really has to poll, as it does against Salesforce.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from types import NoneType
from typing import TYPE_CHECKING, Any

from sync_service.devorg import ids
from sync_service.devorg.errors import ApiError
from sync_service.devorg.server.call import Call
from sync_service.devorg.server.records import check_validation_rules, object_or_404
from sync_service.devorg.server.reply import Reply, json_reply, no_content
from sync_service.devorg.soql import parse, prepare
from sync_service.devorg.values import format_datetime

if TYPE_CHECKING:
    from sync_service.devorg.org import Org

_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")


@dataclass
class Job:
    id: str
    kind: str  # "ingest" or "query"
    operation: str
    sobject: str
    version: str
    created_by: str
    created: datetime
    delimiter: str = "COMMA"
    line_ending: str = "LF"
    external_id_field: str | None = None
    query: str = ""
    state: str = "Open"
    done_at: float | None = None
    uploads: list[bytes] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    successes: list[tuple[str, bool, dict[str, str]]] = field(default_factory=list)
    failures: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    upload_columns: list[str] = field(default_factory=list)
    error_message: str | None = None

    def current_state(self, delay: float) -> str:
        if self.done_at is not None and self.state == "InProgress" and time.monotonic() - self.done_at >= delay:
            self.state = "JobComplete"
        return self.state

    def info(self, delay: float) -> dict[str, Any]:
        state = self.current_state(delay)
        info: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.sobject,
            "createdById": self.created_by,
            "createdDate": format_datetime(self.created),
            "systemModstamp": format_datetime(self.created),
            "state": state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.delimiter,
        }
        if self.kind == "ingest":
            info.update(
                jobType="V2Ingest",
                contentUrl=f"services/data/v{self.version}/jobs/ingest/{self.id}/batches",
                externalIdFieldName=self.external_id_field,
                numberRecordsProcessed=len(self.successes) + len(self.failures) if state == "JobComplete" else 0,
                numberRecordsFailed=len(self.failures) if state == "JobComplete" else 0,
                retries=0,
                totalProcessingTime=0,
                apiActiveProcessingTime=0,
                apexProcessingTime=0,
            )
        else:
            info.update(
                jobType="V2Query",
                numberRecordsProcessed=len(self.rows) if state == "JobComplete" else 0,
                retries=0,
                totalProcessingTime=0,
            )
        if self.error_message:
            info["errorMessage"] = self.error_message
        return info


def _jobs(org: Org) -> dict[str, Job]:
    return org.bulk_jobs


def jobs_today(org: Org) -> int:
    today = org.now().date()  # the org's clock stamps `created`, so its day is the one to count
    return sum(1 for j in _jobs(org).values() if j.created.date() == today)


def query_jobs_today(org: Org) -> int:
    today = org.now().date()
    return sum(1 for j in _jobs(org).values() if j.kind == "query" and j.created.date() == today)


def _delay(org: Org) -> float:
    return org.bulk_delay_seconds


def route(org: Org, call: Call) -> Reply:
    seg = call.segments
    if len(seg) < 2 or seg[1] not in ("ingest", "query"):
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    kind = seg[1]
    if len(seg) == 2:
        if call.method == "POST":
            return _create(org, call, kind)
        if call.method == "GET":
            jobs = [j.info(_delay(org)) for j in _jobs(org).values() if j.kind == kind]
            return json_reply(200, {"done": True, "records": jobs, "nextRecordsUrl": None})
        raise ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{call.method}' not allowed. Allowed are GET,POST")
    job = _jobs(org).get(seg[2])
    if job is None or job.kind != kind:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    if len(seg) == 3:
        if call.method == "GET":
            return json_reply(200, job.info(_delay(org)))
        if call.method == "PATCH":
            return _change_state(org, call, job)
        if call.method == "DELETE":
            del _jobs(org)[job.id]
            return no_content()
    elif len(seg) == 4 and kind == "ingest" and seg[3] == "batches" and call.method == "PUT":
        return _upload(call, job)
    elif len(seg) == 4 and kind == "ingest" and call.method == "GET":
        return _ingest_results(org, job, seg[3])
    elif len(seg) == 4 and kind == "query" and seg[3] == "results" and call.method == "GET":
        return _query_results(org, call, job)
    raise ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{call.method}' not allowed")


def _create(org: Org, call: Call, kind: str) -> Reply:
    body = call.json_object()
    delimiter = str(body.get("columnDelimiter") or "COMMA")
    line_ending = str(body.get("lineEnding") or "LF")
    if delimiter not in _DELIMITERS or line_ending not in ("LF", "CRLF"):
        raise ApiError(400, "INVALIDJOB", "Invalid columnDelimiter or lineEnding")
    job_id = ids.make_id("750", org.store.next_sequence("bulkjob"))
    now = org.now()
    if kind == "query":
        operation = str(body.get("operation") or "query")
        soql = body.get("query")
        if operation not in ("query", "queryAll") or not isinstance(soql, str) or not soql.strip():
            raise ApiError(400, "INVALIDJOB", "operation must be query or queryAll, with a query")
        job = Job(job_id, "query", operation, "", call.version, call.user_id, now, delimiter, line_ending, query=soql)
        _run_query(org, job)
    else:
        operation = str(body.get("operation") or "")
        if operation not in _OPERATIONS:
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        obj = object_or_404(org, str(body.get("object") or ""))
        ext = body.get("externalIdFieldName")
        if operation == "upsert":
            f = obj.field(str(ext or ""))
            if f is None or not (f.external_id or f.type == "id"):
                raise ApiError(
                    400,
                    "INVALIDJOB",
                    f"InvalidJob : Field name provided, {ext} is not an External ID or indexed field for {obj.name}",
                )
            ext = f.name
        job = Job(
            job_id,
            "ingest",
            operation,
            obj.name,
            call.version,
            call.user_id,
            now,
            delimiter,
            line_ending,
            external_id_field=ext if operation == "upsert" else None,
        )
    _jobs(org)[job.id] = job
    return json_reply(200, job.info(_delay(org)))


def _run_query(org: Org, job: Job) -> None:
    query = parse(job.query)
    with org.lock:
        prepared = prepare(query, org.schema, job.query)
        if prepared.is_aggregate or prepared.has_subqueries or prepared.is_count:
            raise ApiError(
                400,
                "INVALIDJOB",
                "Aggregate Relationships and aggregate functions are not supported in Bulk Query with CSV content type",
            )
        if re.search(r"\bOFFSET\b", job.query, re.IGNORECASE):
            raise ApiError(400, "INVALIDJOB", "OFFSET clause is not supported in Bulk Query")
        rows = prepared.run_flat(
            org.store, now=org.now(), tz=org.tz, include_deleted=job.operation == "queryAll", api_version=job.version
        )
    job.sobject = prepared.sobject
    job.columns = prepared.columns
    job.rows = rows
    job.state = "UploadComplete"
    job.state, job.done_at = "InProgress", time.monotonic()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_CELLS: dict[Any, str] = {None: "", True: "true", False: "false"}  # only for columns of text, None and bools


def _csv(job: Job, header: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter=_DELIMITERS[job.delimiter],
        lineterminator="\r\n" if job.line_ending == "CRLF" else "\n",
        quoting=csv.QUOTE_MINIMAL,
    )
    writer.writerow(header)
    if not rows:
        return buffer.getvalue()
    terminator, delimiter = writer.dialect.lineterminator, writer.dialect.delimiter
    # Column by column, each turned into cells (`_cell`) only where it holds something other than text (found
    # by set(map(type, ...)), in C). When no cell needs quoting (no delimiter, quote or line break anywhere) and
    # rows have more than one field, the csv module would write each row as its cells joined by the delimiter,
    # so that is what is written; otherwise the csv module writes the rows.
    columns: list[Any] = list(zip(*rows, strict=True))
    plain = len(columns) > 1
    for i, column in enumerate(columns):
        kinds = set(map(type, column)) - {str}
        if kinds and kinds <= {NoneType, bool}:
            columns[i] = column = list(map(_CELLS.get, column, column))  # None and checkboxes; text as it is
        elif kinds and kinds <= {int, float}:
            columns[i] = column = list(map(str, column))
        elif kinds:
            columns[i] = column = [v if v.__class__ is str else _cell(v) for v in column]
        if plain:
            text = "\x00".join(column)
            plain = not any(special in text for special in (delimiter, '"', "\r", "\n"))
    if plain:
        return buffer.getvalue() + terminator.join(map(delimiter.join, zip(*columns, strict=True))) + terminator
    writer.writerows(zip(*columns, strict=True))
    return buffer.getvalue()


def _query_results(org: Org, call: Call, job: Job) -> Reply:
    if job.current_state(_delay(org)) != "JobComplete":
        raise ApiError(412, "JOB_NOT_COMPLETE", "Job is not complete; results are not available yet")
    params = call.params
    offset = 0
    locator = params.get("locator", "")
    if locator and locator != "null":
        try:
            offset = int(base64.urlsafe_b64decode(locator + "=" * (-len(locator) % 4)).decode())
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from None
    max_records = params.get("maxRecords", "")
    size = int(max_records) if max_records.isdigit() and int(max_records) > 0 else 100_000
    page = job.rows[offset : offset + size]
    end = offset + len(page)
    next_locator = base64.urlsafe_b64encode(str(end).encode()).decode().rstrip("=") if end < len(job.rows) else "null"
    reply = Reply(200, _csv(job, job.columns, page), content_type="text/csv")
    reply.headers.update({"Sforce-NumberOfRecords": str(len(page)), "Sforce-Locator": next_locator})
    return reply


def _upload(call: Call, job: Job) -> Reply:
    if job.state != "Open":
        raise ApiError(409, "INVALIDJOBSTATE", f"Job {job.id} is not open for uploads (state {job.state})")
    job.uploads.append(call.raw_body)
    return Reply(201, None)


def _change_state(org: Org, call: Call, job: Job) -> Reply:
    wanted = call.json_object().get("state")
    if wanted == "Aborted":
        if job.current_state(_delay(org)) in ("JobComplete", "Failed"):
            raise ApiError(400, "INVALIDJOBSTATE", f"Job {job.id} is already {job.state}")
        job.state = "Aborted"
    elif wanted == "UploadComplete" and job.kind == "ingest":
        if job.state != "Open":
            raise ApiError(400, "INVALIDJOBSTATE", f"Job {job.id} is not open (state {job.state})")
        _process(org, job)
    else:
        raise ApiError(400, "INVALIDJOBSTATE", f"Unsupported state change to {wanted}")
    return json_reply(200, job.info(_delay(org)))


def _process(org: Org, job: Job) -> None:
    """Apply every uploaded row, each on its own (Bulk API has no allOrNone)."""
    delimiter = _DELIMITERS[job.delimiter]
    rows: list[dict[str, str]] = []
    for chunk in job.uploads:
        text = chunk.decode("utf-8-sig")
        reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
        if reader.fieldnames and not job.upload_columns:
            job.upload_columns = list(reader.fieldnames)
        rows.extend(reader)
    job.uploads.clear()
    problem = _column_problem(org, job)
    if problem is not None:
        job.state, job.error_message = "Failed", problem
        job.done_at = time.monotonic()
        return
    with org.store.transaction():
        for row in rows:
            _apply_row(org, job, row)
    job.state, job.done_at = "InProgress", time.monotonic()


def _column_problem(org: Org, job: Job) -> str | None:
    """Why the whole job fails on its header row, if it does: Salesforce checks the columns before any row."""
    columns = job.upload_columns
    if job.operation in ("delete", "hardDelete") and [c.lower() for c in columns] != ["id"]:
        return "InvalidBatch : The 'delete' batch must contain only ids"
    obj = object_or_404(org, job.sobject)
    seen: set[str] = set()
    for column in columns:
        if column.lower() in seen:
            return f"InvalidBatch : Duplicate field name: {column}"
        seen.add(column.lower())
        # Relationship columns (Account.External_Id__c) refer to a parent by external id: not checked here.
        if "." not in column and ":" not in column and obj.field(column) is None:
            return f"InvalidBatch : Field name not found : {column}"
    return None


def _apply_row(org: Org, job: Job, row: dict[str, str]) -> None:
    values = {k: v for k, v in row.items() if k is not None and (v != "" or job.operation == "insert")}
    record_id = next((v for k, v in values.items() if k.lower() == "id"), "")
    try:
        with org.store.transaction():
            fault = org.faults.record_fault(job.sobject, values)
            if fault is not None:
                raise fault
            created = False
            if job.operation == "insert":
                check_validation_rules(org, job.sobject, values)
                record_id = org.store.insert(job.sobject, values, job.created_by, from_csv=True)["Id"]
                created = True
            elif job.operation == "update":
                fields = {k: v for k, v in values.items() if k.lower() != "id"}
                check_validation_rules(org, job.sobject, fields)
                record_id = org.store.update(job.sobject, record_id, fields, job.created_by, from_csv=True)["Id"]
            elif job.operation == "upsert":
                assert job.external_id_field is not None
                key = next((v for k, v in values.items() if k.lower() == job.external_id_field.lower()), "")
                matches = org.store.find_by(job.sobject, job.external_id_field, key) if key else []
                check_validation_rules(org, job.sobject, values)
                if len(matches) > 1:
                    raise ApiError(400, "DUPLICATE_EXTERNAL_ID", f"{job.external_id_field} matches several records")
                if matches:
                    record_id = org.store.update(job.sobject, matches[0]["Id"], values, job.created_by, from_csv=True)[
                        "Id"
                    ]
                else:
                    record_id = org.store.insert(job.sobject, values, job.created_by, from_csv=True)["Id"]
                    created = True
            else:
                org.store.delete(record_id, job.sobject)
        job.successes.append((str(record_id), created, row))
    except ApiError as err:
        job.failures.append(
            (str(record_id or ""), f"{err.error_code}:{err.message}:{','.join(err.fields or [])}" + "--", row)
        )


def _ingest_results(org: Org, job: Job, which: str) -> Reply:
    if which not in ("successfulResults", "failedResults", "unprocessedRecords"):
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    state = job.current_state(_delay(org))
    if which != "unprocessedRecords" and state not in ("JobComplete", "Failed", "Aborted"):
        raise ApiError(412, "JOB_NOT_COMPLETE", "Job is not complete; results are not available yet")
    columns = job.upload_columns
    if which == "successfulResults":
        rows = [[rid, created, *[r.get(c, "") for c in columns]] for rid, created, r in job.successes]
        text = _csv(job, ["sf__Id", "sf__Created", *columns], rows)
    elif which == "failedResults":
        rows = [[rid, error, *[r.get(c, "") for c in columns]] for rid, error, r in job.failures]
        text = _csv(job, ["sf__Id", "sf__Error", *columns], rows)
    else:
        text = _csv(job, columns, []) if columns else ""
    return Reply(200, text, content_type="text/csv")
