"""The rep portal's forms (email_actions.web.portal.forms) on their own: what a rep may type, which message goes
beside which field, what is shown again, and how validated controls land on a contract."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from flask import Flask
from werkzeug.datastructures import MultiDict

from email_actions.web.portal.forms import MAX_NOTE_LENGTH, ControlsForm, NoteForm, typed_decimal
from sync_service.store import models


@pytest.fixture(autouse=True)
def request_context() -> Iterator[None]:
    """Flask-WTF's forms live in a request."""
    with Flask(__name__).test_request_context(method="POST"):
        yield


def posted(**fields: str | list[str]) -> ControlsForm:
    return ControlsForm(formdata=MultiDict(fields))


def shown_beside(form: ControlsForm, name: str) -> str | None:
    """The error the page shows beside the field (its first)."""
    errors = form[name].errors
    return str(errors[0]) if errors else None


@pytest.mark.parametrize(
    ("typed", "value"),
    [("5", "5.00"), ("-2.5", "-2.50"), ("7,5", "7.50"), ("10 %", "10.00"), (" 1 000 ", "1000.00"), ("0.01", "0.01")],
)
def test_numbers_are_read_as_people_type_them(typed: str, value: str) -> None:
    assert typed_decimal(typed) == Decimal(value)


@pytest.mark.parametrize("typed", ["lots", "NaN", "Infinity", "1.234", "1e30", "1,5.2", ""])
def test_what_is_not_a_number_of_two_decimals_is_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        typed_decimal(typed)


def test_valid_controls_read_into_their_types() -> None:
    form = posted(
        status_flags=["do_not_remind", "warranty_only"],
        price_adjustment_pct="-5,5",
        price_override="9000",
        price_override_reason="  Agreed on the call  ",
    )
    assert form.validate(), form.errors
    assert form.status_flags.data == ["do_not_remind", "warranty_only"]
    assert form.price_adjustment_pct.data == Decimal("-5.50")
    assert form.price_override.data == Decimal("9000.00")
    assert form.price_override_reason.data == "Agreed on the call"


def test_empty_controls_are_none() -> None:
    form = posted(price_adjustment_pct=" ", price_override="", price_override_reason="  ")
    assert form.validate(), form.errors
    assert form.status_flags.data == []
    assert (form.price_adjustment_pct.data, form.price_override.data, form.price_override_reason.data) == (
        None,
        None,
        None,
    )


def test_each_error_goes_beside_its_field_and_what_was_typed_is_shown_again() -> None:
    form = posted(status_flags=["vip"], price_adjustment_pct="lots", price_override="-1", price_override_reason="x")
    assert not form.validate()
    assert shown_beside(form, "status_flags") == "Choose only from the status flags listed."
    assert (
        shown_beside(form, "price_adjustment_pct") == "Enter a percentage such as 5 or -10, with at most two decimals."
    )
    assert shown_beside(form, "price_override") == "Enter an amount of zero or more."
    assert shown_beside(form, "price_override_reason") is None
    assert form.price_adjustment_pct._value() == "lots"
    assert form.price_override._value() == "-1"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"price_override": "9000"}, "price_override_reason", "Give a reason for the override price."),
        ({"price_override": "abc"}, "price_override_reason", "Give a reason for the override price."),
        ({"price_override_reason": "alone"}, "price_override", "Enter the override amount, or clear the reason."),
        ({"price_override_reason": "r" * 1001}, "price_override_reason", "Keep the reason under 1000 characters."),
        ({"price_adjustment_pct": "100.01"}, "price_adjustment_pct", "Enter a percentage between -100 and 100."),
    ],
)
def test_the_message_of_each_rule(fields: dict[str, str], field: str, message: str) -> None:
    form = posted(**fields)
    assert not form.validate()
    assert shown_beside(form, field) == message


def test_a_too_long_reason_alone_is_one_error() -> None:
    form = posted(price_override_reason="r" * 1001)
    assert not form.validate()
    assert form.errors == {"price_override_reason": ["Keep the reason under 1000 characters."]}


def test_a_contracts_form_shows_its_stored_controls() -> None:
    contract = models.Contract(
        status_flags=["strategic", "consolidate"],
        price_adjustment_pct=Decimal("-5.50"),
        price_override=None,
        price_override_reason=None,
    )
    form = ControlsForm.of(contract)
    assert [choice.value for choice in form.status_flags.iter_choices() if choice.selected] == ["consolidate"]
    assert form.price_adjustment_pct._value() == "-5.50"
    assert form.price_override._value() == "" and form.price_override_reason.data is None
    assert form.errors == {}


def test_applying_keeps_the_flags_set_in_salesforce_and_orders_the_portals() -> None:
    contract = models.Contract(status_flags=["do_not_remind", "strategic"], price_override=Decimal("1.00"))
    form = posted(status_flags=["do_not_remind", "warranty_only"], price_adjustment_pct="3")
    assert form.validate(), form.errors
    form.apply_to(contract)
    assert contract.status_flags == ["strategic", "warranty_only", "do_not_remind"]
    assert contract.price_adjustment_pct == Decimal("3.00")
    assert contract.price_override is None and contract.price_override_reason is None


def test_a_note_is_trimmed_and_cut_to_its_length() -> None:
    assert NoteForm(formdata=MultiDict({"note": "  why  "})).note.data == "why"
    assert NoteForm(formdata=MultiDict({"note": "n" * 600})).note.data == "n" * MAX_NOTE_LENGTH
    assert NoteForm(formdata=MultiDict({"note": "   "})).note.data is None
    assert NoteForm(formdata=MultiDict()).note.data is None
    assert f'maxlength="{MAX_NOTE_LENGTH}"' in str(NoteForm(formdata=None).note())
