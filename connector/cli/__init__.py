"""The `connector` command line: Typer commands with Rich progress and tables.

Adapters add their own commands through the `connector.cli` entry-point group (a Typer app
mounted under the entry's name) and their local API emulators through `connector.sandboxes`
(a `serve(host, port)` function), so the core never names a CRM.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer

from connector import __version__
from connector.cli import admin, failures, mappings, sync
from connector.cli.common import EXIT_USAGE, fail, handle_errors, setup_logging, state
from connector.config import config_path

app = typer.Typer(
    name="connector",
    help="Keeps an ERP and a CRM in step: customers, contacts and sales, both ways.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main_options(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="config.yaml to use (default: $CONNECTOR_CONFIG or ./config.yaml).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Verbose logs and full tracebacks.")] = False,
) -> None:
    state.config_file = config
    state.debug = debug
    setup_logging(debug)


@app.command()
def version() -> None:
    """Print the product's version."""
    typer.echo(__version__)


app.command()(sync.sync)
app.command()(sync.resync)
app.command()(admin.status)
app.command()(admin.check)
app.add_typer(failures.app, name="failures")
app.add_typer(admin.db_app, name="db")
app.add_typer(mappings.app, name="mappings")


@app.command()
@handle_errors
def daemon() -> None:
    """Run the routes on their schedules, serve webhooks and drain the inbox."""
    from connector.daemon.runner import run_daemon

    raise typer.Exit(run_daemon(config_path(state.config_file)))


webhooks_app = typer.Typer(help="The webhook receiver.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.command("serve")
@handle_errors
def webhooks_serve() -> None:
    """Serve the webhook receiver and drain its inbox, without the scheduled runs."""
    from connector.daemon.runner import serve_webhooks

    raise typer.Exit(serve_webhooks(config_path(state.config_file)))


@app.command()
@handle_errors
def sandbox(
    name: Annotated[str, typer.Argument(help="Which system's emulator to run.")],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8081,
) -> None:
    """Run a local emulator of a system's API (for demos and tests; no account needed)."""
    found = list(entry_points(group="connector.sandboxes", name=name))
    if not found:
        known = ", ".join(sorted(p.name for p in entry_points(group="connector.sandboxes")))
        fail(f"no sandbox named {name!r} (available: {known or 'none'})", EXIT_USAGE)
    found[0].load()(host=host, port=port)


def _mount_adapter_commands() -> None:
    for point in entry_points(group="connector.cli"):
        try:
            app.add_typer(point.load(), name=point.name)
        except ImportError:  # a broken plug-in must not take the whole CLI down
            continue


_mount_adapter_commands()


def main() -> None:
    app()
