"""A small read-only web view of the org: objects, records and the Tasks on a record, refreshing itself so
a person can watch activities arrive. Local use only; it never changes anything (GET and HEAD only)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from sync_service.devorg import ids
from sync_service.devorg.server.reply import Reply

if TYPE_CHECKING:
    from sync_service.devorg.org import Org

_STYLE = """body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f4f6f9}
header{background:#032d60;color:#fff;padding:.7rem 1.2rem}header a{color:#fff;text-decoration:none;font-weight:600}
main{padding:1rem 1.2rem;max-width:1200px}table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #dde3ea;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#eef2f6;font-weight:600}a{color:#0b5cab}.muted{color:#5b6776}.pager a{margin-right:1rem}"""
PAGE_SIZE = 50
_SUMMARY = (
    "Name",
    "Subject",
    "ContractNumber",
    "Title",
    "Status",
    "StageName",
    "EndDate",
    "SBQQ__Status__c",
    "Email",
    "LastModifiedDate",
)


def _page(title: str, body: str, refresh: bool = False) -> Reply:
    meta = '<meta http-equiv="refresh" content="5">' if refresh else ""
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>{meta}'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_STYLE}</style></head>'
        f'<body><header><a href="/_devorg/">Stand-in org</a></header><main><h1>{escape(title)}</h1>{body}'
        "</main></body></html>"
    )
    return Reply(200, html, content_type="text/html; charset=utf-8")


def _not_found(what: str) -> Reply:
    reply = _page("Not found", f"<p>{escape(what)}</p>")
    reply.status = 404
    return reply


def handle(org: Org, request: Request, raw_path: str) -> Reply:
    if request.method not in ("GET", "HEAD"):
        return Reply(405, "read-only view", content_type="text/plain")
    parts = [p for p in raw_path.removeprefix("/_devorg").split("/") if p]
    if not parts:
        return _index(org)
    if parts[0] == "o" and len(parts) == 2:
        return _object(org, parts[1], request.args.get("page", "1"))
    if parts[0] == "r" and len(parts) == 2:
        return _record(org, parts[1])
    if parts[0] == "static" and len(parts) == 2 and parts[1].isdigit():
        index = int(parts[1])
        if index < len(org.static_pages):
            return Reply(200, org.static_pages[index])
    return _not_found("No such page.")


def _index(org: Org) -> Reply:
    rows = "".join(
        f'<tr><td><a href="/_devorg/o/{escape(obj.name)}">{escape(obj.name)}</a></td>'
        f"<td>{sum(1 for r in org.store.rows(obj.name) if not r.get('IsDeleted'))}</td></tr>"
        for obj in org.schema
    )
    return _page("Objects", f"<table><tr><th>Object</th><th>Records</th></tr>{rows}</table>")


def _link(value: Any) -> str:
    if isinstance(value, str) and len(value) == 18 and ids.is_id(value):
        return f'<a href="/_devorg/r/{escape(value)}">{escape(value)}</a>'
    return escape("" if value is None else str(value))


def _object(org: Org, name: str, page_text: str) -> Reply:
    obj = org.schema.get(name)
    if obj is None:
        return _not_found(f"No object {name}.")
    page = max(1, int(page_text)) if page_text.isdigit() else 1
    live = [r for r in org.store.rows(obj.name) if not r.get("IsDeleted")]
    live.sort(key=lambda r: r.get("SystemModstamp") or "", reverse=True)
    chunk = live[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    columns = ["Id", *[c for c in _SUMMARY if obj.field(c) is not None]][:7]
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_link(r.get(c))}</td>" for c in columns) + "</tr>" for r in chunk)
    pager = '<p class="pager">'
    if page > 1:
        pager += f'<a href="?page={page - 1}">Newer</a>'
    if page * PAGE_SIZE < len(live):
        pager += f'<a href="?page={page + 1}">Older</a>'
    pager += f'<span class="muted">{len(live)} records</span></p>'
    return _page(obj.name, f"{pager}<table><tr>{head}</tr>{body}</table>")


def _record(org: Org, record_id: str) -> Reply:
    record = org.store.get(record_id)
    name = org.store.object_of(record_id)
    if record is None or name is None:
        return _not_found(f"No record {record_id}.")
    obj = org.schema.get(name)
    assert obj is not None
    rows = "".join(
        f"<tr><th>{escape(f.name)}</th><td>{_link(record.get(f.name))}</td></tr>"
        for f in obj.fields.values()
        if f.type != "base64"
    )
    tasks = [t for t in org.store.rows("Task") if t.get("WhatId") == record["Id"] and not t.get("IsDeleted")]
    tasks.sort(key=lambda t: t.get("CreatedDate") or "", reverse=True)
    task_rows = "".join(
        f"<tr><td>{_link(t['Id'])}</td><td>{escape(str(t.get('Subject') or ''))}</td>"
        f"<td>{escape(str(t.get('Status') or ''))}</td><td>{escape(str(t.get('Priority') or ''))}</td>"
        f"<td>{escape(str(t.get('LastModifiedDate') or ''))}</td></tr>"
        for t in tasks
    )
    activity = (
        f"<h2>Tasks ({len(tasks)})</h2><table><tr><th>Id</th><th>Subject</th><th>Status</th>"
        f"<th>Priority</th><th>Last modified</th></tr>{task_rows}</table>"
    )
    title = f"{obj.name}: {record.get('Name') or record.get('Subject') or record.get('ContractNumber') or record_id}"
    return _page(title, f"{activity}<h2>Fields</h2><table>{rows}</table>", refresh=True)
