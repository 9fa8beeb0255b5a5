"""The console's Settings section: the settings an admin may change without a deploy, each validated.

- **Overview** (``/admin/settings``): every setting's value in force, whether it comes from the console or
  from the file/environment default, and who changed it when.
- **Cadence** (``/admin/settings/cadence``): the stages of the default segment and of each segment (days
  before and after the end date), or the whole cadence as YAML (segment rules too); checked like the file.
- **Brands** (``/admin/settings/brands``): each brand's name, colours (WCAG contrast checked), sender,
  reply-to, footer, legal text, reseller list and logo (keep it, take another brand's, or upload a PNG: kept
  in the store, see :mod:`email_actions.mail.brand_settings`); add and remove reseller brands, choose the
  default.
- **API budget** (``/admin/settings/api-budget``): the daily budget (at least 1) and the reserve (at least 0).
- **Bot rules** (``/admin/settings/bot-rules``): scanner address ranges, extra user-agent substrings and the
  timing and burst thresholds of the classifier.
- **Salesforce sign-in** (``/admin/settings/salesforce-sign-in``): which Salesforce users may sign in to the
  console with Salesforce, and with which role (its page: :mod:`email_actions.web.console.settings_sign_in`).

Every change is a CSRF-protected POST by an admin (viewers are refused centrally, 403), validated by the
setting's rules (:mod:`sync_service.console_settings`; the brands' in :mod:`email_actions.mail.brand_settings`);
a refused value is shown again as typed with the reason beside its field (422) and nothing is saved. A saved
change is stored and audited (before and after) in one transaction, and applies from the next use of the
setting: no restart. "Reset" forgets the console's value: the default applies again.

The brand, API budget and bot rules forms are declared once, in :mod:`email_actions.web.console.settings_forms`.
The cadence's two forms are read here by hand because they are dynamic: the stage grid has one pair of fields
per segment of the cadence in force, and the YAML editor is one free text checked whole. So are the forms of
one name each (default brand, reset, remove) and the optional reason every change may carry.
"""

from __future__ import annotations

from typing import Any, cast

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from config.settings import Settings
from email_actions.mail import brand_settings
from email_actions.mail.brands import COLOUR, BrandBook, BrandError, contrast
from email_actions.web.console.audit import record_change
from email_actions.web.console.auth import current_user
from email_actions.web.console.blueprint import bp
from email_actions.web.console.settings_forms import ApiBudgetForm, BotRulesForm, BrandForm, brand_data
from sync_service import console_settings as cs
from sync_service.planning.cadence import Cadence, CadenceError, describe_stage
from sync_service.store.db import current_session

MAX_REASON = 500
# URL names of the settings, and the audit action prefix of each.
SLUGS = {
    "cadence": cs.CADENCE,
    "brands": cs.BRANDS,
    "api-budget": cs.API_BUDGET,
    "bot-rules": cs.BOT_RULES,
    "salesforce-sign-in": cs.SALESFORCE_ROLES,
}
TITLES = {
    cs.CADENCE: "Cadence",
    cs.BRANDS: "Brands",
    cs.API_BUDGET: "API budget",
    cs.BOT_RULES: "Bot rules",
    cs.SALESFORCE_ROLES: "Salesforce sign-in",
}
PAGES = {
    cs.CADENCE: "admin.settings_cadence",
    cs.BRANDS: "admin.settings_brands",
    cs.API_BUDGET: "admin.settings_api_budget",
    cs.BOT_RULES: "admin.settings_bot_rules",
    cs.SALESFORCE_ROLES: "admin.settings_salesforce_sign_in",
}
REFUSED = 422


@bp.app_template_test("settings_colour")
def _is_colour(value: object) -> bool:
    """A colour written #rrggbb (safe in a style attribute)."""
    return isinstance(value, str) and COLOUR.fullmatch(value) is not None


def _settings() -> Settings:
    return cast(Settings, current_app.extensions["renewals.settings"])


