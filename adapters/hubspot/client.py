"""The HubSpot client: the shared `ApiClient` with HubSpot's error table, auth and limits.

Three endpoint classes are limited separately because HubSpot counts them separately
(hubspot.md §2, §3.1, §5): the general burst limit (190 per 10 s on Professional), CRM search
(5 per second per account, carries no rate-limit headers) and the v4 association batches (exempt
from the burst limit, with their own).

The burst window's headers (`X-HubSpot-RateLimit-Remaining`, `-Max`, `-Interval-Milliseconds`,
hubspot.md §5.2) are fed to the general limiter, so a process starts from the quota HubSpot
reports rather than from an empty window: after a restart the previous process's requests still
count on HubSpot's side for up to ten seconds, and a limiter that ignored that drew hundreds of
429s. The limiter only *adopts* a count lower than its own (see `connector.http.ratelimit`); it
does not pace on top of its own window, which throttled twice before (bench/hubspot_push.py
measured 67 % of the 1,900 records/s ceiling with pacing and 99 % without). Search responses
carry no such headers, and the association batches are exempt from the burst window their
headers describe, so only the general class listens. The burst limit is per app, so processes
sharing one app split `limits.burst_requests` between them; a 429 that still happens is waited
out as the error table says.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from connector.http import (
    DEFAULT_REGISTRY,
    ApiClient,
    LimiterRegistry,
    OAuthRefreshTokenProvider,
    StaticToken,
    TokenProvider,
    jsoncodec,
    side_client,
)
from connector.http.paging import JsonCursor, PageAnswer, PageRequest, paginate
from connector.http.ratelimit import QuotaParser, Sleep, remaining_header_parser
from connector.timestamps import MonotonicClock

from .errors import HUBSPOT_POLICY, parse_hubspot_error
from .paths import ApiPaths
from .settings import DEFAULT_CLASS, HubSpotSettings, OAuthAuth

#: The general burst window as HubSpot reports it on every non-search response.
BURST_QUOTA: QuotaParser = remaining_header_parser(
    "X-HubSpot-RateLimit-Remaining",
    limit="X-HubSpot-RateLimit-Max",
    window_ms="X-HubSpot-RateLimit-Interval-Milliseconds",
)

#: The header httpx sets for a `json=` body, sent with the bytes `jsoncodec` encodes.
JSON_BODY = {"Content-Type": "application/json"}

#: Every paged HubSpot list and search names the next page at `paging.next.after`, sent back as
#: `after`: a query parameter of a GET, a field of a search's JSON body.
NEXT_PAGE = JsonCursor(("paging", "next", "after"), "after")
NEXT_SEARCH_PAGE = JsonCursor(("paging", "next", "after"), "after", in_body=True)


class HubSpotClient:
    """JSON in, JSON out, for one HubSpot account."""

    def __init__(
        self,
        settings: HubSpotSettings,
        *,
        name: str = "hubspot",
        transport: httpx.AsyncBaseTransport | None = None,
        registry: LimiterRegistry = DEFAULT_REGISTRY,
        clock: MonotonicClock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.paths: ApiPaths = settings.paths()
        self._token_http: httpx.AsyncClient | None = None
        self.auth = self._token_provider(settings, transport, clock)
        self.api = ApiClient(
            settings.http_settings(),
            name=name,
            policy=HUBSPOT_POLICY,
            auth=self.auth,
            error_parser=parse_hubspot_error,
            quota_parser=BURST_QUOTA,
            quota_classes=frozenset({DEFAULT_CLASS}),
            registry=registry,
            clock=clock,
            sleep=sleep,
            transport=transport,
        )

    def _token_provider(
        self,
        settings: HubSpotSettings,
        transport: httpx.AsyncBaseTransport | None,
        clock: MonotonicClock,
    ) -> TokenProvider:
        auth = settings.auth
        if not isinstance(auth, OAuthAuth):
            return StaticToken(auth.resolve_token())
        self._token_http = side_client(transport, base_url=settings.base_url.rstrip("/"))
        return OAuthRefreshTokenProvider(
            f"{settings.base_url.rstrip('/')}{self.paths.oauth_token}",
            client_id=SecretStr(auth.client_id),
            client_secret=auth.resolve_client_secret(),
            refresh_token=auth.resolve_refresh_token(),
            refresh_margin_seconds=auth.refresh_margin_seconds,
            http=self._token_http,
            clock=clock,
        )

    async def aclose(self) -> None:
        await self.api.aclose()
        if self._token_http is not None:
            await self._token_http.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        endpoint_class: str = DEFAULT_CLASS,
        idempotent: bool | None = None,
    ) -> tuple[int, Any]:
        """Sends one request; returns (status, parsed JSON body or None).

        Bodies go through `jsoncodec` (orjson): the same bytes and headers as httpx's `json=`,
        in a fraction of the CPU a 100-record batch cost."""
        response = await self.api.request(
            method,
            path,
            content=None if json is None else jsoncodec.dumps(json),
            headers=None if json is None else JSON_BODY,
            params=params,
            endpoint_class=endpoint_class,
            idempotent=idempotent,
        )
        if not response.content:
            return response.status_code, None
        try:
            return response.status_code, jsoncodec.loads(response.content)
        except ValueError:
            return response.status_code, None

    async def pages(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        endpoint_class: str = DEFAULT_CLASS,
        max_pages: int | None = None,
    ) -> AsyncIterator[Mapping[str, Any]]:
        """Each page's body (`{}` for an empty answer), following `paging.next.after`."""

        send = functools.partial(self.call, method, endpoint_class=endpoint_class, idempotent=True)

        async def fetch(request: PageRequest) -> PageAnswer:
            _, body = await send(request.path, json=request.json, params=request.params or None)
            return PageAnswer(body or {})

        first = PageRequest(path, params or {}, json)
        cursor = NEXT_PAGE if json is None else NEXT_SEARCH_PAGE
        async for answer in paginate(fetch, first, cursor, max_pages=max_pages):
            yield answer.body
