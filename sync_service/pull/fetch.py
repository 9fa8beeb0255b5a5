"""Reading rows from the org: REST query paging below the mapping's bulk threshold, a Bulk API 2.0 query
job above it. Both are streamed page by page, so memory does not grow with the number of records: `rows`
yields flat rows `{field path: value}` (previews, write-back checks), `pages` yields `Page`s, the same
records as columns (`Page.column(path)`), which is what the pull converts and writes column by column.

`Prefetched` reads the next pages in a thread while the caller converts and writes the current one (a bounded
queue: memory stays at a few pages); `composite_queries` runs up to five small queries in one Composite call,
which counts as one API call (reference 2.9).

REST pages are decoded with the plain `json` decoder (simple-salesforce's `query` decodes every record
into an OrderedDict through a Python hook, most of a big read's client time); the request itself still goes
through simple-salesforce (`_call_salesforce`: its headers, error classes and session handling).

Salesforce exceptions are sorted here, in one place, into transient (retried by the caller) and permanent
ones (shown to the admin with Salesforce's own message).
"""

from __future__ import annotations

import csv
import json
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import quote

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceBulkV2ExtractError,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceOperationError,
    SalesforceRefusedRequest,
)

from sync_service.pull.convert import TextColumn
from sync_service.salesforce.client import renew_session
from sync_service.salesforce.errors import BudgetPaused, PullFailed, TransientError

Row = dict[str, Any]
T = TypeVar("T")
# How long a Bulk query job is given before its first status poll. simple-salesforce waits this long again
# plus a growing e^n ms between polls, capped at 2 s: a job of a few seconds costs a poll or two more than
# with a 1 s start, and a job done within a quarter second (most, below a few hundred thousand rows) is read
# three quarters of a second sooner.
BULK_POLL_SECONDS = 0.25
# Records per Bulk page handed on at a time: a 50,000-record result page is cut into pages of this many.
BULK_SLICE = 5000
_TRANSIENT_CODES = {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "QUERY_TIMEOUT", "UNKNOWN_EXCEPTION"}


def _error_code(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", ""))
    return ""


def _error_message(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return f"{content[0].get('errorCode')}: {str(content[0].get('message', '')).strip()}"
    return str(content)


def classify(call: Callable[[], T], *, renew_session: Callable[[], bool] | None = None) -> T:
    """Run `call`, turning Salesforce and transport failures into TransientError, BudgetPaused or PullFailed.

    REST calls sign in again by themselves (simple-salesforce) when the session expires; Bulk API calls do
    not, so for them `renew_session` signs in again and the expiry becomes a TransientError to retry."""
    try:
        return call()
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
        raise TransientError(f"connection to Salesforce failed: {exc.__class__.__name__}") from exc
    except SalesforceRefusedRequest as exc:
        if _error_code(exc) == "REQUEST_LIMIT_EXCEEDED":
            raise BudgetPaused("Salesforce refused the request: the org's daily API limit is exhausted") from exc
        raise PullFailed(f"Salesforce refused the request: {_error_message(exc)}") from exc
    except SalesforceExpiredSession as exc:
        if renew_session is not None and renew_session():
            raise TransientError("the Salesforce session expired; signed in again") from exc
        raise PullFailed("the Salesforce session expired and cannot be renewed with this sign-in") from exc
    except SalesforceError as exc:
        if exc.status >= 500 or _error_code(exc) in _TRANSIENT_CODES:
            raise TransientError(_error_message(exc)) from exc
        raise PullFailed(_error_message(exc)) from exc
    except (SalesforceBulkV2ExtractError, SalesforceOperationError) as exc:
        raise TransientError(f"the Bulk API job failed: {exc}") from exc


def count(sf: Salesforce, object_name: str, where: str | None) -> int:
    soql = f"SELECT COUNT() FROM {object_name}" + (f" WHERE {where}" if where else "")
    result = classify(lambda: sf.query(soql))
    return int(result["totalSize"])


def _flatten(record: dict[str, Any], prefix: str = "", out: Row | None = None) -> Row:
    """A REST record's nested parents as dotted paths: {"Account": {"Name": x}} → {"Account.Name": x}."""
    out = {} if out is None else out
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, dict) and "attributes" in value:
            _flatten(value, f"{prefix}{key}.", out)
        else:
            out[f"{prefix}{key}"] = value
    return out


def rest_rows(sf: Salesforce, soql: str, *, include_deleted: bool = False) -> Iterator[Row]:
    iterator = sf.query_all_iter(soql, include_deleted=include_deleted)
    while True:
        record = classify(lambda: next(iterator, None))
        if record is None:
            return
        yield _flatten(record)


def bulk_results(sf: Salesforce, object_name: str, soql: str) -> Iterator[str]:
    """The CSV result pages of a Bulk API 2.0 query job, as Salesforce sends them."""
    handler = getattr(sf.bulk2, object_name)  # takes the session id current now: a retry gets a renewed one
    renew = lambda: renew_session(sf)  # noqa: E731
    results = classify(lambda: handler.query(soql, max_records=50_000, wait=BULK_POLL_SECONDS), renew_session=renew)
    while True:
        text = classify(lambda: next(results, None), renew_session=renew)
        if text is None:
            return
        yield text


def bulk_rows(sf: Salesforce, object_name: str, soql: str) -> Iterator[Row]:
    """Rows of a Bulk API 2.0 query job; empty CSV cells are nulls (reference 2.10)."""
    for text in bulk_results(sf, object_name, soql):
        for row in csv.DictReader(_lines(text)):
            yield {key: (value if value != "" else None) for key, value in row.items()}


def _lines(text: str) -> Iterator[str]:
    """The text's lines with their "\n" (the csv module joins those of a quoted field that spans lines). Not
    io.StringIO: it copies the text into a buffer of four bytes a character, 45 MB for a 50,000-row page; nor
    str.splitlines, which also splits at characters an unquoted CSV cell may hold (U+2028, form feed, ...)."""
    start, size = 0, len(text)
    while start < size:
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start : end + 1]
        start = end + 1


