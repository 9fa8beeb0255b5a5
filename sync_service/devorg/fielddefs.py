"""Short constructors for field definitions, so the object catalogue reads like a Setup page."""

from __future__ import annotations

from typing import Any

from sync_service.devorg.schema import FieldDef, ObjectDef

CURRENCIES = ("USD", "EUR", "GBP", "JPY", "AUD", "CAD", "CHF")


def text(name: str, length: int = 255, **kw: Any) -> FieldDef:
    return FieldDef(name, "string", length=length, **kw)


def longtext(name: str, length: int = 32000, **kw: Any) -> FieldDef:
    return FieldDef(name, "textarea", length=length, **kw)


def email(name: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "email", length=80, **kw)


def phone(name: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "phone", length=40, **kw)


def url(name: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "url", length=255, **kw)


def pick(name: str, values: tuple[str, ...], restricted: bool = False, **kw: Any) -> FieldDef:
    return FieldDef(name, "picklist", length=255, picklist=values, restricted_picklist=restricted, **kw)


def check(name: str, default: bool = False, **kw: Any) -> FieldDef:
    return FieldDef(name, "boolean", nillable=False, default=default, **kw)


def money(name: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "currency", precision=18, scale=2, **kw)


def number(name: str, scale: int = 2, **kw: Any) -> FieldDef:
    return FieldDef(name, "double", precision=18, scale=scale, **kw)


def percent(name: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "percent", precision=5, scale=2, **kw)


def integer(name: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "int", precision=9, **kw)


def day(name: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "date", **kw)


def moment(name: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "datetime", **kw)


def blob(name: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "base64", length=0, filterable=False, **kw)


def ref(name: str, *targets: str, rel: str | None = None, **kw: Any) -> FieldDef:
    if rel is None:
        if name.endswith("__c"):
            rel = name[:-3] + "__r"
        elif name.endswith("Id"):
            rel = name[:-2]
        else:
            rel = name
    return FieldDef(name, "reference", length=18, reference_to=targets, relationship_name=rel, **kw)


def readonly(f: FieldDef, calculated: bool = True) -> FieldDef:
    from dataclasses import replace

    return replace(f, createable=False, updateable=False, calculated=calculated)


def required(f: FieldDef) -> FieldDef:
    from dataclasses import replace

    return replace(f, nillable=False)


def auto_number(name: str) -> FieldDef:
    return FieldDef(
        name,
        "string",
        length=30,
        createable=False,
        updateable=False,
        auto_number=True,
        nillable=False,
        name_field=name == "Name",
    )


def sobject(
    name: str,
    key_prefix: str,
    *fields: FieldDef,
    label: str = "",
    plural: str = "",
    owner: bool = True,
    currency: bool = True,
    name_field: FieldDef | None = None,
    createable: bool = True,
    system_fields: bool = True,
) -> ObjectDef:
    """An object with the system fields every Salesforce record carries."""
    all_fields: list[FieldDef] = [
        FieldDef("Id", "id", length=18, nillable=False, createable=False, updateable=False, unique=True)
    ]
    if system_fields:
        all_fields.append(readonly(check("IsDeleted"), calculated=False))
    if name_field is not None:
        all_fields.append(name_field)
    all_fields.extend(fields)
    if owner:
        all_fields.append(ref("OwnerId", "User", rel="Owner", label="Owner ID"))
    if currency:
        all_fields.append(
            pick("CurrencyIsoCode", CURRENCIES, restricted=True, default="USD", label="Currency ISO Code")
        )
    if system_fields:
        all_fields.extend(
            [
                readonly(moment("CreatedDate", nillable=False), calculated=False),
                readonly(ref("CreatedById", "User", rel="CreatedBy", nillable=False), calculated=False),
                readonly(moment("LastModifiedDate", nillable=False), calculated=False),
                readonly(ref("LastModifiedById", "User", rel="LastModifiedBy", nillable=False), calculated=False),
                readonly(moment("SystemModstamp", nillable=False), calculated=False),
            ]
        )
    return ObjectDef(
        name=name,
        key_prefix=key_prefix,
        label=label,
        label_plural=plural,
        createable=createable,
        updateable=createable,
        deletable=createable,
        fields={f.name.lower(): f for f in all_fields},
    )


def renewal_control_fields() -> list[FieldDef]:
    """The fields a vendor adds to its contract object for the rep portal's controls (the service's small
    unmanaged package, like the Task's event key): hold, status flags, price adjustment and override."""
    return [
        check("Renewal_Reminders_Held__c", label="Renewal Reminders Held"),
        text("Renewal_Flags__c", 255, label="Renewal Flags"),
        percent("Renewal_Price_Adjustment__c", label="Renewal Price Adjustment (%)"),
        money("Renewal_Price_Override__c", label="Renewal Price Override"),
        text("Renewal_Override_Reason__c", 255, label="Renewal Override Reason"),
    ]
