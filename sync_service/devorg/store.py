"""The stand-in org's records: held in memory for querying, persisted to SQLite on every commit.

All mutations go through `insert`, `update` and `delete`, which validate like Salesforce DML and keep the
system and derived fields. A `transaction()` makes a request atomic (and gives allOrNone its rollback);
nothing reaches disk until the outermost transaction commits, so a failed request leaves no trace.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from sys import intern
from typing import Any

from sync_service.devorg import automation, ids
from sync_service.devorg.errors import ApiError, not_found
from sync_service.devorg.schema import FieldDef, ObjectDef, Schema
from sync_service.devorg.values import coerce, format_datetime

Record = dict[str, Any]
_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, sobject TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (id TEXT NOT NULL, field TEXT NOT NULL, data BLOB NOT NULL,
                                  PRIMARY KEY (id, field));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class OrgStore:
    def __init__(self, schema: Schema, path: Path | None = None, clock: Callable[[], datetime] | None = None):
        self.schema = schema
        self.lock = threading.RLock()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.automation_enabled = True
        self._records: dict[str, dict[str, Record]] = {obj.name: {} for obj in schema}
        self._object_of: dict[str, str] = {}
        self._unique: dict[tuple[str, str], dict[str, str]] = {}
        # Reverse indexes parent id -> child ids for the lookups that roll-ups and Files plumbing follow.
        self._children: dict[tuple[str, str], dict[str, set[str]]] = {pair: {} for pair in automation.INDEXED_LOOKUPS}
        self._seq: dict[str, int] = {}
        self._unique_cache: dict[str, list[FieldDef]] = {}
        self._journal: list[tuple[str, Record | None]] | None = None
        self._pending_blobs: dict[tuple[str, str], bytes] = {}
        self._dirty: set[str] = set()
        self._memory_blobs: dict[tuple[str, str], bytes] = {}
        self._memory_meta: dict[str, str] = {}
        self._db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA_SQL)
            self._load()

    # ------------------------------------------------------------------ reading

    def rows(self, sobject: str) -> Iterable[Record]:
        return self._records.get(sobject, {}).values()

    def get(self, record_id: str) -> Record | None:
        normal = ids.normalize(record_id)
        if normal is None:
            return None
        name = self._object_of.get(normal)
        return None if name is None else self._records[name][normal]

    def object_of(self, record_id: str) -> str | None:
        normal = ids.normalize(record_id)
        return None if normal is None else self._object_of.get(normal)

    def find_by(self, sobject: str, field_name: str, value: str) -> list[Record]:
        """Live records whose `field_name` equals `value` (case-insensitive, as external ids match)."""
        index = self._unique.get((sobject, field_name.lower()))
        if index is not None:
            rid = index.get(value.lower())
            rec = None if rid is None else self._records[sobject].get(rid)
            return [rec] if rec is not None and not rec.get("IsDeleted") else []
        lowered = value.lower()
        return [
            r
            for r in self._records[sobject].values()
            if not r.get("IsDeleted") and isinstance(r.get(field_name), str) and r[field_name].lower() == lowered
        ]

    def children_of(self, sobject: str, field_name: str, parent_id: str) -> list[Record]:
        """Live `sobject` records whose `field_name` points at `parent_id` (only for indexed lookups)."""
        index = self._children[(sobject, field_name)]
        rows = self._records[sobject]
        return [rows[rid] for rid in index.get(parent_id, ()) if not rows[rid].get("IsDeleted")]

    def count(self, sobject: str) -> int:
        return len(self._records.get(sobject, {}))

    def blob(self, record_id: str, field_name: str) -> bytes | None:
        pending = self._pending_blobs.get((record_id, field_name))
        if pending is not None:
            return pending
        if self._db is None:
            return self._memory_blobs.get((record_id, field_name))
        row = self._db.execute("SELECT data FROM blobs WHERE id = ? AND field = ?", (record_id, field_name)).fetchone()
        return None if row is None else bytes(row[0])

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Atomic unit: on exception every change made inside is undone. Nests as a savepoint."""
        with self.lock:
            outer = self._journal is None
            if outer:
                self._journal = []
            assert self._journal is not None
            mark = len(self._journal)
            blobs_before = dict(self._pending_blobs)
            try:
                yield
            except BaseException:
                self._rollback_to(mark)
                self._pending_blobs = blobs_before
                if outer:
                    self._journal = None
                    self._dirty.clear()
                raise
            if outer:
                self._journal = None
                self._flush()

    def _rollback_to(self, mark: int) -> None:
        assert self._journal is not None
        while len(self._journal) > mark:
            rid, before = self._journal.pop()
            name = self._object_of[rid]
            current = self._records[name].get(rid)
            if current is not None:
                self._unindex(name, current)
            if before is None:
                self._records[name].pop(rid, None)
                del self._object_of[rid]
            else:
                self._records[name][rid] = before
                self._index(name, before)

    def _remember(self, rid: str, before: Record | None) -> None:
        if self._journal is None:
            raise RuntimeError("store mutations must run inside store.transaction()")
        self._journal.append((rid, None if before is None else dict(before)))
        self._dirty.add(rid)

    def _flush(self) -> None:
        if self._db is None:
            self._memory_blobs.update(self._pending_blobs)
            self._pending_blobs.clear()
            self._dirty.clear()
            return
        rows = []
        for rid in self._dirty:
            name = self._object_of.get(rid)
            if name is not None:
                rows.append((rid, name, json.dumps(self._records[name][rid], separators=(",", ":"))))
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR REPLACE INTO records (id, sobject, data) VALUES (?, ?, ?)", rows)
        self._db.executemany(
            "INSERT OR REPLACE INTO blobs (id, field, data) VALUES (?, ?, ?)",
            [(rid, fname, data) for (rid, fname), data in self._pending_blobs.items()],
        )
        self._db.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            [(f"seq:{prefix}", str(n)) for prefix, n in self._seq.items()],
        )
        self._db.execute("COMMIT")
        self._dirty.clear()
        self._pending_blobs.clear()

    # ------------------------------------------------------------------ writing

    def insert(
        self,
        sobject: str,
        values: dict[str, Any],
        user_id: str | None = None,
        *,
        from_csv: bool = False,
        system: bool = False,
    ) -> Record:
        obj = self._object(sobject)
        if not obj.createable and not system:
            raise ApiError(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be inserted: {obj.name}")
        fields = self._coerce_all(obj, values, creating=True, from_csv=from_csv, system=system)
        blobs = _split_blobs(obj, fields)
        now = format_datetime(self.clock())
        user = user_id or self.default_user_id()
        record: Record = {"Id": self._next_id(obj), "IsDeleted": False}
        for f in obj.fields.values():
            if f.type == "boolean" and f.name not in record:
                record[f.name] = bool(f.default)
            elif f.default is not None and f.createable:
                record[f.name] = f.default
        record.update(fields)
        for fname, data in blobs.items():
            length_field = automation.blob_length_field(obj.name, fname)
            if length_field:
                record[length_field] = len(data)
        if obj.field("OwnerId") is not None and record.get("OwnerId") is None and user is not None:
            record["OwnerId"] = user
        record.update(CreatedDate=now, LastModifiedDate=now, SystemModstamp=now)
        if user is not None:
            record.update(CreatedById=user, LastModifiedById=user)
        for f in obj.fields.values():
            if f.auto_number:
                record[f.name] = automation.next_auto_number(self, obj, f)
        automation.before_write(self, obj, record, None)
        self._check_required(obj, record)
        self._check_references(obj, fields)
        self._check_unique(obj, record, None)
        self._remember(record["Id"], None)
        self._records[obj.name][record["Id"]] = record
        self._object_of[record["Id"]] = obj.name
        self._index(obj.name, record)
        for fname, data in blobs.items():
            self.put_blob(record["Id"], fname, data)
        automation.after_write(self, obj, record, None)
        return record

    def update(
        self,
        sobject: str | None,
        record_id: str,
        values: dict[str, Any],
        user_id: str | None = None,
        *,
        from_csv: bool = False,
        system: bool = False,
    ) -> Record:
        current = self._require_live(record_id, sobject)
        obj = self._object(self._object_of[current["Id"]])
        fields = self._coerce_all(obj, values, creating=False, from_csv=from_csv, system=system)
        blobs = _split_blobs(obj, fields)
        before = dict(current)
        updated = {**current, **fields}
        for fname, data in blobs.items():
            length_field = automation.blob_length_field(obj.name, fname)
            if length_field:
                updated[length_field] = len(data)
        now = format_datetime(self.clock())
        updated.update(LastModifiedDate=now, SystemModstamp=now)
        user = user_id or self.default_user_id()
        if user is not None:
            updated["LastModifiedById"] = user
        automation.before_write(self, obj, updated, before)
        self._check_required(obj, updated)
        self._check_references(obj, fields)
        self._check_unique(obj, updated, current["Id"])
        self._remember(current["Id"], before)
        self._unindex(obj.name, current)
        self._records[obj.name][current["Id"]] = updated
        self._index(obj.name, updated)
        for fname, data in blobs.items():
            self.put_blob(updated["Id"], fname, data)
        automation.after_write(self, obj, updated, before)
        return updated

    def touch(self, record_id: str, values: dict[str, Any]) -> None:
        """Set derived fields of another record (roll-ups); no validation, but journalled."""
        current = self.get(record_id)
        if current is None:
            return
        name = self._object_of[current["Id"]]
        self._remember(current["Id"], current)
        updated = {**current, **values, "SystemModstamp": format_datetime(self.clock())}
        self._unindex(name, current)
        self._records[name][current["Id"]] = updated
        self._index(name, updated)

    def delete(self, record_id: str, sobject: str | None = None) -> None:
        current = self._require_live(record_id, sobject)
        obj = self._object(self._object_of[current["Id"]])
        if not obj.deletable:
            raise ApiError(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be deleted: {obj.name}")
        self._remember(current["Id"], current)
        self._unindex(obj.name, current)
        deleted = {**current, "IsDeleted": True, "SystemModstamp": format_datetime(self.clock())}
        self._records[obj.name][current["Id"]] = deleted
        # Master-detail children go with their parent; plain lookups to it are cleared, as in Salesforce.
        for child in obj.children.values():
            child_obj = self.schema.get(child.child_sobject)
            field_def = child_obj.field(child.field) if child_obj else None
            if child_obj is None or field_def is None:
                continue
            for row in list(self._records[child_obj.name].values()):
                if row.get(field_def.name) != current["Id"] or row.get("IsDeleted"):
                    continue
                if field_def.cascade_delete:
                    self.delete(row["Id"])
                elif field_def.nillable:
                    self.touch(row["Id"], {field_def.name: None})

    def put_blob(self, record_id: str, field_name: str, data: bytes) -> None:
        if self._journal is None:
            raise RuntimeError("store mutations must run inside store.transaction()")
        self._pending_blobs[(record_id, field_name)] = data

    # ------------------------------------------------------------------ helpers

    def default_user_id(self) -> str | None:
        for row in self._records["User"].values():
            return str(row["Id"])
        return None

    def _object(self, name: str) -> ObjectDef:
        obj = self.schema.get(name)
        if obj is None:
            raise ApiError(404, "NOT_FOUND", f"The requested resource does not exist: sObject type '{name}'")
        return obj

    def _require_live(self, record_id: str, sobject: str | None) -> Record:
        normal = ids.normalize(record_id)
        if normal is None:
            raise ApiError(400, "MALFORMED_ID", f"malformed id {record_id}")
        current = self.get(normal)
        if current is None or (sobject is not None and self._object_of[normal].lower() != sobject.lower()):
            raise not_found()
        if current.get("IsDeleted"):
            raise ApiError(400, "ENTITY_IS_DELETED", "entity is deleted", [])
        return current

    def _coerce_all(
        self, obj: ObjectDef, values: dict[str, Any], *, creating: bool, from_csv: bool, system: bool
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        refused = []
        for key, value in values.items():
            if key == "attributes" or (key == "Id" and not creating):
                continue
            f = obj.field(key)
            if f is None:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key])
            allowed = f.createable if creating else f.updateable
            if not allowed and not system:
                refused.append(f.name)
                continue
            if f.type == "base64":
                out[f.name] = _decode_blob(f, value)
                continue
            out[f.name] = coerce(f, value, from_csv=from_csv)
        if refused:
            raise ApiError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(refused)}. Please check the security settings of "
                "this field and verify that it is read/write for your profile or permission set.",
                refused,
            )
        return out

    def _check_required(self, obj: ObjectDef, record: Record) -> None:
        missing = [
            f.name
            for f in obj.fields.values()
            if not f.nillable and f.createable and f.type != "boolean" and record.get(f.name) is None
        ]
        if missing:
            raise ApiError(
                400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
            )

    def _check_references(self, obj: ObjectDef, fields: dict[str, Any]) -> None:
        for name, value in fields.items():
            f = obj.fields[name.lower()]
            if f.type != "reference" or value is None:
                continue
            target_name = self._object_of.get(value)
            target = None if target_name is None else self._records[target_name][value]
            if target is None or target.get("IsDeleted"):
                raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
            if target_name not in f.reference_to:
                raise ApiError(
                    400,
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"{f.label or f.name}: id value of incorrect type: {value}",
                    [f.name],
                )

    def _unique_fields(self, obj: ObjectDef) -> list[FieldDef]:
        cached = self._unique_cache.get(obj.name)
        if cached is None:
            cached = [f for f in obj.fields.values() if (f.unique or f.external_id) and f.type != "id"]
            self._unique_cache[obj.name] = cached
        return cached

    def schema_changed(self) -> None:
        """Forget what was derived from the schema; called after an admin adds, renames or deletes a field."""
        self._unique_cache.clear()

    def _check_unique(self, obj: ObjectDef, record: Record, own_id: str | None) -> None:
        for f in self._unique_fields(obj):
            value = record.get(f.name)
            if not f.unique or not isinstance(value, str):
                continue
            other = self._unique.get((obj.name, f.name.lower()), {}).get(value.lower())
            if other is not None and other != own_id:
                raise ApiError(
                    400,
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {f.name} duplicates value on record with id: {other}",
                    [f.name],
                )

    def _index(self, name: str, record: Record) -> None:
        for (child, fname), index in self._children.items():
            if child == name and isinstance(record.get(fname), str):
                index.setdefault(record[fname], set()).add(record["Id"])
        if record.get("IsDeleted"):
            return
        obj = self.schema.get(name)
        assert obj is not None
        for f in self._unique_fields(obj):
            value = record.get(f.name)
            if f.unique and isinstance(value, str):
                self._unique.setdefault((name, f.name.lower()), {})[value.lower()] = record["Id"]

    def _unindex(self, name: str, record: Record) -> None:
        for (child, fname), children in self._children.items():
            if child == name and isinstance(record.get(fname), str):
                children.get(record[fname], set()).discard(record["Id"])
        obj = self.schema.get(name)
        assert obj is not None
        for f in self._unique_fields(obj):
            value = record.get(f.name)
            index = self._unique.get((name, f.name.lower()))
            if index is not None and isinstance(value, str) and index.get(value.lower()) == record["Id"]:
                del index[value.lower()]

    def _next_id(self, obj: ObjectDef) -> str:
        n = self._seq.get(obj.key_prefix, 0) + 1
        self._seq[obj.key_prefix] = n
        return ids.make_id(obj.key_prefix, n)

    def skip_to(self, key_prefix: str, sequence: int) -> None:
        """Make the next id with `key_prefix` the `sequence`-th, unless ids beyond it were issued already."""
        self._seq[key_prefix] = max(self._seq.get(key_prefix, 0), sequence - 1)

    def next_sequence(self, key: str) -> int:
        n = self._seq.get(key, 0) + 1
        self._seq[key] = n
        return n

    def _load(self) -> None:
        assert self._db is not None
        for key, value in self._db.execute("SELECT key, value FROM meta WHERE key LIKE 'seq:%'"):
            self._seq[key[4:]] = int(value)
        for rid, name, data in self._db.execute("SELECT id, sobject, data FROM records"):
            if name not in self._records:
                continue
            # Interning keys and short values (ids, picklist values, dates) shared by many records keeps a
            # large org's memory close to what it was when it was written.
            record = {
                intern(k): intern(v) if isinstance(v, str) and len(v) <= 40 else v for k, v in json.loads(data).items()
            }
            self._records[name][rid] = record
            self._object_of[rid] = name
            self._index(name, record)

    # ------------------------------------------------------------------ metadata persistence

    def get_meta(self, key: str) -> str | None:
        if self._db is None:
            return self._memory_meta.get(key)
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        if self._db is None:
            self._memory_meta[key] = value
            return
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def rename_field_data(self, sobject: str, old: str, new: str) -> None:
        """Carry the values of a renamed field over (Setup keeps data when a field's API name changes)."""
        with self.transaction():
            for rid, record in list(self._records[sobject].items()):
                if old in record:
                    self._remember(rid, record)
                    updated = dict(record)
                    updated[new] = updated.pop(old)
                    self._records[sobject][rid] = updated

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _decode_blob(f: FieldDef, value: Any) -> bytes:
    if not isinstance(value, str):
        raise ApiError(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of base64 for field {f.name}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "JSON_PARSER_ERROR", f"Illegal base64 value for field {f.name}") from None


def _split_blobs(obj: ObjectDef, fields: dict[str, Any]) -> dict[str, bytes]:
    """Remove blob values from `fields` (they live in the blobs table, not in the record)."""
    return {name: fields.pop(name) for name in [n for n in fields if obj.fields[n.lower()].type == "base64"]}
