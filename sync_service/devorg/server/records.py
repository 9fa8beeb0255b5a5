"""DML as the REST handlers perform it: validation rules first, then the store; and record rendering."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sync_service.devorg.errors import ApiError
from sync_service.devorg.schema import ObjectDef

if TYPE_CHECKING:
    from sync_service.devorg.org import Org
    from sync_service.devorg.store import Record


def object_or_404(org: Org, name: str) -> ObjectDef:
    obj = org.schema.get(name)
    if obj is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return obj


def check_validation_rules(org: Org, sobject: str, values: dict[str, Any]) -> None:
    for rule in org.faults.validation_rules:
        if rule.object.lower() == sobject.lower():
            value = next((v for k, v in values.items() if k.lower() == rule.field.lower()), None)
            if value == rule.equals:
                raise ApiError(400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", rule.message, [])


def create(org: Org, sobject: str, values: dict[str, Any], user_id: str) -> Record:
    if any(k.lower() == "id" for k in values):
        raise ApiError(400, "INVALID_FIELD_FOR_INSERT_UPDATE", "Record ID: cannot specify Id in an insert call", ["Id"])
    check_validation_rules(org, sobject, values)
    return org.store.insert(sobject, values, user_id)


def update(org: Org, sobject: str | None, record_id: str, values: dict[str, Any], user_id: str) -> Record:
    name = sobject or org.store.object_of(record_id) or ""
    current = org.store.get(record_id)
    check_validation_rules(org, name, {**(current or {}), **values})
    return org.store.update(sobject, record_id, values, user_id)


def render(org: Org, obj: ObjectDef, record: Record, version: str, fields: list[str] | None = None) -> dict[str, Any]:
    """A record as GET /sobjects/{Obj}/{id} returns it: attributes, then every (or every asked) field."""
    url = f"/services/data/v{version}/sobjects/{obj.name}/{record['Id']}"
    out: dict[str, Any] = {"attributes": {"type": obj.name, "url": url}}
    wanted = obj.fields.values() if fields is None else [_field(obj, f) for f in fields]
    for f in wanted:
        if f.type == "base64":
            has_blob = org.store.blob(record["Id"], f.name) is not None
            out[f.name] = f"{url}/{f.name}" if has_blob else None
        else:
            out[f.name] = record.get(f.name)
    return out


def _field(obj: ObjectDef, name: str) -> Any:
    f = obj.field(name.strip())
    if f is None:
        raise ApiError(400, "INVALID_FIELD", f"No such column '{name.strip()}' on sobject of type {obj.name}")
    return f
