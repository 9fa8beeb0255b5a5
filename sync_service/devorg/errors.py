"""Errors the stand-in answers with, in Salesforce's shapes and statuses.

REST errors are a JSON *list* of ``{"message", "errorCode"[, "fields"]}``: simple-salesforce indexes
``[0]["errorCode"]`` on a 401, so any other shape would break its re-login path.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A REST error: HTTP status, Salesforce error code and message."""

    def __init__(self, status: int, error_code: str, message: str, fields: list[str] | None = None):
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        item: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            item["fields"] = self.fields
        return [item]

    def record_error(self) -> dict[str, Any]:
        """The per-record form used inside sObject Collections and composite results."""
        return {"statusCode": self.error_code, "message": self.message, "fields": self.fields or []}


def malformed_query(message: str) -> ApiError:
    return ApiError(400, "MALFORMED_QUERY", message)


def invalid_field(message: str, fields: list[str] | None = None) -> ApiError:
    return ApiError(400, "INVALID_FIELD", message, fields)


def invalid_type(message: str) -> ApiError:
    return ApiError(400, "INVALID_TYPE", message)


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def invalid_session() -> ApiError:
    return ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def request_limit_exceeded() -> ApiError:
    return ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")


def unable_to_lock_row() -> ApiError:
    return ApiError(400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")


def soql_position_message(soql: str, column: int, text: str) -> str:
    """Salesforce's error layout: the query, a caret under the offending token, row and column."""
    line = soql.replace("\n", " ")
    caret = " " * max(column - 1, 0) + "^"
    return f"\n{line}\n{caret}\nERROR at Row:1:Column:{column}\n{text}"
