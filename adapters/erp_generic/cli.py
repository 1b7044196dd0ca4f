"""`connector erp …`: commands for the generic ERP adapter (mounted via entry point).

`connector erp sample` creates the sample ERP that the shipped `config.yaml` points at, so the
product can be run against realistic data without `./dev demo` (which also does this).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from connector.cli.common import console, fail, handle_errors, state

if TYPE_CHECKING:
    from connector.config import AppConfig

    from .settings import SqlSettings

app = typer.Typer(
    help="The generic ERP adapter: a sample ERP to try it on, and inspecting a foreign one.",
    no_args_is_help=True,
)

SAMPLE_TABLES = ("customers", "contacts", "products", "sales_orders", "sales_order_lines")


def _sql_settings(config: AppConfig, system: str | None) -> tuple[str, SqlSettings]:
    from .settings import ErpGenericSettings, SqlSettings

    names = [
        n for n, s in config.systems.items() if s.kind == "erp_generic" and system in (None, n)
    ]
    if not names:
        fail(f"no erp_generic system{f' named {system!r}' if system else ''} in {config.path}", 2)
    if len(names) > 1:
        fail(f"several erp_generic systems ({', '.join(names)}): name one with --system", 2)
    settings = config.systems[names[0]].settings
    root = settings.root if isinstance(settings, ErpGenericSettings) else settings
    if not isinstance(root, SqlSettings):
        fail(f"system {names[0]!r} is in REST mode: the sample ERP is a SQL database", 2)
    return names[0], root


@app.command("sample")
@handle_errors
def sample(
    system: Annotated[
        str | None, typer.Option(help="The erp_generic system in config.yaml (default: the one).")
    ] = None,
    customers: Annotated[int, typer.Option(min=1, help="Customers to generate.")] = 1000,
    contacts: Annotated[
        int | None, typer.Option(min=0, help="Contacts (default: 3 per customer).")
    ] = None,
    orders: Annotated[
        int | None, typer.Option(min=0, help="Sales orders (default: 5 per customer).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 42,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing SQLite sample file.")
    ] = False,
) -> None:
    """Create the sample ERP (customers, contacts, products, orders with lines, invoices).

    A SQLite URL gets a new file; any other database must not have the sample's tables yet
    (nothing is ever dropped there).
    """
    import sqlalchemy as sa

    from .sample import create_sample_erp, populate, sample_metadata
    from .sql_engine import make_engine

    config = state.config()
    name, settings = _sql_settings(config, system)
    contacts = 3 * customers if contacts is None else contacts
    orders = 5 * customers if orders is None else orders
    engine = make_engine(settings, config.base_dir)
    try:
        url = engine.url
        if url.get_backend_name() == "sqlite":
            if not url.database or url.database == ":memory:":
                fail(f"system {name!r}: an in-memory SQLite database cannot hold a sample", 2)
            engine.dispose()
            path = Path(url.database).resolve()  # make_engine made it relative to config.yaml
            if path.exists() and not force:
                fail(f"{path} exists; --force replaces it", 2)
            stats = create_sample_erp(
                path, customers=customers, contacts=contacts, orders=orders, seed=seed
            )
            where = str(path)
        else:
            present = set(sa.inspect(engine).get_table_names()) & set(SAMPLE_TABLES)
            if present:
                fail(
                    f"system {name!r}: the database already has {', '.join(sorted(present))}; "
                    "the sample is only created in an empty database",
                    2,
                )
            stats = populate(engine, sample_metadata(), customers, contacts, orders, seed)
            where = url.render_as_string(hide_password=True)
    finally:
        engine.dispose()
    console.print(
        f"{name}: sample ERP at {where}: {stats.customers:,} customers, {stats.contacts:,} "
        f"contacts, {stats.products:,} products, {stats.orders:,} orders with "
        f"{stats.order_lines:,} lines, {stats.invoices:,} invoices.",
        highlight=False,
    )


@app.command("inspect")
@handle_errors
def inspect_command(
    url: Annotated[
        str | None,
        typer.Option(help="A SQLAlchemy URL (default: the erp_generic system's in config.yaml)."),
    ] = None,
    system: Annotated[
        str | None, typer.Option(help="The erp_generic system in config.yaml (default: the one).")
    ] = None,
    db_schema: Annotated[
        str | None, typer.Option("--schema", help="A database schema (default: the default).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Write erp-config.yaml and mappings/erp_generic/*.yaml into this folder."
        ),
    ] = None,
) -> None:
    """Read a database's schema and propose a starting config and mapping files (read-only)."""
    import sqlalchemy as sa

    from connector.dburl import normalise_url

    from .inspection import choose, inspect_database, render_config, render_mapping
    from .sql_engine import make_engine

    if url is None:
        config = state.config()
        _, settings = _sql_settings(config, system)
        engine = make_engine(settings, config.base_dir)
        shown = "${ERP_DATABASE_URL}"
    else:
        parsed = normalise_url(url, "--url")  # postgresql:// and mysql:// as everywhere else
        engine = sa.create_engine(parsed)
        shown = parsed.render_as_string(hide_password=True)
    try:
        with engine.connect() as connection:
            proposals = inspect_database(connection, db_schema)
    finally:
        engine.dispose()
    config_text = render_config(proposals, shown)
    chosen = choose(proposals)
    mappings = {entity: render_mapping(p, chosen) for entity, p in chosen.items()}
    if out is None:
        console.print(config_text, highlight=False, markup=False)
        for entity, text in mappings.items():
            console.print(
                f"# --- mappings/erp_generic/{entity}.yaml", highlight=False, markup=False
            )
            console.print(text, highlight=False, markup=False)
        return
    folder = out / "mappings" / "erp_generic"
    folder.mkdir(parents=True, exist_ok=True)
    (out / "erp-config.yaml").write_text(config_text)
    for entity, text in mappings.items():
        (folder / f"{entity}.yaml").write_text(text)
    console.print(
        f"wrote {out / 'erp-config.yaml'} and {len(mappings)} mapping files in {folder}",
        highlight=False,
    )
