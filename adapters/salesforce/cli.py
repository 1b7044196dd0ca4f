"""`connector salesforce …`: Salesforce-only commands (mounted through an entry point)."""

from __future__ import annotations

from typing import Annotated

import typer

from connector.cli.common import console, fail, handle_errors, run_async, state

app = typer.Typer(
    help="Salesforce: check the org is ready for the connector.", no_args_is_help=True
)


@app.command("setup")
@handle_errors
def setup(
    system: Annotated[
        str | None, typer.Option(help="The Salesforce system in config.yaml (default: each one).")
    ] = None,
) -> None:
    """Check through describe that every field the adapter and the mapping files use exists,
    is writable and (for keys) is External ID + Unique; print what to create where not."""
    # Imported here: `connector --help` mounts this app and must not load the adapter.
    from connector.model import Entity
    from connector.runtime import Runtime

    from .adapter import SalesforceAdapter
    from .setup import Finding, check

    config = state.config()
    names = [n for n, s in config.systems.items() if s.kind == "salesforce" and system in (None, n)]
    if not names:
        fail(f"no Salesforce system{f' named {system!r}' if system else ''} in {config.path}", 2)

    async def go() -> list[tuple[str, Finding]]:
        found: list[tuple[str, Finding]] = []
        async with Runtime.open(config) as runtime:
            for name in names:
                adapter = runtime.adapters[name]
                assert isinstance(adapter, SalesforceAdapter)
                mappers = [runtime.mappers.for_system(name, entity) for entity in Entity]
                found += [(name, finding) for finding in await check(adapter, mappers)]
        return found

    findings = run_async(go())
    for name, finding in findings:
        console.print(f"{name}: {finding}", highlight=False)
    if findings:
        fail(f"{len(findings)} thing(s) to fix in the org before syncing", 1)
    console.print("the org has every field the mapping needs", highlight=False)
