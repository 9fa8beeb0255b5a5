"""Conditional request headers on sObject Rows (`/sobjects/{Object}/{id}`), as Salesforce's REST API serves them:
the validators a record is answered with (`Last-Modified`, and `ETag` for Account records) and the preconditions
a request may carry (`If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`). This module only
decides; it never reads the store or writes a record itself: the handlers in `rest.py` ask it before they answer,
and under the store's lock before they write.

What Salesforce documents and how the stand-in follows it. [cond] is the REST API Developer Guide's "Conditional
Request Headers" (intro_rest_conditional_requests.htm, current and v198/v226 versions); [rows] are its sObject
Rows GET and PATCH pages (resources_sobject_retrieve_get/_patch.htm).

- HTTP/1.1 semantics except where [cond] says otherwise; the order is RFC 9110 §13.2.2's: If-Match, else
  If-Unmodified-Since; then If-None-Match, else If-Modified-Since (GET only).
- ETag: "returned when you access the sObject Rows resource", Account records only, also on the PATCH response
  [cond, rows]; examples are a quoted base64 hash with a `-gzip`/`--gzip` suffix
  (`"ddpAdaTHz+GcV35e7NLJ9iKD3XXVqAzXT1Sl2ykkP7g=--gzip"`). Here: base64 of the SHA-256 of the stored record
  (every field, its stamps included) plus `--gzip`, so any change to the record changes it. If-Match and
  If-None-Match "only have an effect when used with Account objects" [rows]: on other objects they are ignored
  (an invalid value is still refused on PATCH and POST, below).
- If-Match (a comma-separated list of ETags, or `*`): processed if one matches (strong comparison), else 412
  and not processed [cond]. If-None-Match: the reverse; a match (weak comparison) gives 304 on GET and 412 on
  PATCH [cond].
- If-Modified-Since / If-Unmodified-Since "compare the precondition to the last modified date of the record"
  [cond]: the record's LastModifiedDate (not SystemModstamp, which roll-ups move too). Not modified since → 304
  with no body on GET (HTTP semantics; the Describe pages document the same 304 with no body); modified since →
  412 with If-Unmodified-Since, and nothing written (HTTP semantics; Salesforce's text for it is not documented).
  HTTP dates have no fractions, so the comparison is at one-second resolution: a record modified within the
  second a date names counts as not modified since. Salesforce's Mobile SDK tests against live orgs rely on
  exactly that: they read LastModifiedDate, send it truncated to the second as If-Unmodified-Since, expect the
  update to pass and the next one with the same date to get 412 (forcedotcom/SalesforceMobileSDK-Android,
  RestClientTest `testUpdateWithIfUnmodifiedSince`).
- Last-Modified (RFC 1123, GMT, from LastModifiedDate) on GET and on its 304: recorded on Describe responses and
  on a 304 inside composite (CumulusCI cassettes, v49.0, hand-edited). On sObject Rows it is **(unconfirmed)**:
  sent because it is the date a client passes back in If-Unmodified-Since.
- Where: preconditions are evaluated on sObject Rows GET and PATCH only; upsert and get by external id ignore
  them, and so do Describe and Describe Global here (Salesforce answers If-Modified-Since there too; the stand-in
  does not). Composite subrequests run through the same handlers, so their
  `httpHeaders` work alike; a 304 there has a null body and the validators in `httpHeaders`, as CumulusCI's
  recording of one shows.
- Dates: `EEE, dd MMM yyyy HH:mm:ss z` [rows]. Salesforce's own examples use a non-GMT zone
  (`Mon, 30 Nov 2020 08:34:54 MST`) and a one-digit day (`Wed, 3 Jul 2013 19:43:31 GMT`), both accepted. Zones
  understood: GMT, UT, UTC, Z, the North American abbreviations RFC 5322 names (EST EDT CST CDT MST MDT PST PDT),
  numeric offsets (`-0700`) and `GMT-07:00`. Java's `z`, which that pattern is, knows more names, but several
  are ambiguous (BST, IST, CST); any other zone is an invalid date **(unconfirmed how Salesforce reads them)**.
  The day name must be one of the seven and is not checked against the date **(unconfirmed)**.
- An invalid value of If-Match, If-None-Match or If-Unmodified-Since on PATCH or POST → 400 [cond]; the stand-in
  applies it to every PATCH and POST below `/sobjects/{Object}/` (rows, create, upsert), before anything is looked
  up or written. The error's code is not documented anywhere found: `INVALID_HEADER_VALUE` is the stand-in's
  choice **(unconfirmed)**, in the usual list shape, and its message names the header. On GET an invalid value
  is ignored, as HTTP says for If-Modified-Since (which is never refused).
- DELETE: "DELETE requests aren't supported" [cond]; the headers are ignored, invalid or not (v198 listed DELETE
  among the 400 cases; later versions dropped it).
- 412 body: not documented **(unconfirmed)**. The stand-in answers the usual list,
  `[{"message": ..., "errorCode": "ENTITY_FAILED_IFLASTMODIFIED_ON_UPDATE"}]`: a code of Salesforce's StatusCode
  list (SOAP API, core data types) whose name reads as this check, though its description there speaks of a
  LastModifiedDate later than the current date. Clients should key on the status only.
- HEAD: sObject Rows serves GET, PATCH and DELETE [rows]; HEAD stays 405, so [cond]'s "304 for GET or HEAD"
  has no HEAD case here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime as rfc1123
from typing import TYPE_CHECKING, TypeVar

from sync_service.devorg.errors import ApiError
from sync_service.devorg.values import parse_datetime

if TYPE_CHECKING:
    from collections.abc import Callable

    from sync_service.devorg.server.call import Call
    from sync_service.devorg.store import Record

ETAG_OBJECT = "Account"  # the one object whose rows carry an ETag [rows]
IF_MATCH = "If-Match"
IF_NONE_MATCH = "If-None-Match"
IF_MODIFIED_SINCE = "If-Modified-Since"
IF_UNMODIFIED_SINCE = "If-Unmodified-Since"
INVALID_VALUE = "INVALID_HEADER_VALUE"  # (unconfirmed): no documented code for it
PRECONDITION_FAILED = "ENTITY_FAILED_IFLASTMODIFIED_ON_UPDATE"  # (unconfirmed) for the 412 body

_T = TypeVar("_T")
_ETAG = r'(W/)?"([\x21\x23-\x7e]*)"'  # RFC 9110 entity-tag: optional weak prefix, quoted opaque-tag
_ETAG_LIST = re.compile(rf"[ \t]*(?:,[ \t]*)*{_ETAG}(?:[ \t]*,(?:[ \t]*,)*[ \t]*{_ETAG})*(?:[ \t]*,)*[ \t]*")
_HTTP_DATE = re.compile(
    r"[ \t]*(mon|tue|wed|thu|fri|sat|sun),[ \t]+(\d{1,2})[ \t]+([a-z]{3})[ \t]+(\d{4})[ \t]+"
    r"(\d{1,2}):(\d{2}):(\d{2})[ \t]+(\S+)[ \t]*",
    re.IGNORECASE,
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_ZONE_HOURS = {
    "gmt": 0,
    "ut": 0,
    "utc": 0,
    "z": 0,
    "est": -5,
    "edt": -4,
    "cst": -6,
    "cdt": -5,
    "mst": -7,
    "mdt": -6,
    "pst": -8,
    "pdt": -7,
}
_NUMERIC_ZONE = re.compile(r"(?:gmt)?([+-])(\d{2}):?(\d{2})", re.IGNORECASE)


@dataclass(frozen=True)
class EntityTag:
    weak: bool
    opaque: str  # what is between the quotes


ANY: tuple[EntityTag, ...] = ()  # `*`, which matches any current record (a parsed list is never empty)


@dataclass(frozen=True)
class Preconditions:
    """The conditional headers of one request, parsed; an absent (or ignored) header is None."""

    if_match: tuple[EntityTag, ...] | None = None
    if_none_match: tuple[EntityTag, ...] | None = None
    if_modified_since: datetime | None = None
    if_unmodified_since: datetime | None = None


def read(call: Call) -> Preconditions:
    """The preconditions `call` carries. On PATCH and POST an invalid If-Match, If-None-Match or
    If-Unmodified-Since is refused with 400 naming the header; on other methods an invalid value counts as
    absent, and If-Modified-Since is never refused. DELETE carries none: Salesforce does not support them there."""
    if call.method == "DELETE":
        return Preconditions()
    strict = call.method in ("PATCH", "POST")
    return Preconditions(
        if_match=_header(call, IF_MATCH, parse_etags, strict),
        if_none_match=_header(call, IF_NONE_MATCH, parse_etags, strict),
        if_modified_since=_header(call, IF_MODIFIED_SINCE, parse_http_date, False),
        if_unmodified_since=_header(call, IF_UNMODIFIED_SINCE, parse_http_date, strict),
    )


def evaluate(preconditions: Preconditions, sobject: str, record: Record, method: str) -> bool:
    """Check `preconditions` against the current `record` of `sobject`: True when a GET is to be answered 304
    Not Modified; raises 412 when a precondition fails (the caller then writes nothing); False to go ahead."""
    tag = etag(record) if sobject.lower() == ETAG_OBJECT.lower() else None
    modified = last_modified(record)
    if tag is not None and preconditions.if_match is not None:
        if not _matches(preconditions.if_match, tag, weak=False):
            raise _failed(IF_MATCH, "the record's ETag matches none of the list")
    elif (
        preconditions.if_unmodified_since is not None
        and modified is not None
        and modified > preconditions.if_unmodified_since
    ):
        raise _failed(IF_UNMODIFIED_SINCE, "the record has been modified since that date")
    if tag is not None and preconditions.if_none_match is not None:
        if _matches(preconditions.if_none_match, tag, weak=True):
            if method == "GET":
                return True
            raise _failed(IF_NONE_MATCH, "the record's ETag matches one of the list")
    elif method == "GET" and preconditions.if_modified_since is not None and modified is not None:
        return modified <= preconditions.if_modified_since
    return False


def validators(sobject: str, record: Record) -> dict[str, str]:
    """The response headers describing `record`'s version: Last-Modified, and ETag for an Account."""
    headers: dict[str, str] = {}
    modified = last_modified(record)
    if modified is not None:
        headers["Last-Modified"] = rfc1123(modified, usegmt=True)
    headers.update(etag_header(sobject, record))
    return headers


