"""Binding names to the schema: objects, field paths (parents, polymorphic lookups, aliases) and functions.

Unknown names fail the way Salesforce fails them: INVALID_TYPE for objects and child relationships,
INVALID_FIELD for columns and parent relationships, each with the caret at the name.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync_service.devorg.errors import ApiError, invalid_field, invalid_type, malformed_query, soql_position_message
from sync_service.devorg.schema import FieldDef, ObjectDef, Schema
from sync_service.devorg.soql.dates import DATE_FUNCTIONS
from sync_service.devorg.soql.model import Aggregate, DateFn, FieldRef, Hop, Operand
from sync_service.devorg.soql.syntax import Call, Expr, Name

_REFER = "Please reference your WSDL or the describe call for the appropriate names."
AGGREGATE_FUNCTIONS = frozenset({"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"})
# Functions that only change how a value is displayed; the stand-in has no labels or currency rates.
PASSTHROUGH_FUNCTIONS = frozenset({"TOLABEL", "FORMAT", "CONVERTCURRENCY"})
# Fields every polymorphic lookup offers whatever the target (the "Name" pseudo-object of Salesforce).
_POLYMORPHIC_FIELDS = {"id": ("Id", "id"), "name": ("Name", "string"), "type": ("Type", "picklist")}


def _filterable(fdef: FieldDef) -> bool:
    return fdef.filterable and fdef.type not in ("textarea", "base64")


def positioned(soql: str, pos: int, text: str) -> str:
    return soql_position_message(soql, pos + 1, text)


def no_such_column(soql: str, pos: int, written: str, entity: str) -> ApiError:
    return invalid_field(
        positioned(
            soql,
            pos,
            f"No such column '{written}' on entity '{entity}'. If you are attempting to use a custom field, be "
            f"sure to append the '__c' after the custom field name. {_REFER}",
        )
    )


def bad_relationship(soql: str, pos: int, written: str) -> ApiError:
    return invalid_field(
        positioned(
            soql,
            pos,
            f"Didn't understand relationship '{written}' in field path. If you are attempting to use a custom "
            f"relationship, be sure to append the '__r' after the custom relationship name. {_REFER}",
        )
    )


def bad_child_relationship(soql: str, pos: int, written: str) -> ApiError:
    return invalid_type(
        positioned(
            soql,
            pos,
            f"Didn't understand relationship '{written}' in FROM part of query call. If you are attempting to use "
            f"a custom relationship, be sure to append the '__r' after the custom relationship name. {_REFER}",
        )
    )


def malformed_at(soql: str, pos: int, text: str) -> ApiError:
    return malformed_query(positioned(soql, pos, text))


def resolve_object(schema: Schema, name: Name, soql: str) -> ObjectDef:
    obj = schema.get(name.text)
    if obj is None or not obj.queryable:
        raise invalid_type(
            positioned(
                soql,
                name.pos,
                f"sObject type '{name.text}' is not supported. If you are attempting to use a custom object, be "
                f"sure to append the '__c' after the entity name. {_REFER}",
            )
        )
    return obj


@dataclass(frozen=True)
class Scope:
    """What bare names mean inside one SELECT: fields of `obj`, optionally prefixed by its alias or name."""

    schema: Schema
    obj: ObjectDef
    alias: str | None
    soql: str

    def field(self, name: Name) -> FieldRef:
        parts = name.parts
        if len(parts) > 1 and self._is_self_prefix(parts[0]):
            parts = parts[1:]
        current: ObjectDef = self.obj
        hops: list[Hop] = []
        for i, part in enumerate(parts[:-1]):
            ref = current.parent_relationship(part)
            if ref is None or ref.relationship_name is None:
                raise bad_relationship(self.soql, name.pos, part)
            if ref.polymorphic:
                if i != len(parts) - 2:
                    # Salesforce only goes past a polymorphic lookup with TYPEOF.
                    raise bad_relationship(self.soql, name.pos, parts[i + 1])
                hops.append(Hop(ref.name, ref.relationship_name, None))
                return self._polymorphic_field(tuple(hops), ref, parts[-1], name)
            target = self.schema.get(ref.reference_to[0]) if ref.reference_to else None
            if target is None:
                raise bad_relationship(self.soql, name.pos, part)
            hops.append(Hop(ref.name, ref.relationship_name, target.name))
            current = target
        fdef = current.field(parts[-1])
        if fdef is None:
            raise no_such_column(self.soql, name.pos, parts[-1], current.name)
        return FieldRef(tuple(hops), fdef.name, fdef.type, current.name, name.pos, fdef.picklist, _filterable(fdef))

    def _is_self_prefix(self, first: str) -> bool:
        lowered = first.lower()
        if self.alias is not None and lowered == self.alias.lower():
            return True
        return lowered == self.obj.name.lower() and self.obj.parent_relationship(first) is None

    def _polymorphic_field(self, hops: tuple[Hop, ...], ref: FieldDef, written: str, name: Name) -> FieldRef:
        common = _POLYMORPHIC_FIELDS.get(written.lower())
        if common is not None:
            return FieldRef(hops, common[0], common[1], None, name.pos)
        for target_name in ref.reference_to:
            target = self.schema.get(target_name)
            fdef = target.field(written) if target is not None else None
            if fdef is not None:
                return FieldRef(hops, fdef.name, fdef.type, None, name.pos, fdef.picklist, _filterable(fdef))
        raise no_such_column(self.soql, name.pos, written, "Name")

    # --- expressions: a field, a date function, an aggregate, or a display function ---

    def operand(self, expr: Expr, *, aggregates: bool) -> Operand:
        if isinstance(expr, Name):
            return self.field(expr)
        fn = expr.name
        if fn in PASSTHROUGH_FUNCTIONS:
            if not isinstance(expr.arg, Name):
                raise malformed_at(self.soql, expr.pos, f"{fn.lower()}() takes one field")
            return self.field(expr.arg)
        if fn in DATE_FUNCTIONS:
            return self.date_function(expr)
        if fn in AGGREGATE_FUNCTIONS:
            if not aggregates:
                raise malformed_at(self.soql, expr.pos, f"Aggregate functions are not allowed here: {expr.text}")
            return self.aggregate(expr)
        raise malformed_at(self.soql, expr.pos, f"unexpected token: '{expr.text.split('(')[0]}'")

    def date_function(self, expr: Call) -> DateFn:
        arg = expr.arg
        local = False
        if isinstance(arg, Call) and arg.name == "CONVERTTIMEZONE":
            arg, local = arg.arg, True
        if not isinstance(arg, Name):
            raise malformed_at(self.soql, expr.pos, f"{expr.name} takes one date or dateTime field")
        ref = self.field(arg)
        if ref.type not in ("date", "datetime") or ((expr.name == "DAY_ONLY" or local) and ref.type != "datetime"):
            raise invalid_field(
                positioned(self.soql, arg.pos, f"{expr.name}() is not valid on field '{ref.name}' of type {ref.type}")
            )
        return DateFn(expr.name, ref, local, expr.pos, expr.text)

    def aggregate(self, expr: Call) -> Aggregate:
        fn = expr.name
        if expr.arg is None:
            if fn != "COUNT":
                raise malformed_at(self.soql, expr.pos, f"unexpected token: '{expr.text}'")
            return Aggregate(fn, None, expr.pos, expr.text)
        arg: FieldRef | DateFn
        if isinstance(expr.arg, Call) and expr.arg.name in DATE_FUNCTIONS:
            arg = self.date_function(expr.arg)
        elif isinstance(expr.arg, Name):
            arg = self.field(expr.arg)
        else:
            raise malformed_at(self.soql, expr.pos, f"unexpected token: '{expr.text}'")
        numeric = arg.type in ("int", "double", "currency", "percent")
        if (
            (fn in ("SUM", "AVG") and not numeric)
            or arg.type in ("textarea", "base64", "multipicklist")
            or (fn in ("MIN", "MAX") and arg.type in ("boolean", "id", "reference"))
        ):
            raise malformed_at(self.soql, expr.pos, f"field {arg.name} does not support aggregate operator {fn}")
        return Aggregate(fn, arg, expr.pos, expr.text)