def _reason() -> str | None:
    return request.form.get("reason", "").strip()[:MAX_REASON] or None


def _saved(session: Session, name: str, value: dict[str, Any], action: str, before: Any, after: Any) -> None:
    """Store, audit and commit one change (one transaction)."""
    cs.store(session, name, value, actor=current_user().actor)
    record_change(session, action, before=before, after=after, reason=_reason())
    session.commit()


def _default_source(name: str, settings: Settings) -> str:
    return {
        cs.CADENCE: f"file {settings.cadence_file}",
        cs.BRANDS: f"file {settings.brands_file}",
        cs.API_BUDGET: "environment (RENEWALS_API_DAILY_BUDGET, RENEWALS_API_RESERVE)",
        cs.BOT_RULES: "environment (RENEWALS_BOT_ADDRESS_RANGES) and built-in rules",
        cs.SALESFORCE_ROLES: "no rules: nobody signs in with Salesforce",
    }[name]


def _origin(session: Session, name: str, settings: Settings) -> dict[str, Any]:
    found = cs.row(session, name)
    default = _default_source(name, settings)
    if found is None:
        return {"console": False, "source": default, "default": default, "by": None, "at": None}
    return {
        "console": True,
        "source": "admin console",
        "default": default,
        "by": found.updated_by,
        "at": found.updated_at,
    }


# --- overview ----------------------------------------------------------------------------------------------


@bp.get("/settings")
def settings() -> ResponseReturnValue:
    session, config = current_session(), _settings()
    rows = []
    for name in cs.NAMES:
        summary, problem = _summary(session, name, config)
        rows.append(
            {
                "name": name,
                "title": TITLES[name],
                "page": PAGES[name],
                "summary": summary,
                "problem": problem,
                **_origin(session, name, config),
            }
        )
    return render_template("admin/settings/overview.html", rows=rows)


def _summary(session: Session, name: str, config: Settings) -> tuple[str, str | None]:
    try:
        if name == cs.CADENCE:
            cadence = cs.cadence(session, config)
            parts = [f"{s.name}: {', '.join(_stage_short(o) for o in s.offsets)}" for s in cadence.segments]
            return "; ".join(parts) + f" (catch-up {cadence.catch_up_days} days)", None
        if name == cs.BRANDS:
            book = brand_settings.brands(session, config)
            names = [f"{b.name} ({k}{', default' if k == book.default.key else ''})" for k, b in book.brands.items()]
            unusable = f"; unusable: {', '.join(book.problems)}" if book.problems else ""
            return ", ".join(names) + unusable, None
        if name == cs.API_BUDGET:
            budget = cs.api_budget(session, config)
            return f"{budget.daily_budget:,} calls a day; {budget.reserve:,} of the org's kept in reserve", None
        if name == cs.SALESFORCE_ROLES:
            texts = [rule.text for rule in cs.salesforce_roles(session)]
            return "; ".join(texts) or "no rules: nobody signs in with Salesforce", None
        rules = cs.bot_rules(session, config)
        return (
            f"{len(rules.ranges)} address range(s), {len(rules.agent_substrings)} extra user agent(s); too soon "
            f"< {rules.too_soon_seconds:g} s; burst {rules.burst_links} links in {rules.burst_seconds:g} s"
        ), None
    except (CadenceError, BrandError) as exc:
        return "", str(exc)


def _stage_short(offset: int) -> str:
    return f"-{-offset}" if offset < 0 else f"+{offset}"


@bp.post("/settings/reset/<slug>")
def settings_reset(slug: str) -> ResponseReturnValue:
    name = SLUGS.get(slug)
    if name is None:
        abort(404)
    session, config = current_session(), _settings()
    before = cs.stored(session, name)
    if before is None:
        flash(f"{TITLES[name]}: the default is in force already; nothing to reset.")
        return redirect(url_for(PAGES[name]))
    cs.reset(session, name)
    if name == cs.BRANDS:
        before = brand_settings.audit_view(before)
    record_change(
        session,
        f"settings.{name}.reset",
        before=before,
        after={"source": _default_source(name, config)},
        reason=_reason(),
    )
    session.commit()
    flash(f"{TITLES[name]}: reset; the {_default_source(name, config)} applies again.")
    return redirect(url_for(PAGES[name]))


