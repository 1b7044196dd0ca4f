"""`connector mappings check|preview|schema`: the mapping files as a user edits them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from connector.cli.admin import built_adapters, mapping_problems
from connector.cli.common import (
    EXIT_USAGE,
    console,
    errors,
    fail,
    handle_errors,
    report,
    run_async,
    state,
)
from connector.entity import Entity

app = typer.Typer(help="Check, preview and describe the mapping files.", no_args_is_help=True)


@app.command("check")
@handle_errors
def check(
    convergence: Annotated[
        bool,
        typer.Option(
            help="Also sync generated records both ways between each route's systems through "
            "the mappings, and report every field that would not settle."
        ),
    ] = False,
    examples: Annotated[
        int, typer.Option(min=1, help="Generated records per mapping pair (--convergence).")
    ] = 200,
) -> None:
    """Load every mapping file the routes use; report all problems (exit 2 if any)."""
    config = state.config()
    adapters = built_adapters(config)
    problems = mapping_problems(config, adapters)
    if convergence and not problems:
        from connector.cli.convergence import convergence_problems

        problems = convergence_problems(config, adapters, examples=examples)
    if problems:
        for problem in problems:
            report(problem)
        raise typer.Exit(EXIT_USAGE)
    console.print(
        "All mapping files are valid"
        + (f" and converge ({examples} records per pair)." if convergence else ".")
    )


@app.command("schema")
@handle_errors
def schema() -> None:
    """Print the JSON Schema of mapping files (for editor completion and checks)."""
    from connector.mapping.catalog import json_schema

    console.print_json(json.dumps(json_schema()))


def _cell(value: Any) -> str:
    return "" if value is None else json.dumps(value, default=str, ensure_ascii=False)


@app.command("preview")
@handle_errors
def preview(
    system: Annotated[str, typer.Option(help="The system the record comes from.")],
    entity: Annotated[Entity, typer.Option(help="customer, contact or sale")],
    record_id: Annotated[str | None, typer.Option("--id", help="Read this record.")] = None,
    file: Annotated[Path | None, typer.Option(help="A JSON file with native fields.")] = None,
) -> None:
    """Show one record native → canonical → each other system's native, side by side.

    Exits 2 when the record does not map into some system (the reason is printed).
    """
    from rich.markup import escape
    from rich.table import Table

    from connector.adapter import NativeRecord
    from connector.engine.resolver import BindingResolver
    from connector.mapping.preview import preview as build_preview
    from connector.runtime import Runtime

    if (record_id is None) == (file is None):
        fail("give exactly one of --id and --file", EXIT_USAGE)
    config = state.config()
    if system not in config.systems:
        fail(f"no system named {system!r} (systems: {', '.join(config.systems)})", EXIT_USAGE)

    async def go() -> Any:
        async with Runtime.open(config) as runtime:
            if file is not None:
                try:
                    fields = json.loads(file.read_text())
                except (OSError, json.JSONDecodeError) as error:
                    fail(f"{file}: not a readable JSON object ({error})", EXIT_USAGE)
                import datetime as dt

                native = NativeRecord(
                    id=str(fields.get("id", "preview")),
                    updated_at=dt.datetime.now(dt.UTC),
                    fields=fields,
                )
            else:
                found = await runtime.adapters[system].read(entity, [record_id or ""])
                if not found:
                    fail(f"{system} has no {entity.value} {record_id!r}")
                native = found[0]
            source = runtime.mappers.for_system(system, entity)
            targets = {
                name: runtime.mappers.for_system(name, entity)
                for name in config.systems
                if name != system
            }
            target_refs = {name: BindingResolver(runtime.store, name) for name in targets}
            source_refs = BindingResolver(runtime.store, system)
            for ref in source.references(native):  # resolve what the store knows, for display
                source_refs.load_external_ids(ref.entity, [ref.external_id])
                key = source_refs.canonical_key(ref.entity, ref.external_id)
                for resolver in target_refs.values():
                    if key is not None:
                        resolver.load_keys(ref.entity, [key])
            return build_preview(native, source, targets, source_refs, target_refs)

    result = run_async(go())
    table = Table(title=f"{system} {entity.value} → canonical → others")
    table.add_column(f"{system} field")
    table.add_column("value")
    table.add_column("canonical path")
    table.add_column("canonical value")
    for name in result.natives:
        table.add_column(f"{name} field")
        table.add_column(f"{name} value")
    for row in result.rows:
        cells = [row.source.field or "", _cell(row.source.value), row.path, _cell(row.canonical)]
        for name in result.natives:
            target = row.targets.get(name)
            cells += [target.field or "", _cell(target.value)] if target else ["", ""]
        table.add_row(*cells)
    console.print(table)
    for name, message in result.errors.items():
        errors.print(f"[red]error:[/red] {escape(name)}: {escape(str(message))}", highlight=False)
    if result.errors:
        raise typer.Exit(EXIT_USAGE)
