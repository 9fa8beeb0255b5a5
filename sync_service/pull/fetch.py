"""Reading rows from the org: REST query paging below the mapping's bulk threshold, a Bulk API 2.0 query
job above it. Both are streamed page by page and yield flat rows `{field path: value}`, so memory does not
grow with the number of records.

Salesforce exceptions are sorted here, in one place, into transient (retried by the caller) and permanent
ones (shown to the admin with Salesforce's own message).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceBulkV2ExtractError,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceOperationError,
    SalesforceRefusedRequest,
)

from sync_service.salesforce.client import renew_session
from sync_service.salesforce.errors import BudgetPaused, PullFailed, TransientError

Row = dict[str, Any]
T = TypeVar("T")
# How long a Bulk query job is given before each status poll; small jobs finish in a second or two.
BULK_POLL_SECONDS = 1
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


def bulk_rows(sf: Salesforce, object_name: str, soql: str) -> Iterator[Row]:
    """Rows of a Bulk API 2.0 query job; empty CSV cells are nulls (reference 2.10)."""
    handler = getattr(sf.bulk2, object_name)  # takes the session id current now: a retry gets a renewed one
    renew = lambda: renew_session(sf)  # noqa: E731
    pages = classify(lambda: handler.query(soql, max_records=50_000, wait=BULK_POLL_SECONDS), renew_session=renew)
    while True:
        page = classify(lambda: next(pages, None), renew_session=renew)
        if page is None:
            return
        for row in csv.DictReader(io.StringIO(page)):
            yield {key: (value if value != "" else None) for key, value in row.items()}


def rows(sf: Salesforce, object_name: str, soql: str, *, use_bulk: bool) -> Iterator[Row]:
    return bulk_rows(sf, object_name, soql) if use_bulk else rest_rows(sf, soql)
