"""Structured JSON logs for the daemon: one JSON object per line on stderr.

Call sites log an *event* name plus fields (`log_event(logger, "run.end", route=..., ...)`);
the formatter writes `{"ts", "level", "logger", "event", ...fields}`. Events the daemon emits:
`run.start`, `run.end`, `run.skipped`, `run.failed`, `inbox.batch`, `inbox.failed`,
`webhook.rejected`, `daemon.start`, `daemon.stop`. Fields never hold secrets, headers or bodies.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any, TextIO

EVENT_FIELDS = "event_fields"
#: Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the record's `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, EVENT_FIELDS, None)
        if isinstance(fields, dict):
            entry.update(fields)
        else:
            entry["event"] = "log"
            entry["message"] = record.getMessage()
            # Other modules' `extra=` fields (the engine's run counts, the HTTP layer's
            # attempt) are kept as they are.
            for name, value in record.__dict__.items():
                if name not in _STANDARD and not name.startswith("_"):
                    entry.setdefault(name, value)
        if record.exc_info and record.exc_info[0] is not None:
            # The class only: exception messages from drivers can echo URLs with credentials.
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str, separators=(",", ":"))


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event."""
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={EVENT_FIELDS: {"event": event, **fields}})


def configure_logging(level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Send every log record through the JSON formatter (replaces the root handlers)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's access log repeats what our request metrics count; its errors still show.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
