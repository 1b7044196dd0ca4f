"""Issue 15 item 5, following a sync: warnings print above the live display on a terminal
instead of tearing it, and off a terminal a plain progress line comes every few seconds.

The sync is the real `connector sync` in a subprocess against the HubSpot sandbox, made slow
(latency on every call, the ERP read two customers a page) and answering a fifth of its calls
with 429 — each of which the HTTP layer logs as a WARNING while the display is up. On a
terminal (a pseudo-terminal, its output replayed onto a screen by `terminal.Screen`), every
warning must end up as a whole line of its own and the transient display must leave nothing
behind; off a terminal, progress lines must keep coming while the sync runs. The rule that
spaces the plain lines is tested with a hand-moved clock.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters.erp_generic.sample import create_sample_erp
from connector.cli import sync as sync_cli
from connector.engine.summary import EntityCounts
from connector.entity import Entity
from tests.e2e.conftest import Sandbox
from tests.firsthour.conftest import CLEARED, ROOT, Folder, fresh_clone
from tests.firsthour.terminal import Screen, run_on_pty

CUSTOMERS = 60
COLUMNS = 300
#: A WARNING line as the terminal log format writes it (`connector.cli.common.setup_logging`).
WARNING_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING [\w.]+: \S.*$")
#: What the HTTP layer logs for a 429 it waits out.
RATE_LIMITED = re.compile(r"WARNING connector\.http: crm \S+ \S+ 429 [\d.]+ms attempt=\d+ wait: ")


@pytest.fixture
def slow_world(tmp_path: Path, hubspot: Sandbox) -> Iterator[Folder]:
    """The shipped config on a 60-customer sample ERP read 2 a page, and a slow, 429-ing CRM."""
    folder = fresh_clone(tmp_path / "slow")
    create_sample_erp(folder.path / "demo" / "erp.db", customers=CUSTOMERS, contacts=0, orders=0)
    config = folder.path / "config.yaml"
    config.write_text(config.read_text().replace("mode: sql\n", "mode: sql\n      page_size: 2\n"))
    folder.env["HUBSPOT_BASE_URL"] = hubspot.url
    switches = f"{hubspot.url}/_sandbox/switches"
    slow = {"latency_ms": 250, "faults": {"rate_limited": 0.2}, "seed": 15}
    httpx.patch(switches, json=slow, timeout=10).raise_for_status()
    yield folder
    quiet = {"latency_ms": 0, "faults": {"rate_limited": 0.0}}
    httpx.patch(switches, json=quiet, timeout=10).raise_for_status()


def environment(folder: Folder, **extra: str) -> dict[str, str]:
    # Variables that would make Rich treat the terminal as something else.
    rich = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS")
    base = {k: v for k, v in os.environ.items() if k not in CLEARED and k not in rich}
    return {**base, "PYTHONPATH": str(ROOT), **folder.env, **extra}


def test_warnings_print_above_the_live_display_without_tearing_it(slow_world: Folder):
    command = [sys.executable, "-m", "connector", "sync", "erp-to-crm", "-e", "customer"]
    # Wide enough that no log line wraps: each is then one screen line.
    code, output = run_on_pty(command, slow_world.path, environment(slow_world), columns=COLUMNS)
    assert code == 0, output
    # The display was up when warnings came: some 429 was logged between two of its frames.
    first_frame = output.index("erp-to-crm customer")
    last_frame = output.rindex("erp-to-crm customer", 0, output.index("Sync summary"))
    assert RATE_LIMITED.search(output, first_frame, last_frame), output

    screen = Screen(columns=COLUMNS)
    screen.feed(output)
    lines = screen.text()
    warnings = [line for line in lines if "WARNING" in line]
    assert sum(bool(RATE_LIMITED.search(line)) for line in warnings) >= 2, "\n".join(lines)
    torn = [line for line in warnings if not WARNING_LINE.match(line)]
    assert torn == [], "\n".join(lines)
    # The transient display leaves no progress line behind: what is left is the warnings,
    # then the summary table.
    summary = next(i for i, line in enumerate(lines) if "Sync summary" in line)
    assert all(WARNING_LINE.match(line) for line in lines[:summary] if line), "\n".join(lines)
    row = next(line for line in lines if re.match(r"│ erp-to-crm\s*│ customer\s*│", line))
    created, updated, unchanged, _, _, failed = map(int, row.split("│")[3:9])
    assert created + updated + unchanged == CUSTOMERS and failed == 0


def test_off_a_terminal_a_plain_progress_line_comes_every_few_seconds(slow_world: Folder):
    # Every half second here (5 s by default), against ~30 pages of slow calls, five at a time.
    result = slow_world.run(
        "sync", "erp-to-crm", "-e", "customer", env={sync_cli.PROGRESS_ENV: "0.5"}, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = re.findall(
        r"^progress: erp-to-crm customer: (\d+) created, (\d+) updated, (\d+) unchanged, "
        r"(\d+) failed$",
        result.stderr,
        re.M,
    )
    done = [sum(map(int, line)) for line in lines]
    # Several lines while the sync runs, each further on than the last; not one per page.
    assert len(done) >= 2, result.stderr
    assert done == sorted(done) and done[0] < CUSTOMERS, result.stderr
    assert len(done) < CUSTOMERS // 2, result.stderr
    assert "\x1b[" not in result.stderr  # no live display's cursor movements in a pipe


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_plain_progress_waits_one_interval_then_prints_at_most_once_per_interval(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    clock = Clock()
    monkeypatch.setattr(sync_cli.time, "monotonic", clock)
    monkeypatch.setenv(sync_cli.PROGRESS_ENV, "5")
    progress = sync_cli.PlainProgress()
    counts = EntityCounts()

    def page(at: float, created: int, entity: Entity = Entity.CUSTOMER) -> list[str]:
        clock.now = 1000.0 + at
        counts.created = created
        progress.show("r", entity, counts)
        return capsys.readouterr().err.splitlines()

    assert page(0, 1) == []  # a quick sync prints only its summary
    assert page(4.9, 2) == []
    assert page(5.0, 3) == ["progress: r customer: 3 created, 0 updated, 0 unchanged, 0 failed"]
    assert page(7, 4) == []
    assert page(9.9, 5) == []
    assert page(10.0, 6) == ["progress: r customer: 6 created, 0 updated, 0 unchanged, 0 failed"]
    assert page(10.5, 7, Entity.CONTACT) == []  # each entity keeps its own interval
    assert page(15.5, 8, Entity.CONTACT)[0].startswith("progress: r contact: 8 created")
    clock.now = 1016.0
    progress.show("r", Entity.CUSTOMER, counts, final=True)  # the last one always prints
    assert capsys.readouterr().err.startswith("progress: r customer: 8 created")
