"""HubSpot-shaped error bodies, and the exception route handlers raise to send one.

Shape from the error-handling docs (reference hubspot.md §6): `status`, `message`,
`correlationId`, `category`, optional `subCategory`, `errors[]`, `context`, `links`.
"""

from __future__ import annotations

import uuid
from typing import Any

JsonDict = dict[str, Any]


def correlation_id() -> str:
    return str(uuid.uuid4())


def error_body(
    category: str,
    message: str,
    *,
    sub_category: str | None = None,
    errors: list[JsonDict] | None = None,
    context: dict[str, list[str]] | None = None,
) -> JsonDict:
    body: JsonDict = {
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": category,
    }
    if sub_category is not None:
        body["subCategory"] = sub_category
    if errors:
        body["errors"] = errors
    if context:
        body["context"] = context
    body["links"] = {}
    return body


class ApiError(Exception):
    """A request (or one batch input) failed; carries the HTTP status and HubSpot body parts."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        sub_category: str | None = None,
        errors: list[JsonDict] | None = None,
        context: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.sub_category = sub_category
        self.errors = errors or []
        self.context = dict(context or {})

    def body(self) -> JsonDict:
        return error_body(
            self.category,
            self.message,
            sub_category=self.sub_category,
            errors=self.errors,
            context=self.context,
        )

    def batch_entry(self, trace_id: str | None) -> JsonDict:
        """The `StandardError` entry of a 207 response; the trace id goes back in `context`."""
        context = dict(self.context)
        if trace_id is not None:
            context["objectWriteTraceId"] = [trace_id]
        entry: JsonDict = {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": context,
            "errors": self.errors,
            "links": {},
        }
        if self.sub_category is not None:
            entry["subCategory"] = self.sub_category
        return entry


def validation(message: str, *, code: str | None = None, **context: list[str]) -> ApiError:
    errors = [{"message": message, "code": code, "context": context}] if code else None
    return ApiError(400, "VALIDATION_ERROR", message, errors=errors, context=context or None)


def not_found(message: str = "resource not found", **context: list[str]) -> ApiError:
    return ApiError(404, "OBJECT_NOT_FOUND", message, context=context or None)


def conflict(message: str, **context: list[str]) -> ApiError:
    return ApiError(409, "CONFLICT", message, context=context or None)
