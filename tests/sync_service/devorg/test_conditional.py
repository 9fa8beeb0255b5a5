"""Conditional request headers on sObject Rows, through simple-salesforce and raw HTTPS: Last-Modified (and the
Account ETag) on GET, 304 for If-Modified-Since and If-None-Match, 412 with nothing written for a stale
If-Unmodified-Since or a failed If-Match, 400 naming the header for an invalid value, the date forms Salesforce's
documentation uses, DELETE ignoring the headers, and composite subrequests carrying them both ways.

The org is this module's own, empty one: the tests advance its clock (for good) so that a change lands in a
later second instead of sleeping, and the session's shared org must keep real time.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceMalformedRequest

from sync_service.devorg.values import parse_datetime
from tests.standin_org import RunningOrg, start_org

PRECONDITION_FAILED = "ENTITY_FAILED_IFLASTMODIFIED_ON_UPDATE"
INVALID_HEADER_VALUE = "INVALID_HEADER_VALUE"
ETAG_SHAPE = re.compile(r'"[A-Za-z0-9+/]{43}=--gzip"')  # base64 SHA-256, as Salesforce's documented examples
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOrg]:
    with start_org(tmp_path_factory.mktemp("conditional-org")) as org:
        yield org


@pytest.fixture(scope="module")
def sf(standin: RunningOrg) -> Salesforce:
    return standin.salesforce()


def raw(standin: RunningOrg, sf: Salesforce, method: str, path: str, **kwargs: object) -> requests.Response:
    return standin.rest(method, path, sf.session_id, **kwargs)


def new_contact(sf: Salesforce, title: str = "first") -> str:
    return str(sf.Contact.create({"LastName": f"Conditional {uuid.uuid4().hex[:8]}", "Title": title})["id"])


def new_account(sf: Salesforce, description: str = "first") -> str:
    return str(sf.Account.create({"Name": f"Conditional {uuid.uuid4().hex[:8]}", "Description": description})["id"])


def http_date(moment: datetime, zone: str = "GMT", hours: int = 0, *, pad_day: bool = True) -> str:
    """`EEE, dd MMM yyyy HH:mm:ss z` in the given zone (names spelled out: strftime follows the locale)."""
    local = moment.astimezone(timezone(timedelta(hours=hours)))
    day = f"{local.day:02d}" if pad_day else str(local.day)
    return f"{DAYS[local.weekday()]}, {day} {MONTHS[local.month - 1]} {local:%Y %H:%M:%S} {zone}"


def last_modified(sf: Salesforce, sobject: str, record_id: str) -> datetime:
    """The record's LastModifiedDate as stored (milliseconds and all)."""
    return parse_datetime(getattr(sf, sobject).get(record_id)["LastModifiedDate"])


def later_second(standin: RunningOrg) -> None:
    """Make the org's next write land at least a second after everything before it."""
    standin.advance_clock(2)


# ---------------------------------------------------------------------------------------------- Last-Modified


def test_get_answers_last_modified_from_the_records_last_modified_date(standin: RunningOrg, sf: Salesforce) -> None:
    contact_id = new_contact(sf)
    response = raw(standin, sf, "GET", f"sobjects/Contact/{contact_id}")
    assert response.status_code == 200
    stored = parse_datetime(response.json()["LastModifiedDate"])
    assert response.headers["Last-Modified"] == format_datetime(stored.replace(microsecond=0), usegmt=True)
    assert response.headers["Last-Modified"].endswith(" GMT")
    assert "ETag" not in response.headers  # Account records only


def test_if_modified_since_not_earlier_answers_304_without_a_body(standin: RunningOrg, sf: Salesforce) -> None:
    contact_id = new_contact(sf)
    stamp = raw(standin, sf, "GET", f"sobjects/Contact/{contact_id}").headers["Last-Modified"]
    a_day_later = http_date(parse_datetime(sf.Contact.get(contact_id)["LastModifiedDate"]) + timedelta(days=1))
    for since in (stamp, a_day_later):
        response = raw(standin, sf, "GET", f"sobjects/Contact/{contact_id}", headers={"If-Modified-Since": since})
        assert response.status_code == 304, since
        assert response.content == b""
        assert response.headers["Last-Modified"] == stamp
        assert "Content-Type" not in response.headers and "Content-Length" not in response.headers

    # simple-salesforce treats every status from 300 up as an error: a 304 raises, with no content.
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.Contact.get(contact_id, headers={"If-Modified-Since": stamp})
    assert caught.value.status == 304
    assert caught.value.content == ""


