"""The console's fixed settings forms, each declared once (WTForms): a brand, the API budget, the bot rules and the
Salesforce sign-in rules.

A field's name is the one its page posts and the one the setting's check names a problem by (``daily_budget``,
``colours.primary``); its label, help and size are declared here too, so a page lays the fields out without
writing them again (``admin/settings/_fields.html`` renders a declared field).

No rule is written here. A form collects what was typed and hands it to the setting's check
(:mod:`sync_service.console_settings`, :mod:`email_actions.mail.brand_settings`), the single source of what a
value must be; each problem the check names is bound to its field, shown beside it with what was typed kept.
A form never stores anything: the views store, audit and commit (:mod:`email_actions.web.console.settings_views`).
The CSRF token is checked once for every POST, by Flask-WTF's ``CSRFProtect`` (:mod:`email_actions.web.security`),
and the pages render it with the console's ``csrf()`` macro, so these forms don't check it again.

The cadence page's two forms are not here: its stage grid has one row per segment of the cadence in force and its
YAML editor one free text checked whole, so the view reads them by hand. The one-field forms (default brand,
reset, remove) carry no value to check beyond a name, and are read by hand too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import FileStorage
from wtforms import BooleanField, Field, Form, FormField, SelectField, StringField, TextAreaField

from config.settings import Settings
from email_actions.mail.brand_settings import COLOUR_FIELDS, edit_brand
from email_actions.mail.brands import MAX_LOGO_BYTES, BrandBook
from sync_service.bot_classifier import BURST_LINKS, BURST_SECONDS, TOO_SOON_SECONDS, BotRules
from sync_service.console_settings import (
    BURST_LINKS_RANGE,
    BURST_SECONDS_RANGE,
    TOO_SOON_RANGE,
    RoleRule,
    SettingProblems,
    check_api_budget,
    check_bot_rules,
    check_salesforce_roles,
    rules_text,
)
from sync_service.salesforce.budget import Budget

T = TypeVar("T")


class SettingForm(FlaskForm):
    """A settings form: the fields as typed, and the problems the setting's check found bound to them."""

    class Meta:
        csrf = False  # checked for every POST by CSRFProtect (see the module docstring)

    def checked(self, check: Callable[[], T]) -> T | None:
        """What `check` makes of the fields as typed, or None when they cannot be used: then each problem is bound
        to its field (a problem naming no field of the form is a form error)."""
        if not self.validate():  # the fields' own checks: none are declared, the setting's check holds the rules
            return None
        try:
            return check()
        except SettingProblems as exc:
            fields = {field.name: field for field in _fields(self)}
            for name, reason in exc.problems.items():
                if name in fields:
                    fields[name].errors.append(reason)
                else:
                    self.form_errors.append(f"{name}: {reason}")
            return None

    @property
    def problems(self) -> dict[str, str]:
        """Each refused field's reasons by its name in the page (``colours.primary``), form errors under ``form``."""
        found = {field.name: "; ".join(field.errors) for field in _fields(self) if field.errors}
        if self.form_errors:
            found["form"] = "; ".join(self.form_errors)
        return found


def _fields(form: Form) -> Iterator[Field]:
    """The form's fields, those of a sub-form (a brand's colours) in its place."""
    for field in form:
        if isinstance(field, FormField):
            yield from _fields(field.form)
        else:
            yield field


# --- API budget --------------------------------------------------------------------------------------------


class ApiBudgetForm(SettingForm):
    """The daily budget and reserve (:func:`sync_service.console_settings.check_api_budget`)."""

    daily_budget = StringField(
        "Daily budget (API calls this service may make per UTC day; at least 1)", default="", render_kw={"size": 12}
    )
    reserve = StringField(
        "Reserve (calls always left of the org's remaining daily limit; at least 0)",
        default="",
        render_kw={"size": 12},
    )

    @classmethod
    def of(cls, budget: Budget) -> ApiBudgetForm:
        """The form showing the budget in force."""
        return cls(formdata=None, data={"daily_budget": str(budget.daily_budget), "reserve": str(budget.reserve)})

    def value(self) -> dict[str, Any] | None:
        """The value to store, or None with the problems bound to the fields."""
        return self.checked(lambda: check_api_budget(self.daily_budget.data, self.reserve.data))


