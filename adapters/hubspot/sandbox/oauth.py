"""OAuth 2.0 token endpoint emulation and bearer-token checks.

Token endpoint (hubspot.md §7): form-encoded POST to /oauth/v1/token or /oauth/v3/token with
grant_type=refresh_token, client_id, client_secret, refresh_token; the answer carries
access_token, refresh_token, expires_in (1800 s by default), token_type "bearer", hub_id,
scopes, token_use. A bad refresh token gets 400 `BAD_REFRESH_TOKEN` (the form HubSpot's OAuth
errors take in community reports; the reference does not give it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from .errors import ApiError, JsonDict, correlation_id
from .settings import SandboxOptions

SCOPES = [
    f"crm.objects.{kind}.{mode}"
    for kind in ("companies", "contacts", "deals", "line_items", "products")
    for mode in ("read", "write")
] + ["crm.schemas.companies.write", "crm.schemas.contacts.write", "crm.schemas.deals.write"]


@dataclass(frozen=True)
class Caller:
    token: str
    oauth: bool


class OAuthError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> JsonDict:
        return {"status": self.code, "message": self.message, "correlationId": correlation_id()}


class TokenIssuer:
    """Issues access tokens for refresh tokens and tells which tokens are still good."""

    def __init__(self) -> None:
        self._expiry_ms: dict[str, int] = {}
        self.issued = 0

    def reset(self) -> None:
        self._expiry_ms.clear()
        self.issued = 0

    def grant(self, form: dict[str, str], options: SandboxOptions, now_ms: int) -> JsonDict:
        grant_type = form.get("grant_type")
        if grant_type != "refresh_token":
            raise OAuthError(400, "BAD_GRANT_TYPE", f"unsupported grant_type: {grant_type}")
        if form.get("client_id") != options.oauth_client_id:
            raise OAuthError(400, "BAD_CLIENT_ID", "missing or unknown client id")
        if not secrets.compare_digest(form.get("client_secret", ""), options.oauth_client_secret):
            raise OAuthError(400, "BAD_CLIENT_SECRET", "missing or invalid client secret")
        refresh = form.get("refresh_token", "")
        if refresh not in options.oauth_refresh_tokens:
            raise OAuthError(400, "BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        token = "sbx-oauth-" + secrets.token_urlsafe(24)
        self._expiry_ms[token] = now_ms + options.access_token_ttl_s * 1000
        self.issued += 1
        return {
            "access_token": token,
            "refresh_token": refresh,
            "expires_in": options.access_token_ttl_s,
            "token_type": "bearer",
            "hub_id": options.portal_id,
            "user_id": 1,
            "scopes": SCOPES,
            "token_use": "access_token",
        }

    def authenticate(
        self, authorization: str | None, options: SandboxOptions, now_ms: int
    ) -> Caller:
        """The caller behind an `Authorization: Bearer` header, or a 401 ApiError."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and private app or service key access tokens.",
            )
        if any(secrets.compare_digest(token, good) for good in options.access_tokens):
            return Caller(token, oauth=False)
        expiry = self._expiry_ms.get(token)
        if expiry is None:
            raise ApiError(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials are not valid: the access token is unknown.",
            )
        if now_ms >= expiry:
            raise ApiError(
                401,
                "EXPIRED_AUTHENTICATION",
                "The OAuth token used to make this call expired.",
            )
        return Caller(token, oauth=True)

    def metadata(self, token: str, options: SandboxOptions, now_ms: int) -> JsonDict:
        expiry = self._expiry_ms.get(token)
        if expiry is None or now_ms >= expiry:
            raise OAuthError(404, "NOT_FOUND", "access token not found or expired")
        return {
            "token": token,
            "hub_id": options.portal_id,
            "app_id": options.app_id,
            "expires_in": (expiry - now_ms) // 1000,
            "user_id": 1,
            "token_type": "access",
            "scopes": SCOPES,
        }