def test_if_modified_since_earlier_answers_200_with_the_record(standin: RunningOrg, sf: Salesforce) -> None:
    contact_id = new_contact(sf)
    stamp = last_modified(sf, "Contact", contact_id).replace(microsecond=0)
    second_before = http_date(stamp - timedelta(seconds=1))
    assert sf.Contact.get(contact_id, headers={"If-Modified-Since": second_before})["Id"] == contact_id

    seen = http_date(stamp)
    later_second(standin)
    sf.Contact.update(contact_id, {"Title": "changed"})
    response = raw(standin, sf, "GET", f"sobjects/Contact/{contact_id}", headers={"If-Modified-Since": seen})
    assert response.status_code == 200
    assert response.json()["Title"] == "changed"
    assert response.headers["Last-Modified"] != seen


# ---------------------------------------------------------------------------------------------- If-Unmodified-Since


def test_a_stale_if_unmodified_since_gets_412_and_writes_nothing(standin: RunningOrg, sf: Salesforce) -> None:
    contact_id = new_contact(sf, "as pulled")
    seen = raw(standin, sf, "GET", f"sobjects/Contact/{contact_id}").headers["Last-Modified"]
    later_second(standin)
    sf.Contact.update(contact_id, {"Title": "edited in Salesforce"})  # someone else, after our read
    edited = sf.Contact.get(contact_id)

    with pytest.raises(SalesforceGeneralError) as caught:
        sf.Contact.update(contact_id, {"Title": "ours"}, headers={"If-Unmodified-Since": seen})
    assert caught.value.status == 412
    assert caught.value.content[0]["errorCode"] == PRECONDITION_FAILED

    response = raw(
        standin,
        sf,
        "PATCH",
        f"sobjects/Contact/{contact_id}",
        json={"Title": "ours"},
        headers={"If-Unmodified-Since": seen},
    )
    assert response.status_code == 412
    assert response.json() == [
        {
            "message": "The If-Unmodified-Since precondition failed: the record has been modified since that date",
            "errorCode": PRECONDITION_FAILED,
        }
    ]
    after = sf.Contact.get(contact_id)
    assert after["Title"] == "edited in Salesforce"
    assert after["LastModifiedDate"] == edited["LastModifiedDate"]


def test_a_fresh_if_unmodified_since_updates(standin: RunningOrg, sf: Salesforce) -> None:
    contact_id = new_contact(sf)
    seen = raw(standin, sf, "GET", f"sobjects/Contact/{contact_id}").headers["Last-Modified"]
    later_second(standin)
    assert sf.Contact.update(contact_id, {"Title": "ours"}, headers={"If-Unmodified-Since": seen}) == 204
    assert sf.Contact.get(contact_id)["Title"] == "ours"


def test_dates_compare_at_one_second_resolution(standin: RunningOrg, sf: Salesforce) -> None:
    contact_id = new_contact(sf)
    stored = last_modified(sf, "Contact", contact_id)
    same_second = stored.replace(microsecond=0)
    assert same_second <= stored  # the record was written within (or at the start of) that second

    with pytest.raises(SalesforceGeneralError) as caught:
        sf.Contact.update(
            contact_id,
            {"Title": "a second too early"},
            headers={"If-Unmodified-Since": http_date(same_second - timedelta(seconds=1))},
        )
    assert caught.value.status == 412
    assert sf.Contact.get(contact_id)["Title"] == "first"

    # Modified within the second the date names: not modified since.
    headers = {"If-Unmodified-Since": http_date(same_second)}
    assert sf.Contact.update(contact_id, {"Title": "same second"}, headers=headers) == 204
    assert sf.Contact.get(contact_id)["Title"] == "same second"


# ---------------------------------------------------------------------------------------------- ETag (Account)


def test_an_account_answers_an_etag_that_changes_with_the_record(standin: RunningOrg, sf: Salesforce) -> None:
    account_id = new_account(sf)
    first = raw(standin, sf, "GET", f"sobjects/Account/{account_id}")
    etag = first.headers["ETag"]
    assert ETAG_SHAPE.fullmatch(etag), etag
    assert raw(standin, sf, "GET", f"sobjects/Account/{account_id}").headers["ETag"] == etag  # stable
    assert "Last-Modified" in first.headers

    updated = raw(standin, sf, "PATCH", f"sobjects/Account/{account_id}", json={"Description": "second"})
    assert updated.status_code == 204
    assert ETAG_SHAPE.fullmatch(updated.headers["ETag"])  # the PATCH response carries the new one
    assert updated.headers["ETag"] != etag
    assert raw(standin, sf, "GET", f"sobjects/Account/{account_id}").headers["ETag"] == updated.headers["ETag"]


