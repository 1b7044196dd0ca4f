"""Push N customers into the HubSpot sandbox through the adapter alone (no engine, no store).

The sandbox runs in process (httpx.ASGITransport) with 100 ms added latency per request and
HubSpot's Professional burst limit enforced (190 requests per rolling 10 s). The full engine is
not driven here: N `NativeWrite`s shaped like the sample ERP's customers go straight to
`HubSpotAdapter.upsert` in calls of 100, several in flight at once.

Goals (issue 6):
* throughput >= 90 % of the limit's ceiling: 190 requests x 100 records / 10 s = 1,900 records/s;
* write calls <= 1.05 x ceil(N / 100);
* 429s that escaped the retries (failed writes or errors): 0.
A second run with nothing changed must make 0 write calls: that is the engine's diff against
the sync-state store (it never calls the adapter for unchanged records), so it is measured by
the engine's benchmark, not here.

    PYTHONPATH=. .venv/bin/python bench/hubspot_adapter_push.py [--records 20000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections import Counter

import httpx
from pydantic import SecretStr

from adapters.hubspot.adapter import HubSpotAdapter
from adapters.hubspot.sandbox import create_app
from adapters.hubspot.settings import HubSpotSettings, TokenAuth, WebhookSettings
from adapters.hubspot.setup import setup
from connector.adapter import NativeWrite
from connector.errors import RateLimitedError
from connector.http import LimiterRegistry
from connector.model import Entity

CEILING = 190 * 100 / 10.0  # records per second under the burst limit
WRITE_PATHS = ("/batch/upsert", "/batch/update", "/batch/create")


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts responses by (path kind, status) on their way back to the adapter."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.counts: Counter[tuple[str, int]] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        kind = "write" if request.url.path.endswith(WRITE_PATHS) else "other"
        self.counts[(kind, response.status_code)] += 1
        return response


def customer(n: int) -> NativeWrite:
    return NativeWrite(
        key=f"bench-{n:06d}",
        external_id=None,
        fields={
            "name": f"Customer {n} GmbH",
            "erp_customer_no": f"C-{n:06d}",
            "domain": f"customer{n}.example",
            "phone": f"+49 30 {n:07d}",
            "city": "Berlin",
            "country": "Germany",
            "erp_lifetime_revenue": f"{n * 13 % 100000}.00",
        },
    )


async def run(records: int, concurrency: int, latency_ms: float) -> int:
    app = create_app(latency_ms=latency_ms, limits_enabled=True, burst_max=190)
    transport = CountingTransport(httpx.ASGITransport(app=app))
    settings = HubSpotSettings(
        base_url="http://hubspot.sandbox",
        auth=TokenAuth(token=SecretStr("sandbox-token"), token_env=None),
        webhooks=WebhookSettings(client_secret_envs=[]),
    )
    adapter = HubSpotAdapter("hubspot", settings, transport=transport, registry=LimiterRegistry())
    await adapter.open()
    try:
        await setup(adapter, {Entity.CUSTOMER: ["erp_customer_no", "erp_lifetime_revenue"]})
        # Let the setup calls' burst window drain so the push starts with a full allowance.
        await asyncio.sleep(settings.limits.burst_window_seconds)
        transport.counts.clear()
        writes = [customer(n) for n in range(records)]
        batches = [writes[i : i + 100] for i in range(0, len(writes), 100)]
        gate = asyncio.Semaphore(concurrency)
        escaped = 0
        failed = 0

        async def push(batch: list[NativeWrite]) -> None:
            nonlocal escaped, failed
            async with gate:
                try:
                    results = await adapter.upsert(Entity.CUSTOMER, batch)
                except RateLimitedError:
                    escaped += len(batch)
                    return
            failed += sum(not r.ok for r in results)
            escaped += sum(1 for r in results if r.error is not None and "429" in str(r.error))

        started = time.perf_counter()
        await asyncio.gather(*(push(batch) for batch in batches))
        elapsed = time.perf_counter() - started
    finally:
        await adapter.close()

    write_calls = sum(n for (kind, _), n in transport.counts.items() if kind == "write")
    retried_429 = sum(n for (kind, status), n in transport.counts.items() if status == 429)
    throughput = records / elapsed
    allowed_calls = 1.05 * math.ceil(records / 100)
    print(f"records pushed         {records:>10,}   in {elapsed:.2f} s")
    print(
        f"throughput             {throughput:>10,.0f} records/s   "
        f"{throughput / CEILING:.1%} of the 1,900/s ceiling (goal >= 90 %)"
    )
    print(
        f"write calls            {write_calls:>10,}   "
        f"{write_calls / allowed_calls:.2f} x the allowance of {allowed_calls:,.0f} "
        "(goal <= 1.00)"
    )
    print(f"429s answered          {retried_429:>10,}   (all retried by the client)")
    print(f"429s escaped retries   {escaped:>10,}   (goal 0)")
    print(f"records failed         {failed:>10,}")
    print("second run, nothing changed: 0 write calls is the engine's diff; not measured here")
    ok = throughput >= 0.9 * CEILING and write_calls <= allowed_calls and escaped == 0
    print("RESULT:", "all goals met" if ok else "goal missed")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(run(args.records, args.concurrency, args.latency_ms)))


if __name__ == "__main__":
    main()
