"""HTTP-flavoured members of the core error hierarchy (`connector.errors`).

Each carries the facts an operator needs — method, path without query string, status, the API's
own error code and message — and never a request body, header or token.
"""

from __future__ import annotations

from connector.errors import ConfigurationError, RecordError, TransientError

MAX_API_MESSAGE = 500


def clip(message: str) -> str:
    """API messages are quoted in errors and logs; keep them to a readable size."""
    message = " ".join(message.split())
    return message if len(message) <= MAX_API_MESSAGE else message[: MAX_API_MESSAGE - 1] + "…"


class HttpRecordError(RecordError):
    """The API rejected this request for reasons of the record itself (validation, conflict)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        category: str | None = None,
        api_message: str = "",
    ) -> None:
        super().__init__(message, code=code or category)
        self.status = status
        self.category = category
        self.api_message = api_message


class HttpConfigurationError(ConfigurationError):
    """The API refused in a way only a person can fix (credentials, scopes, base URL)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class ServerError(TransientError):
    """A 5xx or similar answer that may go away if asked again."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class TransportError(TransientError):
    """No usable answer: connect failure, reset, timeout. `sent` says the server may have acted."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class RetriesExhaustedError(TransientError):
    """Every allowed attempt failed; names the request and how hard we tried."""

    def __init__(
        self, message: str, *, method: str, path: str, attempts: int, last: Exception
    ) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.attempts = attempts
        self.last = last