def test_if_match_a_stale_etag_gets_412_and_a_current_one_updates(standin: RunningOrg, sf: Salesforce) -> None:
    account_id = new_account(sf)
    old = raw(standin, sf, "GET", f"sobjects/Account/{account_id}").headers["ETag"]
    sf.Account.update(account_id, {"Description": "edited in Salesforce"})
    current = raw(standin, sf, "GET", f"sobjects/Account/{account_id}").headers["ETag"]

    with pytest.raises(SalesforceGeneralError) as caught:
        sf.Account.update(account_id, {"Description": "ours"}, headers={"If-Match": old})
    assert caught.value.status == 412
    assert caught.value.content[0]["errorCode"] == PRECONDITION_FAILED
    assert sf.Account.get(account_id)["Description"] == "edited in Salesforce"
    assert raw(standin, sf, "GET", f"sobjects/Account/{account_id}").headers["ETag"] == current

    # A comma-separated list: processed when one of them matches.
    assert sf.Account.update(account_id, {"Description": "ours"}, headers={"If-Match": f"{old}, {current}"}) == 204
    assert sf.Account.get(account_id)["Description"] == "ours"
    assert sf.Account.update(account_id, {"Description": "any"}, headers={"If-Match": "*"}) == 204
    # If-Match compares strongly: a weak tag never matches.
    weak = "W/" + raw(standin, sf, "GET", f"sobjects/Account/{account_id}").headers["ETag"]
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.Account.update(account_id, {"Description": "weak"}, headers={"If-Match": weak})
    assert caught.value.status == 412


def test_if_none_match_answers_304_on_get_and_412_on_patch(standin: RunningOrg, sf: Salesforce) -> None:
    account_id = new_account(sf)
    etag = raw(standin, sf, "GET", f"sobjects/Account/{account_id}").headers["ETag"]

    response = raw(standin, sf, "GET", f"sobjects/Account/{account_id}", headers={"If-None-Match": etag})
    assert response.status_code == 304 and response.content == b""
    assert response.headers["ETag"] == etag
    weakly = raw(standin, sf, "GET", f"sobjects/Account/{account_id}", headers={"If-None-Match": f"W/{etag}"})
    assert weakly.status_code == 304  # If-None-Match compares weakly
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.Account.get(account_id, headers={"If-None-Match": etag})
    assert caught.value.status == 304

    with pytest.raises(SalesforceGeneralError) as caught:
        sf.Account.update(account_id, {"Description": "ours"}, headers={"If-None-Match": etag})
    assert caught.value.status == 412
    assert sf.Account.get(account_id)["Description"] == "first"

    other = '"U5iWijwWbQD18jeiXwsqxeGpZQk=-gzip"'
    assert sf.Account.get(account_id, headers={"If-None-Match": other})["Id"] == account_id
    assert sf.Account.update(account_id, {"Description": "ours"}, headers={"If-None-Match": other}) == 204
    assert sf.Account.get(account_id)["Description"] == "ours"


def test_etag_headers_do_nothing_on_other_objects(standin: RunningOrg, sf: Salesforce) -> None:
    contact_id = new_contact(sf)
    mismatch = '"U5iWijwWbQD18jeiXwsqxeGpZQk=-gzip"'
    assert sf.Contact.update(contact_id, {"Title": "ours"}, headers={"If-Match": mismatch}) == 204
    assert sf.Contact.get(contact_id, headers={"If-None-Match": "*"})["Title"] == "ours"


# ---------------------------------------------------------------------------------------------- invalid values


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("If-Match", "not-quoted"),
        ("If-None-Match", '"one" "two"'),
        ("If-Unmodified-Since", "yesterday"),
        ("If-Unmodified-Since", "2024-05-01T12:00:00Z"),
    ],
)
def test_an_invalid_value_on_patch_or_post_is_a_400_naming_the_header(
    standin: RunningOrg, sf: Salesforce, header: str, value: str
) -> None:
    account_id = new_account(sf)
    before = sf.Account.get(account_id)

    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Account.update(account_id, {"Description": "ours"}, headers={header: value})
    assert caught.value.content[0]["errorCode"] == INVALID_HEADER_VALUE
    response = raw(
        standin, sf, "PATCH", f"sobjects/Account/{account_id}", json={"Description": "ours"}, headers={header: value}
    )
    assert response.status_code == 400
    [error] = response.json()
    assert error["errorCode"] == INVALID_HEADER_VALUE
    assert header in error["message"] and value in error["message"]
    assert sf.Account.get(account_id) == before  # nothing written, not even the stamps

    name = f"Never created {uuid.uuid4().hex[:8]}"
    created = raw(standin, sf, "POST", "sobjects/Account/", json={"Name": name}, headers={header: value})
    assert created.status_code == 400
    assert created.json()[0]["errorCode"] == INVALID_HEADER_VALUE
    assert sf.query(f"SELECT Id FROM Account WHERE Name = '{name}'")["totalSize"] == 0


