"""One running stand-in org: schema, records, users' credentials, sessions, API limits and faults.

The HTTP layer (`server/`) is a thin translation of requests into calls on this object, so tests and the
seeder can drive the same org in-process.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sync_service.devorg import ids
from sync_service.devorg.catalogue import TASK_EXTERNAL_ID_FIELD, build_schema
from sync_service.devorg.clock import OrgClock
from sync_service.devorg.errors import ApiError, invalid_session, request_limit_exceeded
from sync_service.devorg.faults import Faults
from sync_service.devorg.oauth import OAuthState
from sync_service.devorg.profiles import SYSTEM_ADMINISTRATOR, stamp_creator, standard_profiles
from sync_service.devorg.store import OrgStore

ORG_ID = ids.make_id("00D", 1)  # the org's id unless it was started with another number (`org_id_for`)


def org_id_for(number: int) -> str:
    """The id of the stand-in org started with `--org-number number`."""
    return ids.make_id("00D", number)


# Token characters simple-salesforce can take out of the SOAP envelope unescaped (no &, <, >).
_TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"  # noqa: S105


@dataclass
class Credentials:
    username: str
    password: str
    security_token: str
    client_id: str
    client_secret: str

    @classmethod
    def generate(cls) -> Credentials:
        return cls(
            username="integration@renewals.devorg",
            password=secrets.token_urlsafe(12),
            security_token=secrets.token_hex(12).upper(),
            client_id="3MVG9" + secrets.token_urlsafe(40).replace("-", "A").replace("_", "B"),
            client_secret=secrets.token_hex(32).upper(),
        )


@dataclass
class Session:
    token: str
    user_id: str
    issued: float
    last_used: float


@dataclass
class Cursor:
    records: list[dict[str, Any]]
    total_size: int
    touched: float = field(default_factory=time.monotonic)


class Org:
    def __init__(
        self,
        data_dir: Path | None,
        *,
        task_external_id: bool = True,
        tz: tzinfo | None = None,
        clock: Callable[[], datetime] | None = None,
        org_number: int | None = None,
    ):
        self.data_dir = data_dir
        self.schema = build_schema(task_external_id=task_external_id)
        self.clock = OrgClock(clock)
        self.store = OrgStore(self.schema, None if data_dir is None else data_dir / "org.sqlite3", clock=self.clock)
        self.tz = tz or ZoneInfo("America/Los_Angeles")
        self.lock = self.store.lock
        self.faults = Faults()
        self.session_seconds = 7200.0
        self.upsert_update_status = 204
        self.daily_api_limit = 100_000
        self.sessions: dict[str, Session] = {}
        self.cursors: OrderedDict[str, Cursor] = OrderedDict()
        self.jwt_certificate_pem: bytes | None = None
        self.admin_token = secrets.token_urlsafe(24)
        self.request_log: list[dict[str, Any]] = []
        self.bulk_jobs: dict[str, Any] = {}  # job id -> server.bulk.Job
        self.bulk_delay_seconds = 0.2  # how long a closed Bulk job reports InProgress before JobComplete
        self.static_pages: list[bytes] = []  # benchmark baseline: pages served verbatim by the same stack
        self._api_minutes: dict[int, int] = {}
        self._apply_schema_changes()
        self.org_id = self._load_org_id(org_number)
        self.credentials = self._load_credentials()
        self.oauth = OAuthState.load(self.store)
        self._load_api_usage()
        self._load_clock()

    # ------------------------------------------------------------------ identity, credentials and sessions

    def _load_org_id(self, number: int | None) -> str:
        """The org's id: the `number`-th 00D id (1 unless asked), kept with the data. Two stand-ins started with
        different numbers are two orgs, as a user of one is not a user of the other."""
        stored = self.store.get_meta("org_number")
        if stored is not None:
            if number is not None and number != int(stored):
                raise ValueError(f"this data directory holds org number {stored}, not {number}")
            number = int(stored)
        else:
            number = number or 1
            if number < 1:
                raise ValueError("the org number is 1 or more")
            self.store.set_meta("org_number", str(number))
        if not self.store.count("Organization"):
            # The Organization record the seeder writes then carries the org's id.
            self.store.skip_to("00D", number)
        return org_id_for(number)

    def _load_credentials(self) -> Credentials:
        stored = self.store.get_meta("credentials")
        if stored is not None:
            return Credentials(**json.loads(stored))
        creds = Credentials.generate()
        self.store.set_meta("credentials", json.dumps(creds.__dict__))
        return creds

    def api_user_id(self) -> str:
        found = self.store.find_by("User", "Username", self.credentials.username)
        if found:
            return str(found[0]["Id"])
        with self.store.transaction():
            profiles = standard_profiles(self.store)
            user = self.store.insert(
                "User",
                {
                    "Username": self.credentials.username,
                    "LastName": "Integration",
                    "FirstName": "Renewals",
                    "Alias": "integ",
                    "Email": "integration@renewals.devorg",
                    "ProfileId": profiles[SYSTEM_ADMINISTRATOR],
                },
                system=True,
            )
            stamp_creator(self.store, str(user["Id"]))
        return str(user["Id"])

    def open_session(self, user_id: str | None = None) -> Session:
        """A new API session for `user_id` (the API user when None)."""
        token = f"{self.org_id[:15]}!AQ" + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(90))
        now = self.clock.monotonic()
        session = Session(token, user_id or self.api_user_id(), now, now)
        with self.lock:
            self.sessions[token] = session
        return session

    def check_session(self, token: str | None) -> Session:
        """The live session for `token`; expired or unknown → 401 INVALID_SESSION_ID (a JSON list)."""
        session = self.sessions.get(token or "")
        now = self.clock.monotonic()  # idle time counts what the org's clock was advanced by
        if session is None or now - session.last_used > self.session_seconds:
            if session is not None:
                self.sessions.pop(session.token, None)
            raise invalid_session()
        session.last_used = now
        return session

    def expire_sessions(self, token: str | None = None) -> int:
        with self.lock:
            if token is None:
                count = len(self.sessions)
                self.sessions.clear()
                return count
            return 1 if self.sessions.pop(token, None) else 0

    # ------------------------------------------------------------------ API accounting

    def _load_api_usage(self) -> None:
        stored = self.store.get_meta("api_minutes")
        if stored:
            self._api_minutes = {int(k): v for k, v in json.loads(stored).items()}
        limit = self.store.get_meta("daily_api_limit")
        if limit:
            self.daily_api_limit = int(limit)

    def api_used(self) -> int:
        horizon = int(time.time() // 60) - 24 * 60
        return sum(n for minute, n in self._api_minutes.items() if minute > horizon)

    def count_api_call(self) -> None:
        """One call against the rolling 24-hour limit; over the limit → 403 REQUEST_LIMIT_EXCEEDED."""
        with self.lock:
            if self.api_used() >= self.daily_api_limit:
                raise request_limit_exceeded()
            minute = int(time.time() // 60)
            self._api_minutes[minute] = self._api_minutes.get(minute, 0) + 1
            if len(self._api_minutes) > 24 * 60 + 5:
                horizon = minute - 24 * 60
                self._api_minutes = {m: n for m, n in self._api_minutes.items() if m > horizon}
            self.store.set_meta("api_minutes", json.dumps(self._api_minutes))

    def reset_api_usage(self) -> None:
        with self.lock:
            self._api_minutes = {}
            self.store.set_meta("api_minutes", "{}")

    def set_daily_api_limit(self, limit: int) -> None:
        self.daily_api_limit = limit
        self.store.set_meta("daily_api_limit", str(limit))

    def limit_header(self) -> str:
        return f"api-usage={self.api_used()}/{self.daily_api_limit}"

    # ------------------------------------------------------------------ query cursors

    def open_cursor(self, records: list[dict[str, Any]], total_size: int) -> str:
        locator = ids.make_id("01g", self.store.next_sequence("cursor"))[:15]
        with self.lock:
            self.cursors[locator] = Cursor(records, total_size)
            while len(self.cursors) > 200:
                self.cursors.popitem(last=False)
        return locator

    def cursor(self, locator: str) -> Cursor:
        found = self.cursors.get(locator)
        if found is None or time.monotonic() - found.touched > 15 * 60:
            self.cursors.pop(locator, None)
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        found.touched = time.monotonic()
        self.cursors.move_to_end(locator)
        return found

    # ------------------------------------------------------------------ schema changes (admin hooks)

    def change_schema(self, change: dict[str, Any]) -> None:
        """Add, rename or delete a custom field; persisted so the org keeps its shape across restarts."""
        with self.lock:
            self._apply_change(change, migrate_data=True)
            self.store.schema_changed()
            changes = json.loads(self.store.get_meta("schema_changes") or "[]")
            changes.append(change)
            self.store.set_meta("schema_changes", json.dumps(changes))

    def _apply_schema_changes(self) -> None:
        for change in json.loads(self.store.get_meta("schema_changes") or "[]"):
            self._apply_change(change, migrate_data=False)

    def _apply_change(self, change: dict[str, Any], *, migrate_data: bool) -> None:
        from sync_service.devorg.fielddefs import check, day, money, number, text

        op, sobject = change.get("op"), str(change.get("object", ""))
        if op == "add":
            kind = change.get("type", "string")
            makers = {"string": text, "boolean": check, "date": day, "currency": money, "double": number}
            if kind not in makers:
                raise ValueError(f"type must be one of {sorted(makers)}")
            # Optional attributes, as Setup offers them on a new field: External ID and Unique.
            flags = {key: bool(change[key]) for key in ("external_id", "unique") if key in change}
            new = makers[kind](str(change["field"]), **flags)
            self.schema.add_field(sobject, new)
        elif op == "rename":
            self.schema.rename_field(sobject, str(change["field"]), str(change["new_name"]))
            if migrate_data:
                obj = self.schema.get(sobject)
                assert obj is not None
                self.store.rename_field_data(obj.name, str(change["field"]), str(change["new_name"]))
        elif op == "delete":
            self.schema.delete_field(sobject, str(change["field"]))
        else:
            raise ValueError("op must be add, rename or delete")

    @property
    def task_external_id_field(self) -> str | None:
        task = self.schema.get("Task")
        assert task is not None
        f = task.field(TASK_EXTERNAL_ID_FIELD)
        return None if f is None else f.name

    # ------------------------------------------------------------------ the clock (admin hook)

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def _load_clock(self) -> None:
        # Kept with the data, like the API usage: a restarted org must not stamp records earlier than the ones
        # it stamped after an advance.
        stored = self.store.get_meta("clock_offset_seconds")
        if stored:
            self.clock.offset = timedelta(seconds=float(stored))

    def advance_clock(self, seconds: object) -> None:
        """Move the org's clock forward (see `clock.OrgClock.advance`), for good: the offset is persisted."""
        with self.lock:
            self.clock.advance(seconds)
            self.store.set_meta("clock_offset_seconds", repr(self.clock.offset_seconds))