# --- cadence -----------------------------------------------------------------------------------------------


@bp.get("/settings/cadence")
def settings_cadence() -> ResponseReturnValue:
    return _cadence_page()


def _cadence_page(
    errors: dict[str, str] | None = None, form: dict[str, str] | None = None, status: int = 200
) -> ResponseReturnValue:
    session, config = current_session(), _settings()
    text = cs.cadence_text(session, config)
    problem = None
    parsed: Cadence | None = None
    try:
        parsed = cs.cadence(session, config)
    except CadenceError as exc:
        problem = str(exc)
    stages = cs.stage_fields(parsed) if parsed is not None else []
    values: dict[str, str] = {"yaml": text, "catch_up_days": str(parsed.catch_up_days if parsed else "")}
    for stage in stages:
        values[f"{stage.segment}.days_before_end"] = stage.days_before_end
        values[f"{stage.segment}.days_after_end"] = stage.days_after_end
    values.update(form or {})
    segments = []
    if parsed is not None:
        for segment in (parsed.default, *parsed.segments[:-1]):
            segments.append(
                {"name": segment.name, "rule": segment.rule, "stages": [describe_stage(o) for o in segment.offsets]}
            )
    page = render_template(
        "admin/settings/cadence.html",
        values=values,
        errors=errors or {},
        segments=segments,
        problem=problem,
        origin=_origin(session, cs.CADENCE, config),
    )
    return page, status


@bp.post("/settings/cadence/stages")
def settings_cadence_stages() -> ResponseReturnValue:
    session, config = current_session(), _settings()
    before = cs.cadence_text(session, config)
    names = request.form.getlist("segment")
    stages = {
        name: (request.form.get(f"{name}.days_before_end", ""), request.form.get(f"{name}.days_after_end", ""))
        for name in names
    }
    try:
        if not names:
            raise cs.SettingProblems({"default.days_before_end": "no stages were sent"})
        value = cs.check_stages(before, request.form.get("catch_up_days", ""), stages)
    except cs.SettingProblems as exc:
        session.rollback()
        return _cadence_page(exc.problems, dict(request.form.items()), REFUSED)
    return _save_cadence(session, config, before, value)


@bp.post("/settings/cadence/yaml")
def settings_cadence_yaml() -> ResponseReturnValue:
    session, config = current_session(), _settings()
    before = cs.cadence_text(session, config)
    try:
        value = cs.check_cadence_text(request.form.get("yaml", ""))
    except cs.SettingProblems as exc:
        session.rollback()
        return _cadence_page(exc.problems, {"yaml": request.form.get("yaml", "")}, REFUSED)
    return _save_cadence(session, config, before, value)


def _save_cadence(session: Session, config: Settings, before: str, value: dict[str, Any]) -> ResponseReturnValue:
    source = "console" if cs.row(session, cs.CADENCE) is not None else "file"
    _saved(session, cs.CADENCE, value, "settings.cadence.save", {"source": source, "yaml": before}, value)
    flash("Cadence saved: the next planning run uses it.")
    return redirect(url_for("admin.settings_cadence"))


# --- API budget --------------------------------------------------------------------------------------------


@bp.get("/settings/api-budget")
def settings_api_budget() -> ResponseReturnValue:
    return _budget_page(ApiBudgetForm.of(cs.api_budget(current_session(), _settings())))


def _budget_page(form: ApiBudgetForm, status: int = 200) -> ResponseReturnValue:
    session, config = current_session(), _settings()
    page = render_template(
        "admin/settings/api_budget.html",
        form=form,
        errors=form.problems,
        defaults={"daily_budget": config.api_daily_budget, "reserve": config.api_reserve},
        origin=_origin(session, cs.API_BUDGET, config),
    )
    return page, status


