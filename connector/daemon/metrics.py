"""The daemon's own counters and their Prometheus text rendering (exposition format 0.0.4).

Counters live in-process (like every Prometheus client): they start at zero when the daemon
starts. Gauges that describe shared state (inbox depth and lag) are read from the store at
scrape time, so they are right even with several daemons on one database.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from connector.http.telemetry import Histogram

#: Run statuses (see `connector.engine.service`) after which the route is caught up.
COMPLETED = frozenset({"succeeded", "partial"})


def labels(pairs: Mapping[str, str]) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    if not pairs:
        return ""
    return "{" + ",".join(f'{key}="{escape(value)}"' for key, value in pairs.items()) + "}"


def family(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if isinstance(value, float) else str(value)


@dataclass(frozen=True, slots=True)
class InboxGauges:
    """Inbox state read from the store when scraped."""

    by_status: Mapping[str, int]
    oldest_pending_age_seconds: float


class DaemonMetrics:
    """Counters for webhooks, runs, records and inbox processing."""

    def __init__(self) -> None:
        self.webhook_requests: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.webhook_events: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.webhook_latency: defaultdict[str, Histogram] = defaultdict(Histogram)
        self.runs: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self.records: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.last_success: dict[str, float] = {}
        self.inbox_outcomes: defaultdict[str, int] = defaultdict(int)

    def webhook_request(self, system: str, status: int, seconds: float) -> None:
        self.webhook_requests[(system, str(status))] += 1
        self.webhook_latency[system].observe(seconds)

    def webhook_stored(self, system: str, new: int, duplicates: int) -> None:
        self.webhook_events[(system, "new")] += new
        self.webhook_events[(system, "duplicate")] += duplicates

    def run_finished(
        self,
        route: str,
        trigger: str,
        outcome: str,
        records: Mapping[str, int],
        finished_at: float | None = None,
    ) -> None:
        self.runs[(route, trigger, outcome)] += 1
        for record_outcome, count in records.items():
            self.records[(route, record_outcome)] += count
        if outcome in COMPLETED and finished_at is not None:
            self.last_success[route] = finished_at

    def inbox_outcome(self, outcome: str, count: int = 1) -> None:
        self.inbox_outcomes[outcome] += count

    def render(self, inbox: InboxGauges | None, now: float) -> str:
        lines: list[str] = []
        lines += _counter(
            "connector_webhook_requests_total",
            "Webhook HTTP requests by system and response status.",
            (({"system": s, "status": c}, n) for (s, c), n in self.webhook_requests.items()),
        )
        lines += _counter(
            "connector_webhook_events_total",
            "Verified webhook events by system; duplicate = redelivery already in the inbox.",
            (({"system": s, "outcome": o}, n) for (s, o), n in self.webhook_events.items()),
        )
        name = "connector_webhook_request_duration_seconds"
        lines += family(name, "histogram", "Time from request to response of webhook calls.")
        for system, histogram in sorted(self.webhook_latency.items()):
            for bound, count in histogram.cumulative():
                lines.append(
                    f"{name}_bucket{labels({'system': system, 'le': number(bound)})} {count}"
                )
            lines.append(f"{name}_sum{labels({'system': system})} {histogram.total!r}")
            lines.append(f"{name}_count{labels({'system': system})} {histogram.count}")
        lines += _counter(
            "connector_runs_total",
            "Route runs by route, trigger (schedule, webhook) and outcome (succeeded, partial, "
            "error, skipped).",
            (({"route": r, "trigger": t, "outcome": o}, n) for (r, t, o), n in self.runs.items()),
        )
        lines += _counter(
            "connector_records_total",
            "Records handled by route runs, by outcome (created, updated, skipped, failed, ...).",
            (({"route": r, "outcome": o}, n) for (r, o), n in self.records.items()),
        )
        lines += family(
            "connector_route_lag_seconds", "gauge", "Seconds since the route last ran cleanly."
        )
        for route, finished in sorted(self.last_success.items()):
            lag = max(0.0, now - finished)
            lines.append(f"connector_route_lag_seconds{labels({'route': route})} {lag!r}")
        lines += _counter(
            "connector_inbox_processed_total",
            "Inbox events handled by the worker: done, retried, failed, ignored (no route).",
            (({"outcome": o}, n) for o, n in self.inbox_outcomes.items()),
        )
        if inbox is not None:
            lines += family(
                "connector_inbox_events", "gauge", "Inbox rows by status (pending = depth)."
            )
            for status, count in sorted(inbox.by_status.items()):
                lines.append(f"connector_inbox_events{labels({'status': status})} {count}")
            depth = inbox.by_status.get("pending", 0) + inbox.by_status.get("processing", 0)
            lines += family("connector_inbox_depth", "gauge", "Inbox events not yet processed.")
            lines.append(f"connector_inbox_depth {depth}")
            lines += family(
                "connector_inbox_lag_seconds",
                "gauge",
                "Age of the oldest unprocessed inbox event (0 when empty).",
            )
            lines.append(f"connector_inbox_lag_seconds {inbox.oldest_pending_age_seconds!r}")
        return "\n".join(lines) + "\n"


def _counter(
    name: str, help_text: str, samples: Iterable[tuple[Mapping[str, str], int]]
) -> list[str]:
    lines = family(name, "counter", help_text)
    for pairs, value in sorted(samples, key=lambda sample: sorted(sample[0].items())):
        lines.append(f"{name}{labels(pairs)} {value}")
    return lines
