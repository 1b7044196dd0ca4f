"""`connector mappings check --convergence` on the shipped config: how long a user waits.

The check runs 200 generated records per mapping pair by default (create, sync, one edit, three
passes each). Goal: the shipped config (erp ↔ crm, three entities) checks in ≤ 10 s of one
core, so it is cheap enough to run on every mapping edit and in CI. Run:
`.venv/bin/python bench/convergence.py`.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import yaml

from adapters.erp_generic.sample import create_sample_erp
from connector.cli.admin import built_adapters
from connector.cli.convergence import convergence_problems
from connector.config import load_config

GOAL_SECONDS = 10.0
EXAMPLES = 200


def write_config(directory: Path) -> Path:
    """The shipped config with its ERP in `directory`; the CRM is never contacted."""
    shipped = yaml.safe_load(Path(__file__).parents[1].joinpath("config.yaml").read_text())
    shipped["state"] = {"url": f"sqlite:///{directory / 'state.db'}"}
    shipped["systems"]["erp"]["settings"]["url"] = f"sqlite:///{directory / 'erp.db'}"
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(shipped, sort_keys=False))
    return path


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        create_sample_erp(directory / "erp.db", customers=3, contacts=3, orders=3, products=3)
        config = load_config(write_config(directory))
        adapters = built_adapters(config)
        started, cpu = time.perf_counter(), time.process_time()
        problems = convergence_problems(config, adapters, examples=EXAMPLES)
        wall, used = time.perf_counter() - started, time.process_time() - cpu
    pairs = 3
    print(f"shipped config: {pairs} pairs x {EXAMPLES} records, {len(problems)} findings")
    print(f"wall {wall:.2f} s, CPU {used:.2f} s ({used / (pairs * EXAMPLES) * 1000:.2f} ms/record)")
    print(f"goal <= {GOAL_SECONDS:.0f} s of CPU: ratio {used / GOAL_SECONDS:.2f}")


if __name__ == "__main__":
    main()
