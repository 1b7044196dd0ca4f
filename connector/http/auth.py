"""Where access tokens come from, and how a stale one is replaced.

A `TokenProvider` hands the client a bearer token and, when the server rejects it, a fresh one.
`refresh(stale)` is told which token failed: when fifty requests fail with the same token at
once, the first caller refreshes (under a lock) and the other forty-nine get the new token
without a second round trip, which also protects grants whose refresh tokens rotate.

Tokens are refreshed proactively before `expires_in` runs out (some providers' usage guidelines
say a 401 is not a reliable sign that a token needs refreshing; see the CRM reference notes on
authentication), and a rotated refresh token from the token response replaces the old one
(RFC 6749 §6).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import httpx
from pydantic import SecretStr

from connector.errors import ConfigurationError, TransientError
from connector.http.settings import Timeouts, default_user_agent
from connector.timestamps import MonotonicClock

# Refresh this long before the server's expiry, so a token never expires mid-request.
DEFAULT_REFRESH_MARGIN_SECONDS = 120.0
_TOKEN_FIELDS = frozenset({"access_token", "refresh_token", "id_token"})
_OAUTH_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@runtime_checkable
class TokenProvider(Protocol):
    """Supplies the bearer token; never logs or reveals it in messages."""

    async def token(self) -> str:
        """The current token, refreshed first if it is about to expire."""
        ...

    async def refresh(self, stale: str | None = None) -> str:
        """A new token; if `stale` is no longer current, the current one without refreshing."""
        ...

    def invalidate(self) -> None:
        """Forget the cached token: the next `token()` fetches a new one."""
        ...


class StaticToken:
    """A long-lived token from configuration (API key, private-app token). Cannot refresh."""

    def __init__(self, secret: SecretStr) -> None:
        self._secret = secret

    async def token(self) -> str:
        return self._secret.get_secret_value()

    async def refresh(self, stale: str | None = None) -> str:
        raise ConfigurationError(
            "the configured access token was rejected; replace it in the environment"
        )

    def invalidate(self) -> None:
        """Nothing cached to forget."""


class OAuthRefreshTokenProvider:
    """OAuth 2.0 refresh-token grant (RFC 6749 §6) against a token endpoint.

    `on_token` receives the non-secret fields of each token response (e.g. an instance URL);
    the token values themselves are removed first.
    """

    def __init__(
        self,
        token_url: str,
        *,
        client_id: SecretStr,
        client_secret: SecretStr,
        refresh_token: SecretStr,
        refresh_margin_seconds: float = DEFAULT_REFRESH_MARGIN_SECONDS,
        http: httpx.AsyncClient | None = None,
        clock: MonotonicClock = time.monotonic,
        on_token: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._margin = refresh_margin_seconds
        self._clock = clock
        self._on_token = on_token
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(**Timeouts().model_dump()),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": default_user_agent()},
        )
        self._lock = asyncio.Lock()
        self._access: SecretStr | None = None
        self._expires_at: float | None = None
        self.refresh_count = 0

    @property
    def refresh_token_value(self) -> SecretStr:
        """The refresh token now in force (rotated ones replace the configured one)."""
        return self._refresh_token

    def _fresh(self) -> str | None:
        if self._access is None:
            return None
        if self._expires_at is not None and self._clock() >= self._expires_at - self._margin:
            return None
        return self._access.get_secret_value()

    async def token(self) -> str:
        current = self._fresh()
        if current is not None:
            return current
        async with self._lock:
            current = self._fresh()
            if current is not None:
                return current
            return await self._grant()

    async def refresh(self, stale: str | None = None) -> str:
        async with self._lock:
            current = self._access.get_secret_value() if self._access else None
            if current is not None and stale is not None and current != stale:
                return current  # someone else refreshed while we waited for the lock
            return await self._grant()

    def invalidate(self) -> None:
        self._access = None
        self._expires_at = None

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def _grant(self) -> str:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id.get_secret_value(),
            "client_secret": self._client_secret.get_secret_value(),
            "refresh_token": self._refresh_token.get_secret_value(),
        }
        try:
            response = await self._http.post(self._token_url, data=form)
        except httpx.TransportError as exc:
            raise TransientError(f"token endpoint unreachable: {type(exc).__name__}") from None
        self.refresh_count += 1
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(f"token endpoint answered HTTP {response.status_code}")
        body = _json_object(response)
        if response.status_code != 200:
            code = body.get("error")
            shown = code if isinstance(code, str) and _OAUTH_ERROR_CODE.match(code) else "unknown"
            raise ConfigurationError(
                f"token refresh refused (HTTP {response.status_code}, error {shown}); "
                "re-authorise the connection"
            )
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise ConfigurationError("token endpoint answered without an access_token")
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated:
            self._refresh_token = SecretStr(rotated)
        expires_in = body.get("expires_in")
        self._expires_at = (
            self._clock() + float(expires_in)
            if isinstance(expires_in, int | float | str) and _is_number(expires_in)
            else None
        )
        self._access = SecretStr(access)
        if self._on_token is not None:
            public = {k: v for k, v in body.items() if k not in _TOKEN_FIELDS}
            self._on_token(public)
        return access


def _is_number(value: int | float | str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
