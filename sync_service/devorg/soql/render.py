"""Query results in Salesforce's REST shape: ``attributes`` first, then every selected field in SELECT order,
parent paths nested under their relationship name, child subqueries as nested query results.

The nesting is worked out once per query (`Shape`); `compile_shape` turns it into a per-run render function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter, methodcaller
from typing import Any

from sync_service.devorg.soql.getters import RunContext, leaf_reader
from sync_service.devorg.soql.model import ChildQuery, FieldRef, Hop, OutputField

Render = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class ParentShape:
    hop: Hop
    shape: Shape


@dataclass
class Shape:
    entries: list[tuple[str, FieldRef | ParentShape | ChildQuery]] = field(default_factory=list)

    def parent(self, hop: Hop) -> Shape:
        for key, entry in self.entries:
            if key == hop.relationship and isinstance(entry, ParentShape):
                return entry.shape
        nested = ParentShape(hop, Shape())
        self.entries.append((hop.relationship, nested))
        return nested.shape


def build_shape(outputs: list[OutputField]) -> Shape:
    root = Shape()
    for out in outputs:
        if out.child is not None:
            root.entries.append((out.child.key, out.child))
            continue
        assert out.ref is not None
        level = root
        for hop in out.ref.hops:
            level = level.parent(hop)
        level.entries.append((out.ref.name, out.ref))
    return root


def compile_shape(
    shape: Shape,
    sobject: str | None,
    ctx: RunContext,
    children: dict[str, Callable[[dict[str, Any]], Any]],
) -> Render:
    """A function rendering one record. `sobject` None: the object is read from the record's id (polymorphic).
    `children` maps a subquery's key to a function giving its nested result for a parent record."""
    prefix = f"/services/data/v{ctx.api_version}/sobjects/"
    # (key, stored field name, None) copies a stored value; (key, "", fn) computes one (parents, subqueries,
    # checkboxes, blobs). A plain loop beats map/zip constructions here on CPython 3.11.
    plan: list[tuple[str, str, Callable[[dict[str, Any]], Any] | None]] = []
    for key, entry in shape.entries:
        if isinstance(entry, ChildQuery):
            plan.append((key, "", children[key]))
        elif isinstance(entry, ParentShape):
            plan.append((key, "", _parent(entry, ctx, children)))
        elif entry.type == "base64":
            plan.append((key, "", _blob_url(prefix, sobject, entry.name, ctx)))
        elif entry.type == "boolean" or entry.polymorphic:
            plan.append((key, "", leaf_reader(entry, ctx)))
        else:
            plan.append((key, entry.name, None))
    attributes = _attributes(prefix, sobject, ctx)

    def render(record: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": attributes(record)}
        get = record.get
        for key, name, fn in plan:
            out[key] = get(name) if fn is None else fn(record)
        return out

    return render


def _attributes(prefix: str, sobject: str | None, ctx: RunContext) -> Callable[[dict[str, Any]], dict[str, str]]:
    if sobject is not None:
        base = f"{prefix}{sobject}/"
        return lambda record: {"type": sobject, "url": f"{base}{record.get('Id')}"}
    object_of = ctx.object_of

    def polymorphic(record: dict[str, Any]) -> dict[str, str]:
        obj = object_of(record)
        return {"type": obj or "", "url": f"{prefix}{obj}/{record.get('Id')}"}

    return polymorphic


def _parent(entry: ParentShape, ctx: RunContext, children: dict[str, Callable[[dict[str, Any]], Any]]) -> Any:
    ref_field = entry.hop.field
    sub = compile_shape(entry.shape, entry.hop.target, ctx, children)
    get = ctx.source.get
    # Many rows share a parent (contracts of one account): render each parent once per run and share the
    # dict. Safe because a parent's rendering depends only on that parent record.
    rendered: dict[str, dict[str, Any] | None] = {}

    def parent(record: dict[str, Any]) -> dict[str, Any] | None:
        parent_id = record.get(ref_field)
        if parent_id is None:
            return None
        try:
            return rendered[parent_id]
        except KeyError:
            found = get(parent_id)
            rendered[parent_id] = result = sub(found) if found is not None else None
            return result

    return parent


def _blob_url(prefix: str, sobject: str | None, name: str, ctx: RunContext) -> Callable[[dict[str, Any]], str]:
    # Blobs are never inline in query results: Salesforce gives the REST path to download them from.
    object_of = ctx.object_of
    return lambda record: f"{prefix}{sobject or object_of(record)}/{record.get('Id')}/{name}"


def compile_flat(
    outputs: list[OutputField], sobject: str | None, ctx: RunContext
) -> Callable[[dict[str, Any]], list[Any]]:
    """A function giving one stored record's row as ``flatten(render(record), paths)`` would (Bulk CSV rows),
    read straight from the record and its parents without building the nested REST result: each column reads
    its field with the same leaf reading as `compile_shape`, through the same parent look-ups (one per parent
    per run). Only for queries without subqueries."""
    prefix = f"/services/data/v{ctx.api_version}/sobjects/"
    get = ctx.source.get
    getters: list[Callable[[dict[str, Any]], Any]] = []
    parents: dict[tuple[Hop, ...], Callable[[dict[str, Any]], dict[str, Any] | None]] = {}

    def parent_of(hops: tuple[Hop, ...]) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
        if hops in parents:
            return parents[hops]
        through = parent_of(hops[:-1]) if len(hops) > 1 else None
        ref_field = hops[-1].field
        found: dict[Any, dict[str, Any] | None] = {}

        def parent(record: dict[str, Any]) -> dict[str, Any] | None:
            holder = through(record) if through is not None else record
            if holder is None:
                return None
            parent_id = holder.get(ref_field)
            if parent_id is None:
                return None
            try:
                return found[parent_id]
            except KeyError:
                found[parent_id] = result = get(parent_id)
                return result

        parents[hops] = parent
        return parent

    for out in outputs:
        ref = out.ref
        assert ref is not None, "compile_flat takes no subqueries"
        owner = ref.hops[-1].target if ref.hops else sobject
        leaf: Callable[[dict[str, Any]], Any]
        if ref.type == "base64":
            leaf = _blob_url(prefix, owner, ref.name, ctx)
        elif ref.type == "boolean" or ref.polymorphic:
            leaf = leaf_reader(ref, ctx)
        else:
            leaf = methodcaller("get", ref.name)
        if not ref.hops:
            getters.append(leaf)
            continue
        getters.append(_through(parent_of(ref.hops), leaf))

    return lambda record: [read(record) for read in getters]


def _through(
    parent: Callable[[dict[str, Any]], dict[str, Any] | None], leaf: Callable[[dict[str, Any]], Any]
) -> Callable[[dict[str, Any]], Any]:
    def read(record: dict[str, Any]) -> Any:
        found = parent(record)
        return None if found is None else leaf(found)

    return read


def flattener(columns: list[tuple[str, ...]]) -> Callable[[dict[str, Any]], list[Any]]:
    """`flatten` for these columns, compiled once for many records: every rendered record holds each top-level
    key, so they are read with one `itemgetter` call (in C) and only parent paths are followed in Python. A
    record without one of the keys is flattened the plain way."""
    if not columns:
        return lambda record: []
    top = [path[0] for path in columns]
    get_top = itemgetter(*top)
    single = len(top) == 1
    nested = [(i, path[1:]) for i, path in enumerate(columns) if len(path) > 1]

    def flat(record: dict[str, Any]) -> list[Any]:
        try:
            row = [get_top(record)] if single else list(get_top(record))
        except KeyError:
            return flatten(record, columns)
        for i, rest in nested:
            value = row[i]
            for key in rest:
                if not isinstance(value, dict):
                    value = None
                    break
                value = value.get(key)
            row[i] = value
        return row

    return flat


def flatten(record: dict[str, Any], columns: list[tuple[str, ...]]) -> list[Any]:
    """Values of a rendered record for flat column paths (Bulk CSV); None where a parent is null."""
    values: list[Any] = []
    for path in columns:
        value: Any = record
        for key in path:
            if not isinstance(value, dict):
                value = None
                break
            value = value.get(key)
        values.append(value)
    return values
