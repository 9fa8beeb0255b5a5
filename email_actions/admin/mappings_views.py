"""The console's Mappings section (being built)."""

from __future__ import annotations

from flask import render_template_string
from flask.typing import ResponseReturnValue

from .blueprint import bp


@bp.get("/mappings")
def mappings() -> ResponseReturnValue:
    return render_template_string('{% extends "admin/layout.html" %}{% block content %}<h1>Mappings</h1>{% endblock %}')
