"""The Salesforce client: the shared `ApiClient` on the org's `instance_url`, with Salesforce's
error table, OAuth, `Sforce-Limit-Info` pacing and SOQL paging.

The API host is only known after the first token (salesforce.md §5), so `connect()` grants one
and then builds the HTTP client on the `instance_url` it names. Every response's
`Sforce-Limit-Info: api-usage=used/max` (§4.4) feeds the limiter with the org's usage against
`limits.daily_share` of the allocation: in the last tenth of that share requests are spread out,
and once it is spent requests fail fast with `QuotaExhaustedError` (the route stops) instead of
spending what the org's people and other integrations need.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from connector.http import DEFAULT_REGISTRY, ApiClient, LimiterRegistry, QuotaHint
from connector.http.paging import JsonNextUrl, PageAnswer, PageRequest, paginate
from connector.http.ratelimit import QuotaParser, Sleep
from connector.timestamps import MonotonicClock

from .auth import SalesforceAuth
from .errors import SALESFORCE_POLICY, parse_salesforce_error
from .ids import is_record_id, to18
from .settings import SalesforceSettings

#: The org's `api-usage`, not `per-app-api-usage` (a connected app's quota, which the header may
#: carry too, in either order: "api-usage=25/5000; per-app-api-usage=17/250(appName=…)").
_USAGE = re.compile(r"(?:^|[;,\s])api-usage=(\d+)/(\d+)")
#: The allocation is a rolling 24 hours; its last tenth is spread over this long.
PACING_WINDOW_SECONDS = 3600.0


def share_parser(share: float) -> QuotaParser:
    """`Sforce-Limit-Info` → the quota left of `share` of the org's daily allocation."""

    def parse(headers: httpx.Headers) -> QuotaHint | None:
        found = _USAGE.search(headers.get("Sforce-Limit-Info", ""))
        if found is None:
            return None
        used, allocation = int(found.group(1)), int(found.group(2))
        ours = math.floor(allocation * share)
        return QuotaHint(ours - used, ours, PACING_WINDOW_SECONDS)

    return parse


class SalesforceClient:
    """JSON in, JSON out, for one org."""

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        name: str = "salesforce",
        base_dir: Path = Path("."),
        transport: httpx.AsyncBaseTransport | None = None,
        registry: LimiterRegistry = DEFAULT_REGISTRY,
        clock: MonotonicClock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.name = name
        self.auth = SalesforceAuth(settings, base_dir=base_dir, transport=transport)
        self._transport = transport
        self._registry = registry
        self._clock = clock
        self._sleep = sleep
        self._api: ApiClient | None = None
        self._identity: str | None = None
        self._user_id: str | None = None
        self.headers = {"Sforce-Call-Options": f"client={settings.client_name}"}
        self.data = settings.data_path

    @property
    def user_id(self) -> str | None:
        """The integration user's id, from the token's identity URL (`…/id/{org}/{user}`)."""
        identity = self.auth.identity_url
        if identity != self._identity:
            last = identity.rsplit("/", 1)[-1] if identity else ""
            self._identity, self._user_id = identity, to18(last) if is_record_id(last) else None
        return self._user_id

    async def connect(self) -> None:
        await self.auth.token()
        assert self.auth.instance_url is not None
        self._api = ApiClient(
            self.settings.http_settings(self.auth.instance_url),
            name=self.name,
            policy=SALESFORCE_POLICY,
            auth=self.auth,
            error_parser=parse_salesforce_error,
            quota_parser=share_parser(self.settings.limits.daily_share),
            registry=self._registry,
            clock=self._clock,
            sleep=self._sleep,
            transport=self._transport,
        )

    @property
    def api(self) -> ApiClient:
        assert self._api is not None, "connect() first"
        return self._api

    async def aclose(self) -> None:
        if self._api is not None:
            await self._api.aclose()
        await self.auth.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """One request under the data path (unless `path` is absolute); the parsed JSON body."""
        full = path if path.startswith("/services/") else f"{self.data}{path}"
        response = await self.api.request(
            method,
            full,
            json=json,
            params=params,
            headers={**self.headers, **(headers or {})},
            idempotent=idempotent,
        )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    async def query(self, soql: str, *, include_deleted: bool = False) -> AsyncIterator[Any]:
        """Every row of a SOQL query, following `nextRecordsUrl` (queryMore) to the end."""
        resource = "queryAll" if include_deleted else "query"
        options = {"Sforce-Query-Options": f"batchSize={self.settings.query_batch_size}"}

        async def fetch(request: PageRequest) -> PageAnswer:
            body = await self.call("GET", request.path, params=request.params, headers=options)
            return PageAnswer(body)

        first = PageRequest(f"{self.data}/{resource}", {"q": soql})
        paginator = JsonNextUrl(("nextRecordsUrl",), done_path=("done",))
        async for answer in paginate(fetch, first, paginator):
            for row in (answer.body or {}).get("records") or []:
                yield row
