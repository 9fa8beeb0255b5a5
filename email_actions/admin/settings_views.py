"""The console's Settings section (being built)."""

from __future__ import annotations

from flask import render_template_string
from flask.typing import ResponseReturnValue

from .blueprint import bp


@bp.get("/settings")
def settings() -> ResponseReturnValue:
    return render_template_string('{% extends "admin/layout.html" %}{% block content %}<h1>Settings</h1>{% endblock %}')
