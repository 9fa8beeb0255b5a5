"""The console's Settings page for Sign in with Salesforce (``/admin/settings/salesforce-sign-in``): the rules that
give Salesforce users a console role (:mod:`sync_service.console_settings.salesforce_roles`), whether the
connected app is configured and the callback URL it must list, and the console accounts Salesforce users have.

Like every setting: an admin's CSRF-protected POST (viewers read the page; their POST is refused centrally, 403),
checked whole — a refused line is named beside the field and nothing is saved (422) — then stored and audited
(``settings.salesforce_roles.save``, before and after) in one transaction; "Reset" forgets the rules. Saved rules
decide the role at each user's next sign-in with Salesforce; a session already open keeps its role until it ends.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from email_actions.web.console.blueprint import bp
from email_actions.web.console.salesforce_sign_in import callback_url, configured
from email_actions.web.console.settings_forms import SalesforceRolesForm
from email_actions.web.console.settings_views import REFUSED, _origin, _saved, _settings
from sync_service import console_settings as cs
from sync_service.store.db import current_session
from sync_service.store.models import AdminUser


@bp.get("/settings/salesforce-sign-in")
def settings_salesforce_sign_in() -> ResponseReturnValue:
    return _page(SalesforceRolesForm.of(cs.salesforce_roles(current_session())))


def _page(form: SalesforceRolesForm, status: int = 200) -> ResponseReturnValue:
    session, config = current_session(), _settings()
    accounts = session.scalars(
        select(AdminUser).where(AdminUser.salesforce_user_id.is_not(None)).order_by(AdminUser.username)
    ).all()
    page = render_template(
        "admin/settings/salesforce_sign_in.html",
        form=form,
        errors=form.problems,
        configured=configured(config),
        callback_url=callback_url(config),
        accounts=accounts,
        origin=_origin(session, cs.SALESFORCE_ROLES, config),
    )
    return page, status


@bp.post("/settings/salesforce-sign-in")
def settings_salesforce_sign_in_save() -> ResponseReturnValue:
    session = current_session()
    form = SalesforceRolesForm()
    value = form.value()
    if value is None:
        session.rollback()
        return _page(form, REFUSED)
    before = cs.rules_value(cs.salesforce_roles(session))
    _saved(session, cs.SALESFORCE_ROLES, value, "settings.salesforce_roles.save", before, value)
    flash("Salesforce sign-in rules saved: they set each user's role at their next sign-in with Salesforce.")
    return redirect(url_for("admin.settings_salesforce_sign_in"))
