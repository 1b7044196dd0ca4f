"""`HubSpotAdapter.probe()`: is the account reachable, is the token accepted, are scopes there?

One cheap authenticated read per object type the sync uses (`GET /crm/v3/objects/{type}?limit=1`)
and one property read per synced object (`GET /crm/v3/properties/{type}/connector_key`). Each
needs exactly the read scope of its object (hubspot.md §7 "Scopes for this sync"), so a 403
`MISSING_SCOPES` names the missing scope; a 401 means the token itself was refused (hubspot.md
§5.3); a 404 on the property means `connector hubspot setup` has not run. Write scopes cannot be
checked without writing; a missing one shows on the first write as a 403 naming it.

Probes make one attempt each (no retries): a health check that waits a minute of back-off
before saying "unreachable" is no help to the person running it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.errors import ConfigurationError, ConnectorError, Problem, RecordError
from connector.http import HttpRecordError, LimiterRegistry

from .objects import CONNECTOR_KEY, LINE_ITEMS, spec
from .settings import OAuthAuth

if TYPE_CHECKING:
    from connector.model import Entity

    from .adapter import HubSpotAdapter
    from .client import HubSpotClient


def _credential_hint(adapter: HubSpotAdapter) -> str:
    auth = adapter.settings.auth
    if isinstance(auth, OAuthAuth):
        return (
            f"check the OAuth client ({auth.client_id}) and the refresh token "
            f"(${auth.refresh_token_env or 'HUBSPOT_REFRESH_TOKEN'})"
        )
    where = f"${auth.token_env}" if auth.token_env else "auth.token in config.yaml"
    return f"set {where} to a valid private-app token or service key"


def _explain(adapter: HubSpotAdapter, error: ConnectorError) -> str:
    status = getattr(error, "status", None)
    text = str(error)
    base = adapter.settings.base_url
    if status == 401 or "credentials rejected" in text or "token was rejected" in text:
        return (
            f"HubSpot at {base} rejected the access token (HTTP 401); {_credential_hint(adapter)}"
        )
    if status == 403:
        return (
            f"{text}; grant the private app or service key the missing scopes, then run "
            "`connector check` again"
        )
    if status is None and isinstance(error, ConfigurationError):
        return text
    if status is None:
        return (
            f"HubSpot is not reachable at {base} ({text}); check systems.{adapter.name}.settings."
            "base_url (https://api.hubapi.com, or the sandbox's http://127.0.0.1:8081 started "
            "with `connector sandbox hubspot`)"
        )
    return f"HubSpot at {base} answered {text}; check systems.{adapter.name}.settings.base_url"


async def probe(adapter: HubSpotAdapter, entities: frozenset[Entity]) -> list[Problem]:
    """Problems found by a few cheap authenticated reads; empty when all is well."""
    from .client import HubSpotClient

    limits = adapter.settings.limits.model_copy(update={"max_attempts": 1})
    client = HubSpotClient(
        adapter.settings.model_copy(update={"limits": limits}),
        name=adapter.name,
        transport=adapter._transport,
        # Its own limiters: `/readyz` probes from the receiver's event loop (another thread),
        # and a handful of reads a minute need no share of the sync's budget.
        registry=LimiterRegistry(),
    )
    where = f"systems.{adapter.name}"
    try:
        types = [spec(entity).object_type for entity in sorted(entities)]
        if any(entity.value == "sale" for entity in entities):
            types.append(LINE_ITEMS)
        for object_type in types:
            problem = await _read_one(client, object_type, adapter)
            if problem is not None:
                return [Problem(where, problem)]  # the first refusal explains the rest
        missing = [
            object_type
            for object_type in types
            if object_type != LINE_ITEMS and not await _has_key_property(client, object_type)
        ]
    except ConfigurationError as error:  # a token that cannot even be resolved
        return [Problem(where, str(error))]
    finally:
        await client.aclose()
    if missing:
        return [
            Problem(
                where,
                f"HubSpot has no {CONNECTOR_KEY!r} property on {', '.join(missing)}; "
                "run `connector hubspot setup` once",
            )
        ]
    return []


async def _read_one(client: HubSpotClient, object_type: str, adapter: HubSpotAdapter) -> str | None:
    try:
        await client.call("GET", client.paths.objects(object_type), params={"limit": 1})
    except RecordError as error:  # a 404 here: the base URL is not HubSpot's API
        status = getattr(error, "status", "?")
        return (
            f"{adapter.settings.base_url} answered HTTP {status} for the {object_type} list; "
            f"is systems.{adapter.name}.settings.base_url the HubSpot API?"
        )
    except ConnectorError as error:
        return _explain(adapter, getattr(error, "last", None) or error)
    return None


async def _has_key_property(client: HubSpotClient, object_type: str) -> bool:
    try:
        await client.call("GET", f"{client.paths.properties(object_type)}/{CONNECTOR_KEY}")
    except HttpRecordError as error:
        if error.status == 404:
            return False
        raise
    return True
