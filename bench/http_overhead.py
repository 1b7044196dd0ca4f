"""Overhead of the HTTP layer (`connector.http.ApiClient`) over a bare `httpx.AsyncClient`.

Both clients call the same loopback HTTP/1.1 server (a raw asyncio server in a child process,
so its work does not share the clients' event loop) in the same run, in alternating rounds;
the figure is the median time per request. The layer runs as adapters use it: bearer token,
a rate limit that never binds, a remaining-quota header parser, error policy, metrics and the
per-attempt log call (logger at WARNING by default, so success lines are filtered; a second row
turns INFO logging on with a handler that formats each line and drops it).

Goal: the layer's time per request <= 1.2x the bare client's.

    .venv/bin/python bench/http_overhead.py [--requests 300] [--rounds 20] [--concurrency 1]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx
from pydantic import SecretStr

from connector.http import (
    ApiClient,
    HttpSettings,
    LimiterRegistry,
    RateLimit,
    StaticToken,
    remaining_header_parser,
)

GOAL = 1.2
BODY = b'{"results":[{"id":"1","properties":{"name":"Acme"}}],"paging":null}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"X-Rate-Remaining: 150\r\nX-Rate-Max: 190\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


class _Server(asyncio.Protocol):
    """Answers every request on a keep-alive connection with the same small JSON body."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            marker = head.find(b"content-length:")
            if marker >= 0:
                length = int(head[marker + 15 :].split(b"\r\n", 1)[0])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(RESPONSE)


def _serve(port_pipe: multiprocessing.connection.Connection) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Server, "127.0.0.1", 0)
        port_pipe.send(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


class _FormatAndDrop(logging.Handler):
    """Pays for formatting each record, as a real handler would, then drops it."""

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)


async def _timed(
    call: Callable[[], Awaitable[object]], requests: int, concurrency: int
) -> tuple[float, float]:
    """(wall seconds, client CPU seconds) per request for `requests` calls, `concurrency` at once.

    CPU time of this process is reported beside wall time because the machine is shared: other
    processes' load moves wall time a lot and this process's CPU time much less.
    """
    per_worker = requests // concurrency

    async def worker() -> None:
        for _ in range(per_worker):
            await call()

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    done = per_worker * concurrency
    return (time.perf_counter() - wall) / done, (time.process_time() - cpu) / done


async def run(requests: int, rounds: int, concurrency: int, base_url: str) -> None:
    token = "bench-token-0123456789"
    bare = httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(5.0),
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        headers={"Authorization": f"Bearer {token}"},
        trust_env=False,
    )
    layer = ApiClient(
        HttpSettings(base_url=base_url, max_connections=concurrency),
        name="bench",
        auth=StaticToken(SecretStr(token)),
        limits={"default": RateLimit(1_000_000, 1)},
        quota_parser=remaining_header_parser("X-Rate-Remaining", limit="X-Rate-Max"),
        registry=LimiterRegistry(),
    )
    sink = _FormatAndDrop()
    http_logger = logging.getLogger("connector.http")

    async def call_bare() -> object:
        response = await bare.get("/crm/objects/companies", params={"limit": "100"})
        response.raise_for_status()
        return response

    async def call_layer() -> object:
        return await layer.request("GET", "/crm/objects/companies", params={"limit": "100"})

    async def call_layer_info() -> object:
        http_logger.addHandler(sink)
        http_logger.setLevel(logging.INFO)
        try:
            return await call_layer()
        finally:
            http_logger.removeHandler(sink)
            http_logger.setLevel(logging.NOTSET)

    variants = {"bare": call_bare, "layer": call_layer, "layer+info": call_layer_info}
    for call in variants.values():  # warm up connections and code paths
        await _timed(call, 200, concurrency)
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for round_number in range(rounds):
        # Alternate the order so drift in machine load does not favour one variant.
        for name in order if round_number % 2 == 0 else reversed(order):
            seconds, cpu_seconds = await _timed(variants[name], requests, concurrency)
            wall[name].append(seconds)
            cpu[name].append(cpu_seconds)
    await bare.aclose()
    await layer.aclose()

    print(
        f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f} requests/round={requests} "
        f"rounds={rounds} concurrency={concurrency}"
    )
    bare_wall = statistics.median(wall["bare"]) * 1e6
    bare_cpu = statistics.median(cpu["bare"]) * 1e6
    print(f"{'bare httpx.AsyncClient':<26}: {bare_wall:7.1f} us/request wall, {bare_cpu:6.1f} cpu")
    for name, label in (("layer", "ApiClient"), ("layer+info", "ApiClient + INFO log line")):
        us_wall = statistics.median(wall[name]) * 1e6
        us_cpu = statistics.median(cpu[name]) * 1e6
        # Median of per-round ratios: each round's pair saw about the same machine load.
        ratio = statistics.median(a / b for a, b in zip(wall[name], wall["bare"], strict=True))
        ratio_cpu = statistics.median(a / b for a, b in zip(cpu[name], cpu["bare"], strict=True))
        verdict = "meets" if ratio <= GOAL else "MISSES"
        print(
            f"{label:<26}: {us_wall:7.1f} us/request wall, {us_cpu:6.1f} cpu; "
            f"ratio {ratio:.3f}x wall, {ratio_cpu:.3f}x cpu "
            f"(goal <= {GOAL}x: {verdict}, {ratio / GOAL:.2f} of goal)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per round")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    receive, send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.Process(target=_serve, args=(send,), daemon=True)
    server.start()
    try:
        port = receive.recv()
        asyncio.run(run(args.requests, args.rounds, args.concurrency, f"http://127.0.0.1:{port}"))
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
