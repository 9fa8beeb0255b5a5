"""The console's settings forms (``email_actions.web.console.settings_forms``): a stored brand shown in the form
comes back from it unchanged, and a problem of the setting's check is bound to the field it names (or to the form
when it names none), with what was typed kept."""

from __future__ import annotations

from flask import Flask

from email_actions.mail import brand_settings
from email_actions.web.console.settings_forms import ApiBudgetForm, BotRulesForm, BrandForm
from sync_service.bot_classifier import BotRules
from sync_service.console_settings import SettingProblems
from sync_service.salesforce.budget import Budget


def test_a_stored_brand_shown_in_the_form_is_saved_back_unchanged(app: Flask) -> None:
    settings = app.extensions["renewals.settings"]
    value = brand_settings.brands_value_from_file(settings)
    with app.test_request_context():
        for key, stored in value["brands"].items():
            form = BrandForm.of(stored).fit(new=False, others=[])
            assert form.key is None  # an existing brand's key is not a field
            changed, _ = brand_settings.edit_brand(value, settings, key, form.typed())
            assert changed["brands"][key] == {"resellers": [], **stored}  # no resellers: saved as an empty list


def test_posted_fields_are_kept_and_each_problem_is_bound_to_its_field(app: Flask) -> None:
    posted = {"colours.primary": "#dddddd", "name": "", "resellers": "*", "purchase_order_field": "on"}
    with app.test_request_context(method="POST", data=posted):
        form = BrandForm().fit(new=False, others=[("partner", "Partner")])
        assert form.colours["primary"].data == "#dddddd" and form.purchase_order_field.data is True
        problems = {"colours.primary": "too light", "name": "required", "nowhere": "odd"}
        assert form.checked(lambda: _refuse(problems)) is None
        assert form.problems == {"name": "required", "colours.primary": "too light", "form": "nowhere: odd"}
        assert form.colours["primary"]._value() == "#dddddd"  # shown again as typed


def test_budget_and_bot_rules_forms_show_the_values_in_force_and_check_what_was_typed(app: Flask) -> None:
    with app.test_request_context():
        assert ApiBudgetForm.of(Budget(2500, 0)).data == {"daily_budget": "2500", "reserve": "0"}
        rules = BotRules(ranges=("203.0.113.0/24", "2001:db8::/32"), too_soon_seconds=2.5)
        shown = BotRulesForm.of(rules).data
        assert shown["ranges"] == "203.0.113.0/24\n2001:db8::/32" and shown["too_soon_seconds"] == "2.5"
    with app.test_request_context(method="POST", data={"daily_budget": "1,000", "reserve": "x"}):
        form = ApiBudgetForm()
        assert form.value() is None
        assert form.problems == {"reserve": "'x' is not a whole number"}
        assert form.daily_budget._value() == "1,000"
    with app.test_request_context(method="POST", data={"daily_budget": "1,000", "reserve": "0"}):
        assert ApiBudgetForm().value() == {"daily_budget": 1000, "reserve": 0}


def _refuse(problems: dict[str, str]) -> bool:
    raise SettingProblems(problems)
