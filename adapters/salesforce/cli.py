"""`connector salesforce …`: Salesforce-only commands (mounted through an entry point)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from connector.cli.common import console, fail, handle_errors, run_async, state

if TYPE_CHECKING:
    from .setup import Finding
    from .tooling import Created

app = typer.Typer(
    help="Salesforce: check the org is ready for the connector.", no_args_is_help=True
)


@app.command("setup")
@handle_errors
def setup(
    system: Annotated[
        str | None, typer.Option(help="The Salesforce system in config.yaml (default: each one).")
    ] = None,
    create: Annotated[
        bool,
        typer.Option(
            "--create",
            help="Create the missing custom fields through the Tooling API and grant the "
            "integration user Read and Edit on them (a permission set).",
        ),
    ] = False,
) -> None:
    """Check through describe that every field the adapter and the mapping files use exists,
    is writable and (for keys) is External ID + Unique; print what to create where not, or
    create it with --create."""
    # Imported here: `connector --help` mounts this app and must not load the adapter.
    from connector.model import Entity
    from connector.runtime import Runtime

    from .adapter import SalesforceAdapter
    from .setup import check
    from .tooling import create as create_fields

    config = state.config()
    names = [n for n, s in config.systems.items() if s.kind == "salesforce" and system in (None, n)]
    if not names:
        fail(f"no Salesforce system{f' named {system!r}' if system else ''} in {config.path}", 2)

    async def go() -> tuple[list[tuple[str, Finding]], list[tuple[str, Created]]]:
        found: list[tuple[str, Finding]] = []
        made: list[tuple[str, Created]] = []
        async with Runtime.open(config) as runtime:
            for name in names:
                adapter = runtime.adapters[name]
                assert isinstance(adapter, SalesforceAdapter)
                mappers = [runtime.mappers.for_system(name, entity) for entity in Entity]
                findings = await check(adapter, mappers)
                if create and any(f.create is not None or f.grant for f in findings):
                    made.append((name, await create_fields(adapter.client, findings)))
                    findings = await check(adapter, mappers)
                found += [(name, finding) for finding in findings]
        return found, made

    findings, made = run_async(go())
    failed = False
    for name, outcome in made:
        for line in outcome.done:
            console.print(f"{name}: {line}", highlight=False)
        for line in outcome.failed:
            console.print(f"{name}: {line}", highlight=False)
        failed = failed or bool(outcome.failed)
    for name, finding in findings:
        console.print(f"{name}: {finding}", highlight=False)
    creatable = sum(1 for _, f in findings if f.create is not None)
    if findings:
        if creatable and not create:
            console.print(
                f"`connector salesforce setup --create` creates the {creatable} missing custom "
                "field(s) through the Tooling API and grants the integration user access",
                highlight=False,
            )
        fail(f"{len(findings)} thing(s) to fix in the org before syncing", 1)
    if failed:
        fail("some fields could not be created", 1)
    if made:
        console.print(
            "people who should see these fields in Salesforce need the "
            "Connector_Integration permission set (or Read in their profile's field-level "
            "security)",
            highlight=False,
        )
    console.print("the org has every field the mapping needs", highlight=False)
