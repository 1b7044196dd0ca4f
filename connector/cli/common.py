"""What every CLI command shares: the loaded config, error handling, exit codes and output.

Exit codes (README.md "Using it"): 0 everything synced, 1 some records failed (they are in
`failures`) or the work could not run for a reason outside the user's hands, 2 a configuration
or usage error (a bad key, a missing file, a rejected credential: something a person fixes), 3
the state store did not answer (for up to `state.outage_seconds` during a sync): nothing after
the last checkpoint was committed, and the next run resumes there. `--debug` adds logs and the
traceback and never changes the exit code. Errors are one clear sentence on stderr; with
`--json` the command's one JSON document on stdout says the same.

Heavy modules (the engine, SQLAlchemy, the adapters) are imported inside the commands, so
`connector --help` and `connector status` start quickly (bench/cli_startup.py).
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import traceback
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from connector.errors import (
    ConfigurationError,
    ConnectorError,
    InvalidConfiguration,
    StoreUnavailableError,
)

if TYPE_CHECKING:
    from rich.table import Table

    from connector.config import AppConfig
    from connector.engine.summary import RunSummary

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STORE = 0, 1, 2, 3

#: The `--json` flag every scripting-friendly command takes (keys in docs/operations.md).
JsonFlag = Annotated[
    bool, typer.Option("--json", help="One JSON document on stdout (docs/operations.md).")
]

# No emoji codes: a record's ":x:" is data, not a picture (and the code table costs start-up).
console = Console(soft_wrap=True, emoji=False)
if not console.is_terminal:  # logs and pipes: tables wide enough that names are not cut
    console.width = max(console.width, 160)
errors = Console(stderr=True, soft_wrap=True, emoji=False)

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class CliState:
    config_file: Path | None = None
    debug: bool = False
    #: Set by a command run with `--json`: errors then also go to stdout as a JSON document.
    json_output: bool = False

    def config(self, *, systems: bool = True) -> AppConfig:
        """The configuration; `systems=False` for store-only commands (see `load_config`)."""
        from connector.config import config_path, load_config

        return load_config(config_path(self.config_file), systems=systems)


state = CliState()


def emit_json(document: Any) -> None:
    """Write a command's one JSON document to stdout (`--json`)."""
    sys.stdout.write(json.dumps(document, default=str, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def report(line: object) -> None:
    """One `error:` line on stderr (the text is shown as is, brackets and all)."""
    errors.print(f"[red]error:[/red] {escape(str(line))}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_FAILED, problems: list[str] | None = None) -> NoReturn:
    """Say what went wrong (and, with `--json`, as JSON on stdout), then exit with `code`."""
    lines = problems or [message]
    for line in lines:
        report(line)
    if state.json_output:
        emit_json({"ok": False, "exit_code": code, "error": message, "problems": lines})
    raise typer.Exit(code)


def _debug_traceback() -> None:
    if state.debug:
        traceback.print_exc(file=sys.stderr)


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the product's errors into one sentence and the right exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except InvalidConfiguration as error:
            _debug_traceback()
            problems = [str(problem) for problem in error.problems]
            fail(str(error).splitlines()[0], EXIT_USAGE, problems)
        except ConfigurationError as error:
            _debug_traceback()
            fail(str(error), EXIT_USAGE)
        except StoreUnavailableError as error:
            _debug_traceback()
            fail(f"{error}; the next run resumes from the last checkpoint", EXIT_STORE)
        except ConnectorError as error:
            _debug_traceback()
            fail(str(error))
        except KeyboardInterrupt:
            fail("interrupted; the next run resumes from the last checkpoint")
        except Exception as error:
            _debug_traceback()
            hint = "" if state.debug else " (run `connector --debug …` to see the traceback)"
            fail(f"unexpected {type(error).__name__}: {error}{hint}")

    return wrapper


def run_async(coroutine: Coroutine[Any, Any, R]) -> R:
    import asyncio

    return asyncio.run(coroutine)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time, so a live progress display that
    redirects stderr prints log lines above itself instead of being torn by them."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr  # not setStream: that flushes the old one, maybe closed by now
        super().emit(record)


@contextmanager
def quiet_http_log() -> Iterator[None]:
    """While probing systems: every refused probe is reported as a problem, so the HTTP
    layer's WARNING for the same call is noise (kept with `--debug`)."""
    http_log = logging.getLogger("connector.http")
    level = http_log.level
    if not state.debug:
        http_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        http_log.setLevel(level)


def setup_logging(debug: bool) -> None:
    """Plain lines on a terminal, one JSON object per line otherwise (for log collectors)."""
    handler = _CurrentStderr()
    if sys.stderr.isatty():
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        from connector.daemon.logging import JsonFormatter

        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, _CurrentStderr):  # ours, from an earlier call in this process
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


COUNT_COLUMNS = ("created", "updated", "unchanged", "deleted", "skipped", "failed")


def summary_table(summaries: list[RunSummary], *, dry_run: bool = False) -> Table:
    from rich.table import Table

    verb = "would be " if dry_run else ""
    table = Table(title="Dry run: nothing was written" if dry_run else "Sync summary")
    table.add_column("route")
    table.add_column("entity")
    for column in COUNT_COLUMNS:
        planned = column in ("created", "updated", "deleted")
        table.add_column(f"{verb}{column}" if planned else column, justify="right")
    for summary in summaries:
        for entity, counts in summary.counts.items():
            failed = f"[red]{counts.failed}[/red]" if counts.failed else "0"
            table.add_row(
                summary.route,
                entity.value,
                str(counts.created),
                str(counts.updated),
                str(counts.unchanged),
                str(counts.deleted),
                str(counts.skipped),
                failed,
            )
    return table


def summary_json(summary: RunSummary) -> dict[str, Any]:
    """A run as `sync --json` and `resync --json` report it (keys in docs/operations.md)."""
    return {
        "route": summary.route,
        "run_id": summary.run_id,
        "status": summary.status,
        "counts": summary.as_json(),
        "failed": summary.failed,
    }


def exit_code(summaries: list[RunSummary]) -> int:
    return EXIT_FAILED if any(summary.failed for summary in summaries) else EXIT_OK
