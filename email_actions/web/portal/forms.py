"""The rep portal's forms, each declared once (WTForms): a contract's controls (status flags, price adjustment,
override price with its reason) and the note of a hold or resume.

A form reads what was posted, says what is wrong beside each field, and shows what was typed again; it never
touches the store: whether a change can be written to Salesforce is decided by the views
(:mod:`email_actions.web.portal.rep_controls`) through the mapping. The CSRF token is checked once for every
POST, by Flask-WTF's ``CSRFProtect`` (``email_actions.web.security``), so these forms don't check it again.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField, TextAreaField
from wtforms.validators import ValidationError

from email_actions.web.posted import strip
from sync_service.store import models

# The rep's status flags: stored (and written to Salesforce) by key, shown by label.
STATUS_FLAGS: dict[str, str] = {
    "warranty_only": "Warranty only",
    "consolidate": "Consolidate",
    "do_not_remind": "Do not remind",
}
MAX_ADJUSTMENT_PCT = Decimal(100)
MAX_OVERRIDE = Decimal(10) ** 15
MAX_REASON_LENGTH = 1000
MAX_NOTE_LENGTH = 500
CENT = Decimal("0.01")


def typed_decimal(raw: str) -> Decimal:
    """A number as a person types it ("5", "-2.5", "7,5", "10 %"); ValueError when it is not one or has more
    than two decimals."""
    text = raw.strip().removesuffix("%").strip().replace(" ", "")
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not value.is_finite():
        raise ValueError("not a number")
    if abs(value) >= MAX_OVERRIDE:
        raise ValueError("too large")
    if value != value.quantize(CENT):
        raise ValueError("too many decimals")
    return value.quantize(CENT)


class TypedDecimalField(StringField):
    """A number as a person types it (:func:`typed_decimal`): ``data`` is a Decimal of two decimals, or None
    when left empty; what was typed is shown again, whether or not it was a number."""

    def __init__(self, label: str, *, invalid: str, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.invalid = invalid

    @property
    def given(self) -> bool:
        """Whether anything was entered (a number or not)."""
        if self.raw_data is not None:
            return bool(self.raw_data and self.raw_data[0].strip())
        return self.data is not None

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = None
        if valuelist and valuelist[0].strip():
            try:
                self.data = typed_decimal(valuelist[0])
            except ValueError:
                raise ValueError(self.invalid) from None  # WTForms shows it as the field's error

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return str(self.data) if self.data is not None else ""


class ControlsForm(FlaskForm):
    """A contract's controls. Show one with :meth:`of` (the contract's values), read a POST with
    ``ControlsForm()``; after :meth:`validate`, :meth:`apply_to` sets them on the contract."""

    class Meta:
        csrf = False  # checked for every POST by CSRFProtect (see the module docstring)

    status_flags = SelectMultipleField(
        "Status flags",
        choices=STATUS_FLAGS,
        default=list,
        invalid_choice_message="Choose only from the status flags listed.",
    )
    price_adjustment_pct = TypedDecimalField(
        "Price adjustment (%)", invalid="Enter a percentage such as 5 or -10, with at most two decimals."
    )
    price_override = TypedDecimalField(
        "Override price", invalid="Enter an amount such as 9500 or 9500.50, with at most two decimals."
    )
    price_override_reason = TextAreaField("Reason for the override", filters=[strip, lambda value: value or None])

    @classmethod
    def of(cls, contract: models.Contract) -> ControlsForm:
        """The form showing the contract's controls as they are (never what a request posted)."""
        return cls(formdata=None, obj=contract)

    def validate_price_adjustment_pct(self, field: TypedDecimalField) -> None:
        if field.data is not None and not -MAX_ADJUSTMENT_PCT <= field.data <= MAX_ADJUSTMENT_PCT:
            raise ValidationError(f"Enter a percentage between -{MAX_ADJUSTMENT_PCT} and {MAX_ADJUSTMENT_PCT}.")

    def validate_price_override(self, field: TypedDecimalField) -> None:
        if field.data is not None and field.data < 0:
            raise ValidationError("Enter an amount of zero or more.")

    def validate_price_override_reason(self, field: TextAreaField) -> None:
        if field.data is not None and len(field.data) > MAX_REASON_LENGTH:
            raise ValidationError(f"Keep the reason under {MAX_REASON_LENGTH} characters.")

    def validate(self, extra_validators: Any = None) -> bool:
        """Each field's own checks, then the pair's: an override price needs its reason, a reason its price."""
        valid = bool(super().validate(extra_validators))
        override, reason = self.price_override, self.price_override_reason
        if reason.errors:
            return valid
        if override.given and reason.data is None:
            reason.errors.append("Give a reason for the override price.")
            return False
        if not override.given and reason.data is not None:
            override.errors.append("Enter the override amount, or clear the reason.")
            return False
        return valid

    def apply_to(self, contract: models.Contract) -> None:
        """Set the validated controls on the contract. Flags the portal does not offer (set in Salesforce) are
        kept as they are."""
        chosen = self.status_flags.data or []
        kept = [flag for flag in contract.status_flags or [] if flag not in STATUS_FLAGS]
        contract.status_flags = kept + [flag for flag in STATUS_FLAGS if flag in chosen]
        contract.price_adjustment_pct = self.price_adjustment_pct.data
        contract.price_override = self.price_override.data
        contract.price_override_reason = self.price_override_reason.data


class NoteForm(FlaskForm):
    """The optional note of a hold or resume, recorded as the audit entry's reason (cut to its length)."""

    class Meta:
        csrf = False  # checked for every POST by CSRFProtect (see the module docstring)

    note = StringField(
        "Note (optional)",
        filters=[strip, lambda value: (value or "")[:MAX_NOTE_LENGTH] or None],
        render_kw={"maxlength": MAX_NOTE_LENGTH},
    )
