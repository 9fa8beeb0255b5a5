"""Error pages: a short, friendly page with the status code, never a stack trace or exception text."""

from __future__ import annotations

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException, InternalServerError

MESSAGES = {
    400: ("Bad request", "The request could not be understood."),
    401: ("Sign in required", "Sign in to use this page."),
    403: ("Not allowed", "You don't have access to this page."),
    404: ("Page not found", "There is nothing at this address. Check the link in your email."),
    405: ("Not allowed", "This page can't be used that way."),
    429: ("Too many requests", "Too many attempts in a short time. Wait a few minutes and try again."),
    500: ("Something went wrong", "We could not complete your request. Please try again in a few minutes."),
}


def render_error(error: HTTPException) -> tuple[str, int]:
    code = error.code or 500
    title, message = MESSAGES.get(code, (error.name, "The request could not be completed."))
    return render_template("error.html", code=code, title=title, message=message), code


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, render_error)
    # Unhandled exceptions reach here as InternalServerError after Flask has logged the traceback.
    app.register_error_handler(InternalServerError, render_error)
