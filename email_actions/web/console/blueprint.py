"""The admin console's blueprint, mounted at ``/admin``; every section's module adds its views to it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g

from email_actions.web.console.auth import guard

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(guard)

# The console's sections, in the order of its navigation: (title, endpoint).
SECTIONS: list[tuple[str, str]] = [
    ("Operations", "admin.operations"),
    ("Reports", "admin.reports"),
    ("Mappings", "admin.mappings"),
    ("Settings", "admin.settings"),
    ("Audit log", "admin.audit"),
]


@bp.context_processor
def console_context() -> dict[str, Any]:
    sections = [(title, endpoint) for title, endpoint in SECTIONS if endpoint in current_app.view_functions]
    return {"admin_user": g.get("admin_user"), "admin_sections": sections}
