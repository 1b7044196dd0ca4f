"""Benchmark: sustained ingest of signed webhooks into the inbox over loopback HTTP.

Two cases:

* `receiver` (per store): a real uvicorn server (a child process, so client and server do not
  share a loop) runs the receiver alone with the Standard Webhooks verifier; `--clients`
  concurrent senders post signed, distinct events for `--seconds`. Goal: ≥ 1,000 events/s with
  p99 < 50 ms on SQLite.
* `daemon`: the whole `connector webhooks serve` process (receiver *and* inbox worker, which
  syncs every event's company from a HubSpot sandbox process into a sample ERP) on a PostgreSQL
  store; 50 senders post HubSpot v3-signed deliveries, 30 % of them redeliveries of an earlier
  one. Goal: ≥ 1,000 accepted deliveries/s with p99 < 100 ms, while the worker keeps working.

Every request is verified and committed to the inbox before its 202. Printed: rate, p50/p99
latency and the ratio to the goal.

    .venv/bin/python bench/webhooks.py                 # receiver on SQLite and PostgreSQL
    .venv/bin/python bench/webhooks.py --case daemon   # the daemon case on PostgreSQL
    .venv/bin/python bench/webhooks.py --stores sqlite --seconds 20 --clients 32

PostgreSQL: CONNECTOR_TEST_PG_URL or postgresql+psycopg://postgres@127.0.0.1:5432/test; the run
uses a schema of its own and drops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.erp_generic.webhooks import StandardWebhooksVerifier, sign  # noqa: E402

GOAL_RATE = 1000.0
GOAL_P99_MS = 50.0
KEY = bytes(range(32))
SECRET = SecretStr("whsec_" + base64.b64encode(KEY).decode())
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def serve(url: str, port: int) -> None:
    """Child process: the receiver on 127.0.0.1:`port` over the store at `url`."""
    import uvicorn

    from connector.daemon.app import ReceiverDeps, create_app
    from connector.state.store import open_store

    store = open_store(url, Path(tempfile.gettempdir()))
    deps = ReceiverDeps(
        store=store,
        verifiers={"erp": StandardWebhooksVerifier([SECRET])},
    )
    uvicorn.run(
        create_app(deps), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_ready(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        for _ in range(300):
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("the server did not come up")


Request = tuple[str, bytes, str]  # path, body, extra header lines


async def _post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: Request
) -> int:
    path, body, headers = request
    host = "127.0.0.1:{}".format(writer.get_extra_info("peername")[1])
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{headers}"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(
        int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length")
    )
    await reader.readexactly(length)
    return int(lines[0].split()[1])


def standard_webhook(run: str, counter: int) -> Request:
    """A distinct Standard Webhooks event signed by "the ERP"."""
    message_id = f"{run}-{counter}"
    body = json.dumps(
        {"type": "customer.updated", "data": {"entity": "customer", "id": str(counter)}}
    ).encode()
    stamp = int(time.time())
    headers = (
        "Content-Type: application/json\r\n"
        f"webhook-id: {message_id}\r\n"
        f"webhook-timestamp: {stamp}\r\n"
        f"webhook-signature: {sign(KEY, message_id, stamp, body)}\r\n"
    )
    return "/webhooks/erp", body, headers


async def load(
    port: int,
    seconds: float,
    clients: int,
    make: Callable[[str, int], Request] = standard_webhook,
) -> tuple[int, list[float], int]:
    """`clients` keep-alive connections posting signed events back to back for `seconds`.

    A minimal HTTP/1.1 client on asyncio streams: httpx's own per-request cost on this
    two-core box was larger than the server's and would have measured the client.
    """
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    run = uuid.uuid4().hex[:8]
    counter = 0

    async def sender() -> None:
        nonlocal counter, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                counter += 1
                request = make(run, counter)
                started = time.perf_counter()
                status = await _post(reader, writer, request)
                latencies.append(time.perf_counter() - started)
                if status != 202:
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return int(len(latencies) / elapsed), latencies, errors


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux `/proc`), to separate our cost from the box's."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(
    head: str, latencies: list[float], errors: int, goal: tuple[float, float], detail: str
) -> None:
    """One result line: `head`, p50/p99, errors, and the ratios to the goal (rate, p99 ms)."""
    rate_ratio, goal_p99_ms = goal
    p50 = percentile(latencies, 0.50) * 1000
    p99 = percentile(latencies, 0.99) * 1000
    print(
        f"{head}  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  errors {errors}  | "
        f"rate/goal {rate_ratio:.2f}  p99 goal/actual {goal_p99_ms / p99:.2f}  ({detail})"
    )


def bench_store(name: str, url: str, seconds: float, clients: int) -> None:
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", url, "--port", str(port)],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        },
    )
    base = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(wait_ready(base))
        asyncio.run(load(port, 1.0, clients))  # warm-up: connections, caches, WAL
        cpu_before = cpu_seconds(child.pid)
        rate, latencies, errors = asyncio.run(load(port, seconds, clients))
        cpu_after = cpu_seconds(child.pid)
    finally:
        child.terminate()
        child.wait(10)
    report(
        f"{name:10s} {rate:6d} events/s",
        latencies,
        errors,
        (rate / GOAL_RATE, GOAL_P99_MS),
        f"{clients} clients, {seconds:.0f} s, {len(latencies)} requests",
    )
    if cpu_before is not None and cpu_after is not None and cpu_after > cpu_before:
        per_event = (cpu_after - cpu_before) / len(latencies)
        # What one fully available core would sustain: the figure that does not depend on
        # what else the machine is running (the wall-clock rate above does).
        print(
            f"{'':10s} server CPU {per_event * 1000:.2f} ms/event -> "
            f"{1 / per_event:.0f} events/s per free core (ratio {1 / per_event / GOAL_RATE:.2f})"
        )


DAEMON_GOAL_RATE = 1000.0
DAEMON_GOAL_P99_MS = 100.0
REDELIVERED = 0.3
COMPANIES = 20_000
HUBSPOT_SECRET = "bench-hubspot-client-secret"
CONNECTOR = Path(sys.executable).parent / "connector"


def hubspot_delivery(port: int, companies: list[str]) -> Callable[[str, int], Request]:
    """HubSpot v3-signed deliveries of one event each; `REDELIVERED` of them repeat an earlier one.

    A redelivery carries the same event (same object, property and `occurredAt`, so the same
    inbox key) with the next `attemptNumber` and a fresh signature, as HubSpot's retries do.
    """
    from adapters.hubspot.webhooks import sign_v3

    uri = f"http://127.0.0.1:{port}/webhooks/crm"
    base_ms = int(time.time() * 1000)
    sent: list[dict[str, Any]] = []

    def make(run: str, counter: int) -> Request:
        if sent and counter % 10 < REDELIVERED * 10:
            event = dict(sent[(counter * 7919) % len(sent)])
            event["attemptNumber"] += 1
        else:
            event = {
                "eventId": counter,
                "subscriptionId": 1,
                "portalId": 33,
                "appId": 1,
                "occurredAt": base_ms + counter,
                "subscriptionType": "company.propertyChange",
                "attemptNumber": 0,
                "objectId": int(companies[counter % len(companies)]),
                "propertyName": "name",
                "propertyValue": run,
                "changeSource": "CRM_UI",
            }
            sent.append(event)
        body = json.dumps([event]).encode()
        stamp = str(int(time.time() * 1000))
        headers = (
            "Content-Type: application/json\r\n"
            f"X-HubSpot-Request-Timestamp: {stamp}\r\n"
            f"X-HubSpot-Signature-v3: {sign_v3(HUBSPOT_SECRET, 'POST', uri, body, stamp)}\r\n"
        )
        return "/webhooks/crm", body, headers

    return make


def _wait_http(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def daemon_processes(folder: Path, state_url: str) -> Iterator[tuple[int, int, list[str]]]:
    """A HubSpot sandbox with `COMPANIES` companies and `connector webhooks serve` on them.

    Yields the daemon's port, its pid and the company ids. The route `crm-to-erp` syncs
    companies into a sample ERP, so every event the receiver accepts is real work for the worker.
    """
    import yaml

    from adapters.erp_generic.sample import create_sample_erp, sample_config

    erp = folder / "erp.db"
    create_sample_erp(erp, customers=0, contacts=0, orders=0, products=1)
    hub_port, port = free_port(), free_port()
    config = {
        "state": {"url": state_url},
        "systems": {
            "erp": {"adapter": "erp_generic", "settings": sample_config(f"sqlite:///{erp}")},
            "crm": {
                "adapter": "hubspot",
                "settings": {
                    "base_url": f"http://127.0.0.1:{hub_port}",
                    "auth": {"kind": "token", "token": "sandbox-token", "token_env": None},
                    "webhooks": {"client_secrets": [HUBSPOT_SECRET], "client_secret_envs": []},
                },
            },
        },
        "routes": [
            {
                "name": "crm-to-erp",
                "from": "crm",
                "to": "erp",
                "schedule": "0 3 * * *",
                "entities": {"customer": {"match": ["number"]}},
            }
        ],
        "daemon": {"port": port, "inbox_poll_seconds": 1.0},
    }
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    logs = {name: (folder / f"{name}.log").open("wb") for name in ("sandbox", "daemon")}
    sandbox = subprocess.Popen(
        [str(CONNECTOR), "sandbox", "hubspot", "--port", str(hub_port)], stderr=logs["sandbox"]
    )
    daemon: subprocess.Popen[bytes] | None = None
    try:
        hubspot = f"http://127.0.0.1:{hub_port}"
        _wait_http(f"{hubspot}/_sandbox/switches", sandbox)
        subprocess.run(
            [str(CONNECTOR), "--config", str(config_path), "hubspot", "setup"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        seeded = httpx.post(
            f"{hubspot}/_sandbox/seed",
            json={
                "objectType": "companies",
                "count": COMPANIES,
                "template": {"name": "Bench {n}", "erp_customer_no": "B-{n}"},
            },
            timeout=60,
        )
        seeded.raise_for_status()
        daemon = subprocess.Popen(
            [str(CONNECTOR), "--config", str(config_path), "webhooks", "serve"],
            stderr=logs["daemon"],
        )
        _wait_http(f"http://127.0.0.1:{port}/readyz", daemon)
        yield port, daemon.pid, list(seeded.json()["ids"])
    finally:
        for process in (daemon, sandbox):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
        for handle in logs.values():
            handle.close()


def inbox_counts(state_url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(state_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT status, count(*) FROM inbox GROUP BY status"))
            return {str(status): int(count) for status, count in rows}
    finally:
        engine.dispose()


def delay_proxy(target_port: int, port: int, delay: float) -> None:
    """Child process: a TCP proxy on loopback delaying every chunk by `delay` s each way.

    Loopback PostgreSQL answers in ~0.1 ms; a store across a network takes a millisecond or
    more per round trip, and that is what exposes blocking store calls on an event loop. A
    process of its own, so forwarding costs neither the daemon nor the load generator.
    """

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                await asyncio.sleep(delay)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def main() -> None:
        server = await asyncio.start_server(accept, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


@contextmanager
def store_proxy(base: str, store_rtt_ms: float) -> Iterator[str]:
    """`base` itself, or the URL of a `delay_proxy` in front of it adding `store_rtt_ms`."""
    if store_rtt_ms <= 0:
        yield base
        return
    from sqlalchemy.engine import make_url

    parsed = make_url(base)
    port = free_port()
    target = str(parsed.port or 5432)
    delay = str(store_rtt_ms / 2000)
    child = subprocess.Popen(
        [sys.executable, __file__, "--proxy", target, "--port", str(port), "--delay", delay]
    )
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield parsed.set(host="127.0.0.1", port=port).render_as_string(False)
    finally:
        child.terminate()
        child.wait(10)


def bench_daemon(seconds: float, clients: int, store_rtt_ms: float) -> None:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    postgres_schema("create", schema)
    try:
        with (
            store_proxy(os.environ.get("CONNECTOR_TEST_PG_URL", DEFAULT_PG), store_rtt_ms) as base,
            tempfile.TemporaryDirectory() as folder,
            daemon_processes(Path(folder), _in_schema(base, schema)) as (port, pid, companies),
        ):
            make = hubspot_delivery(port, companies)
            asyncio.run(load(port, 1.0, clients, make))  # warm-up
            cpu_before = cpu_seconds(pid)
            rate, latencies, errors = asyncio.run(load(port, seconds, clients, make))
            cpu_after = cpu_seconds(pid)
            counts = inbox_counts(_in_schema(base, schema))
    finally:
        postgres_schema("drop", schema)
    report(
        f"daemon/pg  {rate:6d} accepted/s",
        latencies,
        errors,
        (rate / DAEMON_GOAL_RATE, DAEMON_GOAL_P99_MS),
        f"{clients} clients, {seconds:.0f} s, {len(latencies)} deliveries, "
        f"{REDELIVERED:.0%} redelivered, store round trip +{store_rtt_ms:g} ms",
    )
    if cpu_before is not None and cpu_after is not None:
        print(f"{'':10s} daemon CPU {cpu_after - cpu_before:.1f} s; inbox afterwards {counts}")


def _in_schema(base: str, schema: str) -> str:
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options=-csearch_path%3D{schema}"


def postgres_schema(action: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(os.environ.get("CONNECTOR_TEST_PG_URL", DEFAULT_PG))
    with engine.begin() as conn:
        verb = "CREATE SCHEMA" if action == "create" else "DROP SCHEMA IF EXISTS"
        suffix = "" if action == "create" else " CASCADE"
        conn.execute(text(f'{verb} "{schema}"{suffix}'))
    engine.dispose()


def _available(module: str) -> str:
    import importlib.util

    fallback = {"uvloop": "asyncio", "httptools": "h11"}[module]
    return module if importlib.util.find_spec(module) else fallback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=["receiver", "daemon", "all"], default="receiver")
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, help="16 (receiver) or 50 (daemon)")
    parser.add_argument(
        "--store-rtt-ms",
        type=float,
        default=1.0,
        help="daemon case: round trip added to every store exchange (a store across a network)",
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--proxy", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--delay", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    if args.proxy:
        delay_proxy(args.proxy, args.port, args.delay)
        return
    print(f"uvicorn picks: loop {_available('uvloop')}, http parser {_available('httptools')}")
    if args.case in ("receiver", "all"):
        clients = args.clients or 16
        print(f"receiver goal: >= {GOAL_RATE:.0f} events/s, p99 < {GOAL_P99_MS:.0f} ms (SQLite)")
        for store in args.stores.split(","):
            if store == "sqlite":
                with tempfile.TemporaryDirectory() as folder:
                    bench_store("sqlite", f"sqlite:///{folder}/bench.db", args.seconds, clients)
            elif store == "postgresql":
                schema = f"bench_{uuid.uuid4().hex[:10]}"
                postgres_schema("create", schema)
                base = os.environ.get("CONNECTOR_TEST_PG_URL", DEFAULT_PG)
                joiner = "&" if "?" in base else "?"
                url = f"{base}{joiner}options=-csearch_path%3D{schema}"
                try:
                    bench_store("postgresql", url, args.seconds, clients)
                finally:
                    postgres_schema("drop", schema)
    if args.case in ("daemon", "all"):
        print(
            f"daemon goal: >= {DAEMON_GOAL_RATE:.0f} accepted/s with p99 < "
            f"{DAEMON_GOAL_P99_MS:.0f} ms (PostgreSQL, {REDELIVERED:.0%} redeliveries)"
        )
        bench_daemon(args.seconds, args.clients or 50, args.store_rtt_ms)


if __name__ == "__main__":
    main()
