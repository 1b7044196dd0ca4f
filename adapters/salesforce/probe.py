"""`SalesforceAdapter.probe()`: do the credentials, the login URL, the instance, the API version
and the integration user's object access all work, right now?

Two requests, one attempt each (a health check that backs off for a minute before saying
"unreachable" helps nobody):

1. a token from `{login_url}/services/oauth2/token` with the configured grant (salesforce.md §5),
   fresh rather than the adapter's cached session, so a key, secret or approval withdrawn since
   the adapter opened shows here; each documented refusal becomes what to change;
2. `GET {instance_url}/services/data/{api_version}/sobjects/` (describeGlobal): one API call
   that proves the instance answers, the session works, the API version exists (404 otherwise)
   and lists the objects this user can see with their `queryable`/`retrieveable` flags, so a
   missing Read permission on Account, Contact, Opportunity or OpportunityLineItem is named
   ("the objects available in your org and available to the logged-in user",
   https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_describeGlobal.htm).
   Its `Sforce-Limit-Info` header (salesforce.md §4.4) gives the org's usage for free: once
   the sync's share of the daily allocation (`limits.daily_share`) is spent, the probe says so.

`/limits` would show the allocation too, but needs "View Setup and Configuration", which an
integration user rarely has, and says nothing about object access. Cost: one API call per probe;
`/readyz` caches a verdict for `connector.daemon.health.DEFAULT_TTL_SECONDS` (60 s), so a daemon
polled without pause spends at most 1,440 calls a day on it (see BEHAVIOR.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from connector.errors import ConfigurationError, Problem, TransientError
from connector.http import side_client

from .auth import SalesforceAuth, TokenRefused
from .client import share_parser
from .errors import parse_salesforce_error
from .objects import LINE_OBJECT, SPECS
from .settings import ClientCredentialsAuth, JwtAuth, RefreshTokenAuth

if TYPE_CHECKING:
    from connector.model import Entity

    from .adapter import SalesforceAdapter

GENERIC_LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")


async def probe(adapter: SalesforceAdapter, entities: frozenset[Entity]) -> list[Problem]:
    """Problems found by a fresh token and one describeGlobal call; empty when all is well."""
    where = f"systems.{adapter.name}"
    auth = SalesforceAuth(
        adapter.settings, base_dir=adapter._base_dir, transport=adapter._transport
    )
    try:
        try:
            token = await auth.token()
        except TokenRefused as refused:
            return [Problem(where, token_fix(adapter, refused))]
        except TransientError as error:
            return [Problem(where, login_unreachable(adapter, str(error)))]
        except ConfigurationError as error:  # a key file, an env var, a bad token answer
            return [Problem(where, str(error))]
        assert auth.instance_url is not None
        return [
            Problem(where, text) for text in await _describe_global(adapter, auth, token, entities)
        ]
    finally:
        await auth.aclose()


def needed_objects(entities: frozenset[Entity]) -> list[str]:
    """The sObjects the routes read and write, lines included for sales."""
    names = [SPECS[entity].sobject for entity in sorted(entities) if entity in SPECS]
    if any(entity.value == "sale" for entity in entities):
        names.append(LINE_OBJECT)
    return names


def token_fix(adapter: SalesforceAdapter, refused: TokenRefused) -> str:
    """What a token refusal means for this configuration, and what to change."""
    settings, at = adapter.settings, f"systems.{adapter.name}.settings"
    auth = settings.auth
    said = str(refused)
    if refused.status == 404 or refused.error == "unknown":
        return (
            f"{settings.login_url} did not answer like a Salesforce login host (HTTP "
            f"{refused.status}); set {at}.login_url to https://login.salesforce.com, "
            "https://test.salesforce.com or the org's My Domain URL"
        )
    if refused.error == "invalid_client_id":
        return (
            f"{said}; {at}.auth.client_id ({auth.client_id}) is not the consumer key of a "
            "connected app in this org: copy it from the app's 'Manage Consumer Details'"
        )
    if isinstance(auth, JwtAuth):
        return f"{said}; {_jwt_fix(refused, auth, at)}"
    if isinstance(auth, ClientCredentialsAuth):
        fix = (
            f"check the consumer secret (${auth.client_secret_env or 'SALESFORCE_CLIENT_SECRET'}"
            f" or {at}.auth.client_secret) and that the connected app enables the client "
            "credentials flow with a Run As user"
        )
        host = (urlsplit(settings.login_url).hostname or "").lower()
        if host in GENERIC_LOGIN_HOSTS:
            fix += f"; {at}.login_url must be the org's My Domain URL"
        return f"{said}; {fix}"
    assert isinstance(auth, RefreshTokenAuth)
    if refused.hint == "expired access/refresh token":
        return (
            f"{said}; the refresh token was revoked or has expired: authorise the app again and "
            f"set ${auth.refresh_token_env or 'SALESFORCE_REFRESH_TOKEN'} to the new one"
        )
    return f"{said}; check {at}.auth.client_id and the client secret of the connected app"


def _jwt_fix(refused: TokenRefused, auth: JwtAuth, at: str) -> str:
    # The same precedence as `JwtAuth.resolve_private_key`: file, then inline, then env var.
    if auth.private_key_file is not None:
        key = f"{at}.auth.private_key_file ({auth.private_key_file})"
    elif auth.private_key is not None and auth.private_key.get_secret_value():
        key = f"{at}.auth.private_key"
    else:
        key = f"${auth.private_key_env}" if auth.private_key_env else f"{at}.auth.private_key"
    if refused.hint == "user hasn't approved this consumer":
        return (
            f"in the connected app set 'Permitted Users' to 'Admin approved users are "
            f"pre-authorized' and add the profile or a permission set of {auth.username} to it; "
            f"check {at}.auth.username is that user"
        )
    if refused.hint == "audience is invalid":
        return (
            f"{at}.auth.audience ({auth.audience}) must be https://test.salesforce.com for a "
            "sandbox org and https://login.salesforce.com for production"
        )
    if refused.hint == "expired authorization code":
        return "the assertion arrived expired: set this machine's clock right (NTP)"
    if refused.hint == "invalid assertion":
        return (
            f"the key in {key} does not match the certificate uploaded to the connected app "
            "('Use digital signatures'): upload this key's certificate or use the matching key"
        )
    if refused.error == "invalid_client":
        return "upload the certificate of the signing key to the connected app"
    return f"check {key}, {at}.auth.client_id and {at}.auth.username"


def login_unreachable(adapter: SalesforceAdapter, said: str) -> str:
    return (
        f"{said} at {adapter.settings.login_url}; check systems.{adapter.name}.settings."
        "login_url (https://login.salesforce.com, https://test.salesforce.com or the org's My "
        "Domain URL; the sandbox's http://127.0.0.1:8082 from `connector sandbox salesforce`)"
    )


async def _describe_global(
    adapter: SalesforceAdapter, auth: SalesforceAuth, token: str, entities: frozenset[Entity]
) -> list[str]:
    settings, at = adapter.settings, f"systems.{adapter.name}.settings"
    instance = auth.instance_url
    url = f"{instance}{settings.data_path}/sobjects/"
    headers = {
        "Authorization": f"Bearer {token}",
        "Sforce-Call-Options": f"client={settings.client_name}",
    }
    async with side_client(adapter._transport) as http:
        try:
            response = await http.get(url, headers=headers)
        except httpx.TransportError as exc:
            return [
                f"the org's instance {instance} (from the token answer) is not reachable "
                f"({type(exc).__name__}); check the network path to it"
            ]
    code = parse_salesforce_error(response).code or ""
    if response.status_code == 401:
        return [
            f"Salesforce at {instance} refused the session it just granted (HTTP 401 {code}); "
            "check the integration user is active and the connected app's session policies "
            "allow API access"
        ]
    if response.status_code == 404:
        return [
            f"Salesforce at {instance} does not know API version {settings.api_version} (HTTP "
            f"404 on {settings.data_path}/sobjects/); set {at}.api_version to one listed at "
            f"{instance}/services/data"
        ]
    if response.status_code == 403 and code == "REQUEST_LIMIT_EXCEEDED":
        return [f"the org's daily API allocation is spent (HTTP 403 {code}); wait, or buy more"]
    if response.status_code == 403:
        return [
            f"Salesforce at {instance} refused the API to the integration user (HTTP 403 {code}); "
            "give its profile or a permission set 'API Enabled'"
        ]
    if response.status_code != 200:
        return [f"Salesforce at {instance} answered HTTP {response.status_code} {code}".rstrip()]
    problems = _unreadable(_sobjects(response), needed_objects(entities))
    hint = share_parser(settings.limits.daily_share)(response.headers)
    if hint is not None and hint.remaining <= 0:
        problems.append(
            f"the sync's share of the org's daily API allocation ({at}.limits.daily_share = "
            f"{settings.limits.daily_share:g}, {hint.limit} calls) is spent "
            f"({response.headers.get('Sforce-Limit-Info')}); runs would stop at once: wait for "
            "the rolling 24 hours to free calls, or raise daily_share"
        )
    return problems


def _sobjects(response: httpx.Response) -> dict[str, dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return {}
    rows = body.get("sobjects") if isinstance(body, dict) else None
    return {str(row.get("name")).lower(): row for row in rows or [] if isinstance(row, dict)}


def _unreadable(listed: dict[str, dict[str, Any]], needed: list[str]) -> list[str]:
    """The objects the user cannot query and retrieve: describeGlobal leaves out an object the
    user has no access to, and flags one it can see but not query."""
    missing = [
        name
        for name in needed
        if not (row := listed.get(name.lower()))
        or not (row.get("queryable") and row.get("retrieveable"))
    ]
    if not missing:
        return []
    return [
        f"the integration user cannot read {', '.join(missing)} (not queryable in describeGlobal); "
        "grant Read on them in its profile or a permission set"
    ]