# --- Salesforce sign-in -------------------------------------------------------------------------------------


class SalesforceRolesForm(SettingForm):
    """Who may sign in with Salesforce, as what (:func:`sync_service.console_settings.check_salesforce_roles`)."""

    rules = TextAreaField(
        "Rules (one a line: kind, value, role)", default="", render_kw={"rows": 8, "data-kind": "code"}
    )

    @classmethod
    def of(cls, rules: tuple[RoleRule, ...]) -> SalesforceRolesForm:
        """The form showing the rules in force."""
        return cls(formdata=None, data={"rules": rules_text(rules)})

    def value(self) -> dict[str, Any] | None:
        """The value to store, or None with the problems bound to the field."""
        return self.checked(lambda: check_salesforce_roles(self.rules.data or ""))


# --- bot rules ---------------------------------------------------------------------------------------------


class BotRulesForm(SettingForm):
    """Scanner ranges, extra user agents, and the classifier's thresholds
    (:func:`sync_service.console_settings.check_bot_rules`)."""

    ranges = TextAreaField(
        "Scanner address ranges (CIDR, one a line)", default="", render_kw={"rows": 6, "data-kind": "code"}
    )
    agent_substrings = TextAreaField(
        "Extra scanner user agents (one a line; a line found anywhere in the user agent, ignoring case, means machine)",
        default="",
        description="3 to 120 characters each; a line that is part of an ordinary browser's user agent (e.g. "
        '"Mozilla", "Chrome") is refused.',
        render_kw={"rows": 5, "data-kind": "code"},
    )
    too_soon_seconds = StringField(
        "Too soon after sending or delivery (seconds; 0 turns the signal off)",
        default="",
        description=f"Built in: {TOO_SOON_SECONDS:g} s; allowed {TOO_SOON_RANGE[0]:g} to {TOO_SOON_RANGE[1]:g}.",
        render_kw={"size": 6},
    )
    burst_links = StringField(
        "Burst: this many different links of one email…",
        default="",
        description=f"Built in: {BURST_LINKS}; allowed {BURST_LINKS_RANGE[0]} to {BURST_LINKS_RANGE[1]}.",
        render_kw={"size": 4},
    )
    burst_seconds = StringField(
        "…within this many seconds",
        default="",
        description=f"Built in: {BURST_SECONDS:g} s; allowed {BURST_SECONDS_RANGE[0]:g} to {BURST_SECONDS_RANGE[1]:g}.",
        render_kw={"size": 6},
    )

    @classmethod
    def of(cls, rules: BotRules) -> BotRulesForm:
        """The form showing the rules in force (ranges and substrings one a line)."""
        return cls(
            formdata=None,
            data={
                "ranges": "\n".join(rules.ranges),
                "agent_substrings": "\n".join(rules.agent_substrings),
                "too_soon_seconds": f"{rules.too_soon_seconds:g}",
                "burst_seconds": f"{rules.burst_seconds:g}",
                "burst_links": str(rules.burst_links),
            },
        )

    def value(self) -> dict[str, Any] | None:
        """The value to store, or None with the problems bound to the fields."""
        return self.checked(
            lambda: check_bot_rules(
                self.ranges.data,
                self.agent_substrings.data,
                self.too_soon_seconds.data,
                self.burst_seconds.data,
                self.burst_links.data,
            )
        )


# --- brands ------------------------------------------------------------------------------------------------


class ColoursForm(Form):
    """A brand's colours, #rrggbb (``colours.primary``… in the page, ``colours`` in a stored brand)."""

    primary = StringField("Primary (buttons, header; white text sits on it)", default="")
    accent = StringField("Accent (amount due, stage badge)", default="")
    text = StringField("Text", default="")
    background = StringField("Background", default="")