def rows(sf: Salesforce, object_name: str, soql: str, *, use_bulk: bool) -> Iterator[Row]:
    return bulk_rows(sf, object_name, soql) if use_bulk else rest_rows(sf, soql)


class Page(Protocol):
    """Records of one page as columns: `column("Account.Name")` is that path's value for each record, in order
    (None where a parent is missing). Field names are matched case-insensitively, as SOQL does."""

    size: int

    def column(self, path: str) -> list[Any]: ...

    def raw_column(self, path: str) -> Sequence[Any]:
        """`column(path)` as the page holds it, for conversions that take an empty text as null (the pull's
        `convert_column` and `modstamps` do): a Bulk page's empty cells stay "" instead of becoming None."""
        ...


class RestPage:
    """A REST query page: records with their parents nested (`{"Account": {"Name": ...}}` or None)."""

    def __init__(self, records: list[dict[str, Any]]):
        self.records = records
        self.size = len(records)

    def column(self, path: str) -> list[Any]:
        values: list[Any] = self.records
        for part in path.split("."):
            key = _key_in(values, part)
            values = [v.get(key) if v is not None else None for v in values]
        return values

    raw_column = column


def _key_in(records: list[Any], name: str) -> str:
    """`name` as the records spell it (REST answers with the field's own case, the query may use another)."""
    first = next((r for r in records if r is not None), None)
    if first is None or name in first:
        return name
    lowered = name.lower()
    return next((k for k in first if k.lower() == lowered), name)


class BulkPage:
    """Rows of a Bulk API CSV result under its header; empty cells are nulls (reference 2.10)."""

    def __init__(self, header: list[str], rows: list[list[str]]):
        self.index = {name.lower(): i for i, name in enumerate(header)}
        self.size = len(rows)
        self.columns = [TextColumn(column) for column in zip(*rows, strict=True)]  # transposed once, in C

    def column(self, path: str) -> list[Any]:
        i = self.index.get(path.lower())
        if i is None:
            return [None] * self.size
        return [value or None for value in self.columns[i]]

    def raw_column(self, path: str) -> Sequence[Any]:
        i = self.index.get(path.lower())
        return [None] * self.size if i is None else self.columns[i]  # a TextColumn


def rest_pages(sf: Salesforce, soql: str, *, include_deleted: bool = False) -> Iterator[RestPage]:
    """The query's pages as they come (one API call each)."""
    url = sf.base_url + ("queryAll/" if include_deleted else "query/")
    result = classify(lambda: _json(sf._call_salesforce("GET", url, name="query", params={"q": soql})))
    while True:
        yield RestPage(result["records"])
        if result.get("done", True):
            return
        result = _query_more(sf, result["nextRecordsUrl"])


