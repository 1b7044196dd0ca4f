"""What every CLI command shares: the loaded config, error handling, exit codes and output.

Exit codes: 0 everything synced, 1 some records failed (they are in `failures`) or the work
could not run, 2 a configuration or usage error, 3 the state store did not answer (for up to
`state.outage_seconds` during a sync): nothing after the last checkpoint was committed, and the
next run resumes there. Errors are one clear sentence; the traceback
only with `--debug`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from connector.config import AppConfig, config_path, load_config
from connector.engine.summary import RunSummary
from connector.errors import (
    ConfigurationError,
    ConnectorError,
    InvalidConfiguration,
    StoreUnavailableError,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STORE = 0, 1, 2, 3

console = Console(soft_wrap=True)
if not console.is_terminal:  # logs and pipes: tables wide enough that names are not cut
    console.width = max(console.width, 120)
errors = Console(stderr=True, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class CliState:
    config_file: Path | None = None
    debug: bool = False

    def config(self) -> AppConfig:
        return load_config(config_path(self.config_file))


state = CliState()


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the product's errors into one sentence and the right exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except InvalidConfiguration as error:
            for problem in error.problems:
                errors.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
            if state.debug:
                raise
            raise typer.Exit(EXIT_USAGE) from None
        except ConfigurationError as error:
            if state.debug:
                raise
            fail(str(error), EXIT_USAGE)
        except StoreUnavailableError as error:
            if state.debug:
                raise
            fail(f"{error}; the next run resumes from the last checkpoint", EXIT_STORE)
        except ConnectorError as error:
            if state.debug:
                raise
            fail(str(error))
        except KeyboardInterrupt:
            fail("interrupted; the next run resumes from the last checkpoint")
        except Exception as error:
            if state.debug:
                raise
            fail(f"unexpected {type(error).__name__}: {error} (run with --debug for details)")

    return wrapper


def run_async(coroutine: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(coroutine)


def setup_logging(debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def summary_table(summaries: list[RunSummary], *, dry_run: bool = False) -> Table:
    verb = "would be " if dry_run else ""
    table = Table(title="Dry run: nothing was written" if dry_run else "Sync summary")
    table.add_column("route")
    table.add_column("entity")
    for column in ("created", "updated", "unchanged", "deleted", "skipped", "failed"):
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


def exit_code(summaries: list[RunSummary]) -> int:
    return EXIT_FAILED if any(summary.failed for summary in summaries) else EXIT_OK
