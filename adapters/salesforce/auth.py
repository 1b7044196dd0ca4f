"""Access tokens for Salesforce: JWT bearer, client credentials or refresh token.

Facts from salesforce.md §5: a form POST to `{login_url}/services/oauth2/token`; the answer's
`instance_url` is the host every later call goes to; there is no `expires_in` (a session ends
after inactivity), so a token is replaced only when a call answers 401 `INVALID_SESSION_ID`
(the shared client then calls `refresh` once and repeats the request). JWT bearer signs
`{iss, sub, aud, exp}` with RS256, `exp` three minutes ahead; no refresh token comes back, a new
assertion is the refresh.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import SecretStr

from connector.errors import ConfigurationError, TransientError
from connector.http import side_client
from connector.timestamps import MonotonicClock

from .settings import ClientCredentialsAuth, JwtAuth, RefreshTokenAuth, SalesforceSettings

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_SECONDS = 180
_OAUTH_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
#: Descriptions Salesforce sends that help a person and quote nothing secret.
_SAFE_DESCRIPTIONS = (
    "user hasn't approved this consumer",
    "audience is invalid",
    "invalid assertion",
    "expired authorization code",
    "client identifier invalid",
    "invalid client credentials",
    "expired access/refresh token",
    "authentication failure",
)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwt_assertion(
    private_key_pem: SecretStr, *, issuer: str, subject: str, audience: str, now: float
) -> str:
    """An RS256-signed JWT bearer assertion (RFC 7523) as Salesforce asks for it."""
    try:
        key = serialization.load_pem_private_key(
            private_key_pem.get_secret_value().encode(), password=None
        )
    except (ValueError, TypeError):
        raise ConfigurationError("Salesforce JWT private key is not a readable PEM key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigurationError("Salesforce JWT private key must be an RSA key")
    header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    claims = _b64url(
        json.dumps(
            {"iss": issuer, "sub": subject, "aud": audience, "exp": int(now) + JWT_LIFETIME_SECONDS}
        ).encode()
    )
    signing_input = f"{header}.{claims}".encode("ascii")
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{claims}.{_b64url(signature)}"


class SalesforceAuth:
    """A `TokenProvider` for one org that also learns the org's `instance_url`."""

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        base_dir: Path = Path("."),
        transport: httpx.AsyncBaseTransport | None = None,
        wall: MonotonicClock = time.time,
    ) -> None:
        self.settings = settings
        self._base_dir = base_dir
        self._wall = wall
        self._http = side_client(transport)
        self._lock = asyncio.Lock()
        self._access: SecretStr | None = None
        self.instance_url: str | None = None
        self.identity_url: str | None = None
        self.grants = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    async def token(self) -> str:
        if self._access is not None:
            return self._access.get_secret_value()
        async with self._lock:
            if self._access is not None:
                return self._access.get_secret_value()
            return await self._grant()

    async def refresh(self, stale: str | None = None) -> str:
        async with self._lock:
            current = self._access.get_secret_value() if self._access else None
            if current is not None and stale is not None and current != stale:
                return current  # another request refreshed while this one waited
            return await self._grant()

    def invalidate(self) -> None:
        self._access = None

    def _form(self) -> dict[str, str]:
        auth = self.settings.auth
        if isinstance(auth, JwtAuth):
            assertion = jwt_assertion(
                auth.resolve_private_key(self._base_dir),
                issuer=auth.client_id,
                subject=auth.username,
                audience=auth.audience,
                now=self._wall(),
            )
            return {"grant_type": JWT_GRANT, "assertion": assertion}
        if isinstance(auth, ClientCredentialsAuth):
            return {
                "grant_type": "client_credentials",
                "client_id": auth.client_id,
                "client_secret": auth.resolve_client_secret().get_secret_value(),
            }
        assert isinstance(auth, RefreshTokenAuth)
        form = {
            "grant_type": "refresh_token",
            "client_id": auth.client_id,
            "refresh_token": auth.resolve_refresh_token().get_secret_value(),
        }
        client_secret = auth.resolve_client_secret()
        if client_secret is not None:
            form["client_secret"] = client_secret.get_secret_value()
        return form

    async def _grant(self) -> str:
        url = f"{self.settings.login_url}/services/oauth2/token"
        try:
            response = await self._http.post(url, data=self._form())
        except httpx.TransportError as exc:
            raise TransientError(
                f"Salesforce token endpoint unreachable: {type(exc).__name__}"
            ) from None
        self.grants += 1
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(f"Salesforce token endpoint answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        if response.status_code != 200:
            raise TokenRefused(response.status_code, body)
        access, instance = body.get("access_token"), body.get("instance_url")
        if not isinstance(access, str) or not access or not isinstance(instance, str):
            raise ConfigurationError("Salesforce token answer lacks access_token or instance_url")
        if not instance.startswith(("https://", "http://")):
            raise ConfigurationError("Salesforce token answer has an unusable instance_url")
        self.instance_url = instance.rstrip("/")
        identity = body.get("id")
        self.identity_url = identity if isinstance(identity, str) else None
        self._access = SecretStr(access)
        return access


class TokenRefused(ConfigurationError):
    """The token endpoint said no: `status`, the OAuth `error` code and the known description
    (`hint`, one of `_SAFE_DESCRIPTIONS`), kept apart so `probe` can say what to fix."""

    def __init__(self, status: int, body: dict[str, object]) -> None:
        code = body.get("error")
        self.status = status
        self.error = code if isinstance(code, str) and _OAUTH_CODE.match(code) else "unknown"
        description = str(body.get("error_description") or "").lower()
        self.hint = next((d for d in _SAFE_DESCRIPTIONS if d in description), None)
        text = f"Salesforce refused the token request (HTTP {status}, error {self.error}"
        text += f": {self.hint})" if self.hint else ")"
        if self.hint == "user hasn't approved this consumer":
            text += "; pre-authorise the integration user's profile or permission set on the app"
        super().__init__(text)
