"""`connector erp sample`: the sample ERP created where config.yaml's ERP system points."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from connector.cli import app as cli
from connector.cli.common import console, errors

SHIPPED = Path(__file__).parents[2] / "config.yaml"


def config_with_erp_url(directory: Path, url: str) -> Path:
    config = yaml.safe_load(SHIPPED.read_text())
    config["systems"]["erp"]["settings"]["url"] = url
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def connector(config: Path, *args: str, expect: int = 0) -> str:
    console.width = errors.width = 200
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    assert result.exit_code == expect, result.output
    return result.output


def counts(url: str) -> tuple[int, int, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return tuple(  # type: ignore[return-value]
                connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
                for table in ("customers", "contacts", "sales_orders")
            )
    finally:
        engine.dispose()


def test_a_sqlite_sample_lands_beside_the_config_and_is_only_replaced_when_asked(tmp_path: Path):
    folder = tmp_path / "site"
    folder.mkdir()
    config = config_with_erp_url(folder, "sqlite:///data/erp.db")
    out = connector(config, "erp", "sample", "--customers", "20")
    database = folder / "data" / "erp.db"
    assert "20 customers, 60 contacts" in out and str(database) in out
    assert counts(f"sqlite:///{database}") == (20, 60, 100)

    refused = connector(config, "erp", "sample", "--customers", "5", expect=2)
    assert "exists; --force replaces it" in refused
    assert counts(f"sqlite:///{database}")[0] == 20, "a refused run must leave the file alone"

    connector(config, "erp", "sample", "--customers", "5", "--orders", "7", "--force")
    assert counts(f"sqlite:///{database}") == (5, 15, 7)


def test_the_sample_fills_an_empty_server_database_and_never_touches_a_used_one(
    tmp_path: Path, pg_schema_url: str
):
    config = config_with_erp_url(tmp_path, pg_schema_url)
    out = connector(config, "erp", "sample", "--customers", "10")
    assert "10 customers" in out
    assert counts(pg_schema_url) == (10, 30, 50)

    refused = connector(config, "erp", "sample", "--customers", "3", expect=2)
    assert "already has" in refused and "customers" in refused
    assert counts(pg_schema_url)[0] == 10