def _json(response: requests.Response) -> Any:
    return json.loads(response.content)


def _query_more(sf: Salesforce, next_records_url: str) -> Any:
    url = f"https://{sf.sf_instance}{next_records_url}"
    return classify(lambda: _json(sf._call_salesforce("GET", url, name="query_more")))


def _post_json(sf: Salesforce, url: str, body: Any) -> Any:
    return classify(lambda: _json(sf._call_salesforce("POST", url, name="composite", data=json.dumps(body))))


def bulk_pages(sf: Salesforce, object_name: str, soql: str) -> Iterator[BulkPage]:
    """The pages of a Bulk API 2.0 query job, each result page cut into pages of at most BULK_SLICE rows. The
    next result page (up to 50,000 rows) is downloaded by a thread of its own while this one's rows are
    handed out: otherwise the consumer would wait for each download once it had taken the slices before it."""
    with Prefetched(bulk_results(sf, object_name, soql), depth=1) as texts:
        for text in texts:
            reader = csv.reader(_lines(text))
            header = next(reader, None)
            if header is None:
                continue
            while rows := list(islice(reader, BULK_SLICE)):
                yield BulkPage(header, rows)


def pages(sf: Salesforce, object_name: str, soql: str, *, use_bulk: bool) -> Iterator[Page]:
    return bulk_pages(sf, object_name, soql) if use_bulk else rest_pages(sf, soql)


_END = object()


class Prefetched(Iterator[T]):
    """`items`, produced by a thread of their own up to `depth` ahead of the consumer, so reading the org
    overlaps converting and writing. The thread starts at once (a read can be started before its turn); an
    exception in it is raised to the consumer at its place in the sequence. `close` (or leaving a `with`
    block) stops the thread after the item it is producing."""

    def __init__(self, items: Iterator[T], depth: int = 2):
        self._handoff: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._items = items
        self._thread = threading.Thread(target=self._produce, name="pull-reader", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self._items:
                if not self._put((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer, who raises it
            self._put((_END, exc))
            return
        self._put((_END, None))

    def __next__(self) -> T:
        if self._stop.is_set():
            raise StopIteration
        item, error = self._handoff.get()
        if item is _END:
            self.close()
            if error is not None:
                raise error
            raise StopIteration
        return cast(T, item)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> Prefetched[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Query subrequests the Composite resource takes in one call.
COMPOSITE_QUERIES = 5


def composite_queries(sf: Salesforce, queries: list[tuple[str, bool]]) -> list[list[dict[str, Any]]]:
    """The records of each `(soql, include_deleted)` query, the first pages of up to COMPOSITE_QUERIES of them
    fetched in one Composite call (one API call for all; reference 2.9), further pages as usual."""
    out: list[list[dict[str, Any]]] = []
    for start in range(0, len(queries), COMPOSITE_QUERIES):
        group = queries[start : start + COMPOSITE_QUERIES]
        body = {
            "allOrNone": False,
            "compositeRequest": [
                {
                    "method": "GET",
                    "url": f"/services/data/v{sf.sf_version}/{'queryAll' if deleted else 'query'}/?q={quote(soql)}",
                    "referenceId": f"q{i}",
                }
                for i, (soql, deleted) in enumerate(group)
            ],
        }
        answer = _post_json(sf, f"{sf.base_url}composite", body)
        for sub in answer["compositeResponse"]:
            result = sub.get("body")
            if int(sub.get("httpStatusCode", 500)) >= 300 or not isinstance(result, dict):
                _raise_sub_error(int(sub.get("httpStatusCode", 500)), result)
            records = list(result.get("records") or [])
            while not result.get("done", True):
                result = _query_more(sf, result["nextRecordsUrl"])
                records += result["records"]
            out.append(records)
    return out


def _raise_sub_error(status: int, body: Any) -> None:
    """A failed Composite subrequest sorted as `classify` sorts a failed call."""
    first = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}
    code = str(first.get("errorCode", ""))
    message = f"{code}: {str(first.get('message', '')).strip()}" if first else str(body)
    if code == "REQUEST_LIMIT_EXCEEDED":
        raise BudgetPaused("Salesforce refused the request: the org's daily API limit is exhausted")
    if status >= 500 or code in _TRANSIENT_CODES:
        raise TransientError(message)
    raise PullFailed(message)
