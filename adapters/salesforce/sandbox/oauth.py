"""The sandbox's OAuth 2.0 token endpoint: JWT bearer, client credentials and refresh token.

Facts from salesforce.md §5: every grant is a form POST to `/services/oauth2/token`; the answer
carries `access_token`, `instance_url` (the host to call from then on), `id`
(`…/id/{orgId}/{userId}`), `token_type`, `issued_at` in milliseconds and `signature` — and no
`expires_in` and, for JWT and client credentials, no refresh token. The JWT bearer assertion is
RS256, signed by the key whose certificate is uploaded to the connected app: `iss` the consumer
key, `sub` the username, `aud` the login host, `exp` no later than 3 minutes ahead (we refuse an
expired one). Failures are 400 `{"error": "invalid_grant", "error_description": …}` (or
`invalid_client`). Sessions end after `session_seconds` unused (2 hours by default).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_EXP_AHEAD_SECONDS = 180
#: Leeway for clock skew between the client and us.
SKEW_SECONDS = 30


class OAuthRefused(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass
class Session:
    user_id: str
    last_used: float


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """A certificate (what the connected app holds) or a bare public key."""
    key: object = (
        x509.load_pem_x509_certificate(pem).public_key()
        if b"CERTIFICATE" in pem
        else serialization.load_pem_public_key(pem)
    )
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the connected app's certificate must hold an RSA key")
    return key


def verify_jwt(assertion: str, key: rsa.RSAPublicKey) -> dict[str, Any]:
    """The claims of an RS256 JWT whose signature `key` verifies; OAuthRefused otherwise."""
    try:
        header_b64, claims_b64, signature_b64 = assertion.split(".")
        header = json.loads(_b64url_decode(header_b64))
        claims = json.loads(_b64url_decode(claims_b64))
        signature = _b64url_decode(signature_b64)
    except (ValueError, TypeError):
        raise OAuthRefused("invalid_grant", "invalid assertion") from None
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        raise OAuthRefused("invalid_grant", "invalid assertion: alg must be RS256")
    try:
        key.verify(
            signature,
            f"{header_b64}.{claims_b64}".encode("ascii"),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        raise OAuthRefused("invalid_grant", "invalid assertion: signature") from None
    if not isinstance(claims, dict):
        raise OAuthRefused("invalid_grant", "invalid assertion")
    return claims


class TokenIssuer:
    """Grants and remembers sessions."""

    def __init__(
        self,
        *,
        consumer_key: str,
        consumer_secret: str,
        public_key_pem: bytes | None,
        refresh_tokens: dict[str, str],
        audiences: tuple[str, ...],
        session_seconds: float,
    ) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.public_key = load_public_key(public_key_pem) if public_key_pem else None
        self.refresh_tokens = dict(refresh_tokens)  # refresh token → username
        self.audiences = audiences
        self.session_seconds = session_seconds
        self.sessions: dict[str, Session] = {}
        self.grants = 0

    def grant(
        self,
        form: dict[str, str],
        *,
        basic: tuple[str, str] | None,
        users: dict[str, str],
        run_as: str,
        now: float,
    ) -> str:
        """An access token for the form's grant; `users` maps active usernames → ids."""
        kind = form.get("grant_type", "")
        if kind == JWT_GRANT:
            user_id = self._jwt_user(form.get("assertion", ""), users, now)
        elif kind == "client_credentials":
            client_id, client_secret = basic or (form.get("client_id"), form.get("client_secret"))
            self._check_client(client_id, client_secret)
            user_id = users[run_as]
        elif kind == "refresh_token":
            self._check_client(
                form.get("client_id"), form.get("client_secret"), secret_optional=True
            )
            username = self.refresh_tokens.get(form.get("refresh_token", ""))
            if username is None or username not in users:
                raise OAuthRefused("invalid_grant", "expired access/refresh token")
            user_id = users[username]
        elif kind == "password":
            raise OAuthRefused(
                "invalid_grant", "authentication failure (username-password flow is disabled)"
            )
        else:
            raise OAuthRefused("unsupported_grant_type", "grant type not supported")
        token = "00D" + secrets.token_urlsafe(8) + "!" + secrets.token_urlsafe(40)
        self.sessions[token] = Session(user_id, now)
        self.grants += 1
        return token

    def _check_client(
        self, client_id: str | None, secret: str | None, *, secret_optional: bool = False
    ) -> None:
        if client_id != self.consumer_key:
            raise OAuthRefused("invalid_client_id", "client identifier invalid")
        if secret is None and secret_optional:
            return
        if secret is None or not hmac.compare_digest(secret, self.consumer_secret):
            raise OAuthRefused("invalid_client", "invalid client credentials")

    def _jwt_user(self, assertion: str, users: dict[str, str], now: float) -> str:
        if self.public_key is None:
            raise OAuthRefused("invalid_client", "no certificate is configured for this app")
        claims = verify_jwt(assertion, self.public_key)
        if claims.get("iss") != self.consumer_key:
            raise OAuthRefused("invalid_client_id", "client identifier invalid")
        if claims.get("aud") not in self.audiences:
            raise OAuthRefused("invalid_grant", "audience is invalid")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp < now - SKEW_SECONDS:
            raise OAuthRefused("invalid_grant", "expired authorization code")
        if exp > now + MAX_EXP_AHEAD_SECONDS + SKEW_SECONDS:
            raise OAuthRefused("invalid_grant", "invalid assertion: exp too far ahead")
        user = users.get(str(claims.get("sub")))
        if user is None:
            raise OAuthRefused("invalid_grant", "user hasn't approved this consumer")
        return user

    def check(self, token: str | None, now: float) -> str | None:
        """The session's user id, or None if the token is unknown or expired."""
        session = self.sessions.get(token or "")
        if session is None:
            return None
        if now - session.last_used > self.session_seconds:
            del self.sessions[token or ""]
            return None
        session.last_used = now
        return session.user_id

    def revoke_all(self) -> None:
        self.sessions.clear()

    def signature(self, identity_url: str, issued_at: str) -> str:
        digest = hmac.new(
            self.consumer_secret.encode(), (identity_url + issued_at).encode(), hashlib.sha256
        ).digest()
        return base64.b64encode(digest).decode("ascii")