def test_an_invalid_value_on_get_and_an_invalid_if_modified_since_anywhere_are_ignored(
    standin: RunningOrg, sf: Salesforce
) -> None:
    account_id = new_account(sf)
    for header in ("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"):
        assert sf.Account.get(account_id, headers={header: "garbage"})["Id"] == account_id, header
    assert sf.Account.update(account_id, {"Description": "ours"}, headers={"If-Modified-Since": "garbage"}) == 204
    assert sf.Account.get(account_id)["Description"] == "ours"


# ---------------------------------------------------------------------------------------------- date forms


def test_a_one_digit_day_as_in_salesforces_examples_is_understood(standin: RunningOrg, sf: Salesforce) -> None:
    contact_id = new_contact(sf)
    # Parsed (a 400 otherwise) and compared: the record was modified after 3 July 2013, not after 1 Jan 2100.
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.Contact.update(contact_id, {"Title": "old"}, headers={"If-Unmodified-Since": "Wed, 3 Jul 2013 19:43:31 GMT"})
    assert caught.value.status == 412
    headers = {"If-Unmodified-Since": "Fri, 1 Jan 2100 00:00:00 GMT"}
    assert sf.Contact.update(contact_id, {"Title": "ours"}, headers=headers) == 204
    assert sf.Contact.get(contact_id)["Title"] == "ours"


@pytest.mark.parametrize(("zone", "hours"), [("MST", -7), ("PST", -8), ("EDT", -4), ("-0700", -7)])
def test_non_gmt_zones_are_understood(standin: RunningOrg, sf: Salesforce, zone: str, hours: int) -> None:
    contact_id = new_contact(sf)
    stamp = last_modified(sf, "Contact", contact_id).replace(microsecond=0)
    # The same instant in the zone passes; a second earlier fails. Read as GMT, the first would be hours off.
    same = http_date(stamp, zone, hours, pad_day=False)
    earlier = http_date(stamp - timedelta(seconds=1), zone, hours, pad_day=False)
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.Contact.update(contact_id, {"Title": "early"}, headers={"If-Unmodified-Since": earlier})
    assert caught.value.status == 412
    assert sf.Contact.update(contact_id, {"Title": "ours"}, headers={"If-Unmodified-Since": same}) == 204
    assert sf.Contact.get(contact_id)["Title"] == "ours"


# ---------------------------------------------------------------------------------------------- DELETE, composite


def test_delete_ignores_the_headers(standin: RunningOrg, sf: Salesforce) -> None:
    account_id = new_account(sf)
    stale = http_date(last_modified(sf, "Account", account_id) - timedelta(days=1))
    headers = {"If-Unmodified-Since": stale, "If-Match": '"no-such-tag"', "If-None-Match": "not quoted"}
    response = raw(standin, sf, "DELETE", f"sobjects/Account/{account_id}", headers=headers)
    assert response.status_code == 204
    assert raw(standin, sf, "GET", f"sobjects/Account/{account_id}").status_code == 404


def test_composite_subrequests_carry_the_headers_both_ways(standin: RunningOrg, sf: Salesforce) -> None:
    account_id = new_account(sf)
    first = raw(standin, sf, "GET", f"sobjects/Account/{account_id}")
    etag, stamp = first.headers["ETag"], first.headers["Last-Modified"]
    later_second(standin)
    url = f"/services/data/v59.0/sobjects/Account/{account_id}"
    result = sf.restful(
        "composite",
        method="POST",
        json={
            "compositeRequest": [
                {"method": "GET", "url": url, "referenceId": "cached", "httpHeaders": {"If-None-Match": etag}},
                {"method": "PATCH", "url": url, "referenceId": "edit", "body": {"Description": "edited"}},
                {
                    "method": "PATCH",
                    "url": url,
                    "referenceId": "stale",
                    "body": {"Description": "ours"},
                    "httpHeaders": {"If-Unmodified-Since": stamp},
                },
            ]
        },
    )
    cached, edit, stale = result["compositeResponse"]
    # As a recorded 304 inside composite looks: no body, the validators in httpHeaders.
    assert cached["httpStatusCode"] == 304 and cached["body"] is None
    assert cached["httpHeaders"] == {"ETag": etag, "Last-Modified": stamp}
    assert edit["httpStatusCode"] == 204 and edit["httpHeaders"]["ETag"] != etag
    assert stale["httpStatusCode"] == 412
    assert stale["body"][0]["errorCode"] == PRECONDITION_FAILED
    assert sf.Account.get(account_id)["Description"] == "edited"
