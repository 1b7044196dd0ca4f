"""The `connector` command line: Typer commands with Rich progress and tables.

Adapters add their own commands through the `connector.cli` entry-point group (a Typer app
mounted under the entry's name) and their local API emulators through `connector.sandboxes`
(a `serve(host, port)` function), so the core never names a CRM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperGroup

from connector import __version__
from connector.cli import admin, failures, mappings, status, sync
from connector.cli.common import EXIT_USAGE, fail, handle_errors, setup_logging, state

ADAPTER_COMMANDS = "connector.cli"


class _AdapterCommands(TyperGroup):
    """The core commands, plus those adapters add through the `connector.cli` entry points.

    The entry points are read only when a command is not a core one, or when the commands are
    listed (`--help`): `connector status` starts without scanning the installed packages.
    """

    _mounted = False

    def _mount(self) -> None:
        if self._mounted:
            return
        self._mounted = True
        from importlib.metadata import entry_points

        for point in entry_points(group=ADAPTER_COMMANDS):
            if point.name in self.commands:
                continue
            try:
                command = typer.main.get_group(point.load())
            except ImportError:  # a broken plug-in must not take the whole CLI down
                continue
            command.name = point.name
            self.add_command(command, point.name)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is None:
            self._mount()
            found = super().get_command(ctx, cmd_name)
        return found

    def list_commands(self, ctx: Any) -> list[str]:
        self._mount()
        return super().list_commands(ctx)


app = typer.Typer(
    name="connector",
    cls=_AdapterCommands,
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
    debug: Annotated[
        bool,
        typer.Option(help="Verbose logs and full tracebacks (exit codes stay the same)."),
    ] = False,
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
app.command()(status.status)
app.command()(admin.check)
app.add_typer(failures.app, name="failures")
app.add_typer(admin.db_app, name="db")
app.add_typer(mappings.app, name="mappings")


@app.command()
@handle_errors
def daemon() -> None:
    """Run the routes on their schedules, serve webhooks and drain the inbox."""
    from connector.config import config_path
    from connector.daemon.runner import run_daemon

    raise typer.Exit(run_daemon(config_path(state.config_file)))


webhooks_app = typer.Typer(help="The webhook receiver.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.command("serve")
@handle_errors
def webhooks_serve() -> None:
    """Serve the webhook receiver and drain its inbox, without the scheduled runs."""
    from connector.config import config_path
    from connector.daemon.runner import serve_webhooks

    raise typer.Exit(serve_webhooks(config_path(state.config_file)))


DEFAULT_SANDBOX_PORT = 8081


def _configured_port(kind: str) -> int | None:
    """The port of a loopback `base_url` of a configured system of this kind, if any."""
    from urllib.parse import urlsplit

    try:
        config = state.config()
    except Exception:  # no usable config: the sandbox still runs on its default port
        return None
    for system in config.systems.values():
        base_url = getattr(system.settings, "base_url", None)
        if system.kind == kind and isinstance(base_url, str):
            parts = urlsplit(base_url)
            if parts.hostname in ("127.0.0.1", "localhost") and parts.port:
                return parts.port
    return None


@app.command()
@handle_errors
def sandbox(
    name: Annotated[str, typer.Argument(help="Which system's emulator to run.")],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option(
            help="Port to listen on (default: the port of that system's loopback base_url "
            "in config.yaml, else 8081; 0: a free port). The address it listens on is "
            "written to stderr once it is bound."
        ),
    ] = None,
) -> None:
    """Run a local emulator of a system's API (for demos and tests; no account needed)."""
    from importlib.metadata import entry_points

    from connector.listen import bind

    found = list(entry_points(group="connector.sandboxes", name=name))
    if not found:
        known = ", ".join(sorted(p.name for p in entry_points(group="connector.sandboxes")))
        fail(f"no sandbox named {name!r} (available: {known or 'none'})", EXIT_USAGE)
    chosen = port if port is not None else _configured_port(name) or DEFAULT_SANDBOX_PORT
    # Tried here first for a clear error; the sandbox binds again itself (`connector.listen`).
    try:
        bind(host, chosen).close()
    except OSError as error:
        fail(
            f"cannot listen on {host}:{chosen} ({error.strerror}); pick another port with "
            f"--port and point the system's base_url in config.yaml at it",
            EXIT_USAGE,
        )
    found[0].load()(host=host, port=chosen)


def main() -> None:
    app()
