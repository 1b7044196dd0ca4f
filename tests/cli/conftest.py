"""CLI tests read Rich tables: give them a wide console so cells do not wrap."""

from __future__ import annotations

import pytest

from connector.cli.common import console, errors


@pytest.fixture(autouse=True)
def wide_console() -> None:
    console.width = 200
    errors.width = 200
