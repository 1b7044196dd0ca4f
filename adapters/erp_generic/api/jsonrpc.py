"""A JSON-RPC session with a Tryton-style server: `{"id", "method", "params"}` POSTed to
`<url>/<database>/rpc/` (Tryton 8: `protocols/dispatcher.py`), answered with
`{"id", "result"}` or `{"id", "error"}`.

Login is the `common.db.login` call; it answers `[user id, session]`, and every later call
carries `Authorization: Session base64(login:user id:session)` (trytond's
`protocols/wrappers.py`, "parse_session"). A session the server no longer knows (HTTP 401:
expired, server restarted) is renewed by one new login, then the call is sent again. Errors a
server raises for a record (`["UserError", [message, description, …]]`, which Tryton's access
errors are too) become `RecordError`s with the ERP's own message; a refused login is a
`ConfigurationError`. Transport failures, 429 and 5xx are retried by the shared HTTP layer.
Dates and decimals travel in the server's tagged form (`{"__class__": "Decimal", …}`).
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from pydantic import SecretStr

from connector.errors import ConfigurationError, ConnectorError, RecordError
from connector.http import ApiClient, HttpConfigurationError, HttpSettings


class ErpRefused(RecordError):
    """The ERP refused a call for one record; the message is the ERP's own."""


def encode(value: Any) -> Any:
    """Values in the server's JSON form (its tagged dates and decimals)."""
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {
            "__class__": "datetime",
            **{part: getattr(value, part) for part in _DATETIME_PARTS},
        }
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    return value


_DATETIME_PARTS = ("year", "month", "day", "hour", "minute", "second", "microsecond")


def decode(value: Any) -> Any:
    """The server's tagged values as Python values."""
    if isinstance(value, dict):
        kind = value.get("__class__")
        if kind == "Decimal":
            return Decimal(value["decimal"])
        if kind == "date":
            return dt.date(value["year"], value["month"], value["day"])
        if kind == "datetime":
            return dt.datetime(*(value.get(part, 0) for part in _DATETIME_PARTS))
        return {key: decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode(item) for item in value]
    return value


def refusal(error: Any) -> RecordError:
    """A server's `error` member as a record error with the ERP's message."""
    if isinstance(error, list) and len(error) == 2 and isinstance(error[1], list | tuple):
        kind, details = error
        message = str(details[0]) if details else str(kind)
        description = str(details[1]) if len(details) > 1 and details[1] else ""
        text = f"{message} ({description})" if description else message
        return ErpRefused(f"the ERP refused it: {text}", code=str(kind))
    if isinstance(error, list) and error:
        # An unexpected server-side exception: its text, never its traceback.
        return ErpRefused(f"the ERP failed: {str(error[0])[:300]}", code="SERVER_ERROR")
    return ErpRefused(f"the ERP failed: {str(error)[:300]}", code="SERVER_ERROR")


class JsonRpcSession:
    """Logged-in calls to one database of a JSON-RPC ERP server."""

    def __init__(
        self,
        url: str,
        database: str,
        user: str,
        password: SecretStr,
        *,
        timeout: float = 30.0,
        transport: Any = None,
    ) -> None:
        settings = HttpSettings.model_validate(
            {
                "base_url": url.rstrip("/"),
                "max_attempts": 3,
                "timeout": {"read": timeout, "write": timeout},
            }
        )
        extra = {"transport": transport} if transport is not None else {}
        self._client = ApiClient(settings, name="erp-api", **extra)
        self._path = f"/{database}/rpc/"
        self._user = user
        self._password = password
        self._header: str | None = None
        self._ids = itertools.count(1)

    async def close(self) -> None:
        """Log out (the server drops its session row: runs leave none behind), then close."""
        try:
            if self._header is not None:
                header, self._header = self._header, None
                body = {"id": next(self._ids), "method": "common.db.logout", "params": []}
                headers = {"Authorization": header}
                await self._client.request("POST", self._path, json=body, headers=headers)
        except ConnectorError:
            pass  # an expired session or a server gone: nothing left to log out of
        finally:
            await self._client.aclose()

    async def login(self) -> None:
        body = {
            "id": next(self._ids),
            "method": "common.db.login",
            "params": [self._user, {"password": self._password.get_secret_value()}, "en"],
        }
        try:
            response = await self._client.request("POST", self._path, json=body, idempotent=True)
        except (RecordError, ConfigurationError):
            raise ConfigurationError(
                f"the ERP refused the login of {self._user!r} (check the user and password)"
            ) from None
        answer = response.json()
        result = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(result, list) or len(result) < 2:
            raise ConfigurationError(f"the ERP refused the login of {self._user!r}")
        user_id, session = result[0], result[1]
        token = base64.b64encode(f"{self._user}:{user_id}:{session}".encode()).decode()
        self._header = f"Session {token}"

    async def call(self, method: str, *params: Any, repeatable: bool = False) -> Any:
        """`method(*params)` on the server; a refusal raises `ErpRefused`."""
        if self._header is None:
            await self.login()
        try:
            return await self._send(method, params, repeatable)
        except HttpConfigurationError as error:
            if error.status != HTTPStatus.UNAUTHORIZED:
                raise
        await self.login()  # the session expired: one new login, then the call again
        return await self._send(method, params, repeatable)

    async def _send(self, method: str, params: tuple[Any, ...], repeatable: bool) -> Any:
        assert self._header is not None
        body = {"id": next(self._ids), "method": method, "params": encode(list(params))}
        response = await self._client.request(
            "POST",
            self._path,
            json=body,
            headers={"Authorization": self._header},
            idempotent=repeatable,
        )
        answer = response.json()
        if not isinstance(answer, dict):
            raise ErpRefused("the ERP answered something that is not JSON-RPC", code="PROTOCOL")
        if answer.get("error") is not None:
            raise refusal(answer["error"])
        return decode(answer.get("result"))
