"""`connector hubspot …`: commands that only make sense for HubSpot (mounted via entry point)."""

from __future__ import annotations

from typing import Annotated

import typer

from connector.cli.common import console, fail, handle_errors, run_async, state

app = typer.Typer(help="HubSpot: set the portal up for the connector.", no_args_is_help=True)


@app.command("setup")
@handle_errors
def setup(
    system: Annotated[
        str | None, typer.Option(help="The HubSpot system in config.yaml (default: each one).")
    ] = None,
) -> None:
    """Create the property group, the unique key properties and the mapped custom properties."""
    from connector.model import Entity
    from connector.runtime import Runtime

    from .adapter import HubSpotAdapter
    from .setup import setup as create_properties

    config = state.config()
    names = [n for n, s in config.systems.items() if s.kind == "hubspot" and system in (None, n)]
    if not names:
        fail(f"no HubSpot system{f' named {system!r}' if system else ''} in {config.path}", 2)

    async def go() -> list[str]:
        lines: list[str] = []
        async with Runtime.open(config) as runtime:
            for name in names:
                adapter = runtime.adapters[name]
                assert isinstance(adapter, HubSpotAdapter)
                mappers = [runtime.mappers.for_system(name, entity) for entity in Entity]
                lines += [f"{name}: {line}" for line in await create_properties(adapter, mappers)]
        return lines

    for line in run_async(go()):
        console.print(line, highlight=False)