def etag_header(sobject: str, record: Record | None) -> dict[str, str]:
    """{"ETag": ...} for an Account record (GET and the PATCH response carry it [rows]), else {}."""
    if record is None or sobject.lower() != ETAG_OBJECT.lower():
        return {}
    return {"ETag": f'"{etag(record).opaque}"'}


def etag(record: Record) -> EntityTag:
    """A strong tag hashing everything stored on the record, in the shape of Salesforce's examples."""
    state = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str).encode()
    digest = base64.b64encode(hashlib.sha256(state).digest()).decode("ascii")
    return EntityTag(False, f"{digest}--gzip")


def last_modified(record: Record) -> datetime | None:
    """The record's LastModifiedDate to the second (the resolution of an HTTP date)."""
    stamp = record.get("LastModifiedDate")
    if not isinstance(stamp, str):
        return None
    return parse_datetime(stamp).replace(microsecond=0)


def parse_etags(value: str) -> tuple[EntityTag, ...] | None:
    """`*` or a comma-separated list of entity tags (RFC 9110 §13.1.1); None when the value is not one."""
    if value.strip() == "*":
        return ANY
    if not _ETAG_LIST.fullmatch(value):
        return None
    return tuple(EntityTag(bool(weak), opaque) for weak, opaque in re.findall(_ETAG, value))