@bp.post("/settings/api-budget")
def settings_api_budget_save() -> ResponseReturnValue:
    session, config = current_session(), _settings()
    form = ApiBudgetForm()
    value = form.value()
    if value is None:
        session.rollback()
        return _budget_page(form, REFUSED)
    current = cs.api_budget(session, config)
    before = {"daily_budget": current.daily_budget, "reserve": current.reserve}
    _saved(session, cs.API_BUDGET, value, "settings.api_budget.save", before, value)
    flash("API budget saved: the next pull, push and quote download use it.")
    return redirect(url_for("admin.settings_api_budget"))


# --- bot rules ---------------------------------------------------------------------------------------------


@bp.get("/settings/bot-rules")
def settings_bot_rules() -> ResponseReturnValue:
    return _bot_page(BotRulesForm.of(cs.bot_rules(current_session(), _settings())))


def _bot_page(form: BotRulesForm, status: int = 200) -> ResponseReturnValue:
    session, config = current_session(), _settings()
    page = render_template(
        "admin/settings/bot_rules.html",
        form=form,
        errors=form.problems,
        environment_ranges=config.bot_address_ranges,
        origin=_origin(session, cs.BOT_RULES, config),
    )
    return page, status


@bp.post("/settings/bot-rules")
def settings_bot_rules_save() -> ResponseReturnValue:
    session, config = current_session(), _settings()
    form = BotRulesForm()
    value = form.value()
    if value is None:
        session.rollback()
        return _bot_page(form, REFUSED)
    before = cs.bot_rules_value(cs.bot_rules(session, config))
    _saved(session, cs.BOT_RULES, value, "settings.bot_rules.save", before, value)
    flash("Bot rules saved: every link hit from now on is classified with them.")
    return redirect(url_for("admin.settings_bot_rules"))


# --- brands ------------------------------------------------------------------------------------------------


@bp.get("/settings/brands")
def settings_brands() -> ResponseReturnValue:
    return _brands_page()


def _brands_page(errors: dict[str, str] | None = None, status: int = 200) -> ResponseReturnValue:
    session, config = current_session(), _settings()
    value = brand_settings.brands_value(session, config)
    book: BrandBook | None = None
    problem = None
    try:
        book = brand_settings.brands(session, config)
    except BrandError as exc:
        problem = str(exc)
    listed = []
    for key, raw in (value.get("brands") or {}).items():
        brand = book.brands.get(key) if book is not None else None
        listed.append(
            {
                "key": key,
                "fields": brand_data(raw) if isinstance(raw, dict) else {},
                "brand": brand,
                "problems": (book.problems.get(key) if book is not None else None) or [],
                "is_default": key == value.get("default"),
            }
        )
    page = render_template(
        "admin/settings/brands.html",
        brands=listed,
        default=value.get("default"),
        problem=problem,
        errors=errors or {},
        origin=_origin(session, cs.BRANDS, config),
    )
    return page, status


@bp.post("/settings/default-brand")
def settings_brands_default() -> ResponseReturnValue:
    session, config = current_session(), _settings()
    value = brand_settings.brands_value(session, config)
    key = request.form.get("default", "")
    try:
        changed = brand_settings.set_default_brand(value, config, key)
    except cs.SettingProblems as exc:
        session.rollback()
        return _brands_page(exc.problems, REFUSED)
    _saved(session, cs.BRANDS, changed, "settings.brands.default", {"default": value.get("default")}, {"default": key})
    flash(f"Brand {key!r} is the default brand now.")
    return redirect(url_for("admin.settings_brands"))


@bp.route("/settings/brands/<key>", methods=["GET", "POST"])
def settings_brand(key: str) -> ResponseReturnValue:
    session, config = current_session(), _settings()
    value = brand_settings.brands_value(session, config)
    raw = (value.get("brands") or {}).get(key)
    if not isinstance(raw, dict):
        abort(404)
    if request.method == "GET":
        return _brand_page(key, BrandForm.of(raw), value, new=False)
    return _brand_save(session, config, value, BrandForm(), key, new=False)