class BrandForm(SettingForm):
    """One brand (:func:`email_actions.mail.brand_settings.edit_brand`). Its fields but the key and the logo are
    those of a stored brand, so a stored brand fills it (:meth:`of`) and its data is the brand as typed."""

    key = StringField(
        "Key (lower-case letters, digits, - and _; it names the brand in emails and URLs)",
        default="",
        render_kw={"size": 24},
    )
    name = StringField("Name (in the header and the From name)", default="", render_kw={"size": 40})
    colours = FormField(ColoursForm, separator=".")
    sender = StringField('Sender ("Name <address>": an identity verified in SES)', default="", render_kw={"size": 50})
    reply_to = StringField(
        "Reply-to (optional; by default replies go to the contract's rep)", default="", render_kw={"size": 50}
    )
    footer = StringField("Footer (the postal address bulk-mail rules ask for)", default="", render_kw={"size": 80})
    legal = TextAreaField("Legal text (the small print)", default="", render_kw={"rows": 4})
    resellers = TextAreaField(
        "Resellers (account names or Salesforce ids, one a line; * = every reseller no other brand lists)",
        default="",
        render_kw={"rows": 4},
    )
    purchase_order_field = BooleanField("The Renew page asks for an optional purchase-order number")
    logo = FileField(f"Upload a new logo (PNG, under {MAX_LOGO_BYTES // 1000} kB; kept in the store)")
    logo_from = SelectField("…or take the logo of", choices=[], default="", validate_choice=False)

    # Not a brand's own: what the brand is called by, and where its logo comes from.
    NOT_TYPED = ("key", "logo", "logo_from")

    @classmethod
    def of(cls, brand: Mapping[str, Any]) -> BrandForm:
        """The form showing stored brand `brand`."""
        return cls(formdata=None, data=brand_data(brand))

    def fit(self, *, new: bool, others: list[tuple[str, str]]) -> BrandForm:
        """The form for its page: a key only for a new brand; the logo may be taken from one of `others`
        (key, name)."""
        if not new:
            del self.key  # an existing brand's key is in its URL, never edited
        first = "choose a brand" if new else "keep this brand's logo"
        self.logo_from.choices = [("", first), *((other, f"{name} ({other})") for other, name in others)]
        return self

    def typed(self) -> dict[str, Any]:
        """The brand as typed, under a stored brand's keys (resellers one a line)."""
        return {name: data for name, data in self.data.items() if name not in self.NOT_TYPED}

    def upload(self) -> bytes | None:
        """The uploaded logo's bytes (at most one byte over the limit, enough to refuse it), or None."""
        upload = self.logo.data
        return upload.read(MAX_LOGO_BYTES + 1) if isinstance(upload, FileStorage) else None

    def edited(
        self, value: Mapping[str, Any], settings: Settings, key: str, *, new: bool
    ) -> tuple[dict[str, Any], BrandBook] | None:
        """The brands `value` with this brand saved as brand `key` and the book it makes, or None with the
        problems bound to the fields. Raises KeyError when brand `key` is gone."""
        return self.checked(
            lambda: edit_brand(
                value,
                settings,
                key,
                self.typed(),
                logo_upload=self.upload(),
                logo_from=self.logo_from.data or "",
                new=new,
            )
        )


def brand_data(brand: Mapping[str, Any]) -> dict[str, Any]:
    """Stored brand `brand` as the brand form holds it: its colours each, its resellers one a line (its logo is
    shown from the store, not in the form)."""
    colours = brand.get("colours") if isinstance(brand.get("colours"), Mapping) else {}
    resellers = brand.get("resellers") or []
    return {
        **{name: data for name, data in brand.items() if name not in BrandForm.NOT_TYPED},
        "colours": {c: (colours or {}).get(c) or "" for c in COLOUR_FIELDS},
        "resellers": "\n".join(str(r) for r in resellers) if isinstance(resellers, list) else "",
        "purchase_order_field": bool(brand.get("purchase_order_field")),
    }