def parse_http_date(value: str) -> datetime | None:
    """`EEE, dd MMM yyyy HH:mm:ss z` as an aware datetime; None when the value is not one (see the module's
    notes for the zones understood)."""
    match = _HTTP_DATE.fullmatch(value)
    if match is None:
        return None
    _day_name, day, month_name, year, hour, minute, second, zone_text = match.groups()
    zone = _zone(zone_text)
    if zone is None or month_name.lower() not in _MONTHS:
        return None
    try:
        return datetime(
            int(year), _MONTHS.index(month_name.lower()) + 1, int(day), int(hour), int(minute), int(second), tzinfo=zone
        )
    except ValueError:  # 31 Feb, 25:00 and the like
        return None


def _zone(text: str) -> timezone | None:
    hours = _ZONE_HOURS.get(text.lower())
    if hours is not None:
        return timezone(timedelta(hours=hours))
    numeric = _NUMERIC_ZONE.fullmatch(text)
    if numeric is None:
        return None
    sign, hh, mm = numeric.groups()
    if int(hh) > 23 or int(mm) > 59:
        return None
    offset = timedelta(hours=int(hh), minutes=int(mm))
    return timezone(-offset if sign == "-" else offset)


def _matches(tags: tuple[EntityTag, ...], current: EntityTag, *, weak: bool) -> bool:
    """RFC 9110 §8.8.3.2: strong comparison needs both tags strong; weak comparison looks at the opaque tags."""
    if tags == ANY:
        return True
    return any(t.opaque == current.opaque and (weak or not (t.weak or current.weak)) for t in tags)


def _header(call: Call, name: str, parse: Callable[[str], _T | None], strict: bool) -> _T | None:
    raw = call.header(name)
    if raw is None:
        return None
    value = parse(raw)
    if value is None and strict:
        raise ApiError(400, INVALID_VALUE, f"Invalid value for the {name} header: {raw}")
    return value


def _failed(header: str, why: str) -> ApiError:
    return ApiError(412, PRECONDITION_FAILED, f"The {header} precondition failed: {why}")