@bp.route("/settings/new-brand", methods=["GET", "POST"])
def settings_brand_new() -> ResponseReturnValue:
    session, config = current_session(), _settings()
    value = brand_settings.brands_value(session, config)
    if request.method == "GET":
        blank = BrandForm.of({"colours": {"text": "#1a1a1a", "background": "#ffffff"}})
        return _brand_page("", blank, value, new=True)
    form = BrandForm()
    return _brand_save(session, config, value, form, form.key.data.strip(), new=True)


def _brand_save(
    session: Session, config: Settings, value: dict[str, Any], form: BrandForm, key: str, *, new: bool
) -> ResponseReturnValue:
    edited = form.edited(value, config, key, new=new)
    if edited is None:
        session.rollback()
        return _brand_page(key, form, value, new=new, status=REFUSED)
    changed, _ = edited
    before = None if new else value["brands"][key]
    action = "settings.brands.add" if new else "settings.brands.edit"
    _saved(
        session,
        cs.BRANDS,
        changed,
        action,
        {"brand": key, "value": before},
        {"brand": key, "value": changed["brands"][key]},
    )
    flash(f"Brand {key!r} saved: emails sent from now on, and every page, carry it.")
    return redirect(url_for("admin.settings_brand", key=key))


def _brand_page(
    key: str,
    form: BrandForm,
    value: dict[str, Any],
    *,
    new: bool,
    remove_problem: str | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    session, config = current_session(), _settings()
    book: BrandBook | None = None
    try:
        book = brand_settings.brands(session, config)
    except BrandError:
        book = None
    brand = book.brands.get(key) if book is not None and not new else None
    others = [(k, (b or {}).get("name", k)) for k, b in (value.get("brands") or {}).items() if k != key]
    form.fit(new=new, others=others)
    errors = form.problems
    if remove_problem is not None:
        errors["remove"] = remove_problem
    colours = {c: str(form.colours[c].data or "") for c in brand_settings.COLOUR_FIELDS}
    page = render_template(
        "admin/settings/brand.html",
        key=key,
        new=new,
        form=form,
        errors=errors,
        brand=brand,
        problems=(book.problems.get(key) if book is not None and not new else None) or [],
        is_default=key == value.get("default"),
        contrast=_contrasts(colours),
        origin=_origin(session, cs.BRANDS, config),
    )
    return page, status


def _contrasts(colours: dict[str, str]) -> dict[str, str]:
    """The two contrasts the brand must meet, for the form (blank where a colour is not #rrggbb)."""
    out = {}
    for name, fg, bg in (
        ("text", colours["text"], colours["background"]),
        ("primary", "#ffffff", colours["primary"]),
    ):
        try:
            out[name] = f"{contrast(fg.strip(), bg.strip()):.2f}:1"
        except (ValueError, IndexError):
            out[name] = ""
    return out


@bp.post("/settings/brands/<key>/remove")
def settings_brand_remove(key: str) -> ResponseReturnValue:
    session, config = current_session(), _settings()
    value = brand_settings.brands_value(session, config)
    try:
        changed = brand_settings.remove_brand(value, config, key)
    except KeyError:
        abort(404)
    except cs.SettingProblems as exc:
        session.rollback()
        form = BrandForm.of(value["brands"][key])
        return _brand_page(key, form, value, new=False, remove_problem=exc.problems["key"], status=REFUSED)
    _saved(
        session,
        cs.BRANDS,
        changed,
        "settings.brands.remove",
        {"brand": key, "value": value["brands"][key]},
        {"brand": key, "value": None},
    )
    flash(f"Brand {key!r} removed; its resellers' emails carry the default brand now.")
    return redirect(url_for("admin.settings_brands"))
