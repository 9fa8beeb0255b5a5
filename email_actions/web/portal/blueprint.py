"""The portals' blueprint and what all their pages share: the page frame (scope, legend) and the two refusals,
no session (403, "use the link in your email"; a rep page without a signed-in rep goes to the sign-in, a rep's
change without one is 403, nothing changed) and a contract out of scope (404, whatever the reason).

The views that use it live in :mod:`~email_actions.web.portal.views`, :mod:`~email_actions.web.portal.renew`
and :mod:`~email_actions.web.portal.rep_controls`; ``views.init_app`` registers it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, get_flashed_messages, redirect, request
from werkzeug.wrappers import Response

from email_actions.web.portal.scope import NoScope, NotInScope, Scope, SignInRequired
from email_actions.web.portal.states import LEGEND
from email_actions.web.token_pages import brand_of, render_page

bp = Blueprint("portal", __name__)


def page(template: str, scope: Scope, *, status: int = 200, **context: Any) -> tuple[str, int]:
    """A portal page in the scope's brand, with the colours' legend."""
    return render_page(template, brand=scope.brand, status=status, scope=scope, legend=LEGEND, **context)


def flashes() -> list[str]:
    """The notices of the last change (shown once, after its redirect)."""
    return [str(message) for message in get_flashed_messages()]


@bp.errorhandler(NoScope)
def _no_scope(error: NoScope) -> tuple[str, int]:
    return render_page("portal/no_session.html", brand=brand_of(None), status=403, kind=error.kind)


@bp.errorhandler(SignInRequired)
def _sign_in_required(error: SignInRequired) -> Response | tuple[str, int]:
    """A rep page without a signed-in rep: a page goes to the sign-in; a change is refused, nothing changed."""
    if request.method in ("GET", "HEAD"):
        return redirect("/rep/sign-in", code=303)
    return render_page("portal/sign_in_required.html", brand=brand_of(None), status=403)


@bp.errorhandler(NotInScope)
def _not_in_scope(error: NotInScope) -> tuple[str, int]:
    scope = error.scope
    return render_page("portal/not_found.html", brand=scope.brand, status=404, scope=scope)
