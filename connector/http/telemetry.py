"""What the HTTP layer tells operators: one log line per attempt, counters and a histogram.

Log lines go to the `connector.http` logger with the fields in `extra["http"]`, and carry only
the method, the path without its query string, the status, the duration, the attempt number and
the retry reason: never headers, bodies, tokens or query strings. httpx's and httpcore's own
INFO logs print full URLs, so they are turned down to WARNING when this module is imported.

`HttpMetrics` keeps counters and a latency histogram in-process; `render_prometheus` writes them
in the Prometheus text exposition format (version 0.0.4) for the daemon's `/metrics`.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

LOGGER = logging.getLogger("connector.http")

# Seconds; spans a loopback call to a slow bulk endpoint.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


def quiet_library_loggers() -> None:
    """httpx logs every request with its full URL at INFO; keep that out of our logs."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


quiet_library_loggers()


@dataclass(frozen=True, slots=True)
class Attempt:
    """The loggable facts of one request attempt."""

    system: str
    method: str
    path: str
    status: int | None
    duration_ms: float
    attempt: int
    outcome: str  # "ok", or what happened: "retry", "wait", "refresh_auth", "record", ...
    reason: str = ""


def log_attempt(attempt: Attempt) -> None:
    """One line per attempt: INFO when it succeeded, WARNING otherwise."""
    level = logging.INFO if attempt.outcome == "ok" else logging.WARNING
    if not LOGGER.isEnabledFor(level):
        return
    status = attempt.status if attempt.status is not None else "-"
    suffix = f" {attempt.outcome}: {attempt.reason}" if attempt.outcome != "ok" else ""
    LOGGER.log(
        level,
        "%s %s %s %s %.1fms attempt=%d%s",
        attempt.system,
        attempt.method,
        attempt.path,
        status,
        attempt.duration_ms,
        attempt.attempt,
        suffix,
        extra={
            "http": {
                "system": attempt.system,
                "method": attempt.method,
                "path": attempt.path,
                "status": attempt.status,
                "duration_ms": round(attempt.duration_ms, 3),
                "attempt": attempt.attempt,
                "outcome": attempt.outcome,
                "retry_reason": attempt.reason or None,
            }
        },
    )


class Histogram:
    """Cumulative-bucket latency histogram in seconds."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)  # last is +Inf
        self.total = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.total += seconds
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        running = 0
        rows: list[tuple[float, int]] = []
        for bound, count in zip((*self.buckets, math.inf), self.counts, strict=True):
            running += count
            rows.append((bound, running))
        return rows


class HttpMetrics:
    """Requests by (system, status), retries by (system, reason), 429s, latency by system."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.retries: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.rate_limited: defaultdict[str, int] = defaultdict(int)
        self.latency: defaultdict[str, Histogram] = defaultdict(Histogram)

    def record(self, attempt: Attempt) -> None:
        status = str(attempt.status) if attempt.status is not None else "transport_error"
        self.requests[(attempt.system, status)] += 1
        if attempt.status == 429:
            self.rate_limited[attempt.system] += 1
        self.latency[attempt.system].observe(attempt.duration_ms / 1000.0)

    def record_retry(self, system: str, reason: str) -> None:
        self.retries[(system, reason)] += 1

    def reset(self) -> None:
        self.requests.clear()
        self.retries.clear()
        self.rate_limited.clear()
        self.latency.clear()


METRICS = HttpMetrics()


def _labels(pairs: Mapping[str, str]) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return "{" + ",".join(f'{key}="{escape(value)}"' for key, value in pairs.items()) + "}"


def _bound(value: float) -> str:
    return "+Inf" if math.isinf(value) else repr(value)


def _family(name: str, kind: str, help_text: str) -> Iterable[str]:
    yield f"# HELP {name} {help_text}"
    yield f"# TYPE {name} {kind}"


def render_prometheus(metrics: HttpMetrics = METRICS) -> str:
    """The metrics in Prometheus text exposition format, ending with a newline."""
    lines: list[str] = []
    lines += _family("connector_http_requests_total", "counter", "HTTP request attempts.")
    for (system, status), count in sorted(metrics.requests.items()):
        labels = _labels({"system": system, "status": status})
        lines.append(f"connector_http_requests_total{labels} {count}")
    lines += _family("connector_http_retries_total", "counter", "Requests sent again.")
    for (system, reason), count in sorted(metrics.retries.items()):
        labels = _labels({"system": system, "reason": reason})
        lines.append(f"connector_http_retries_total{labels} {count}")
    lines += _family("connector_http_rate_limited_total", "counter", "Responses with HTTP 429.")
    for system, count in sorted(metrics.rate_limited.items()):
        lines.append(f"connector_http_rate_limited_total{_labels({'system': system})} {count}")
    name = "connector_http_request_duration_seconds"
    lines += _family(name, "histogram", "Duration of HTTP request attempts.")
    for system, histogram in sorted(metrics.latency.items()):
        for bound, count in histogram.cumulative():
            labels = _labels({"system": system, "le": _bound(bound)})
            lines.append(f"{name}_bucket{labels} {count}")
        lines.append(f"{name}_sum{_labels({'system': system})} {histogram.total!r}")
        lines.append(f"{name}_count{_labels({'system': system})} {histogram.count}")
    return "\n".join(lines) + "\n"
