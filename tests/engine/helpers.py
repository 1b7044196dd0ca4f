"""Building configurations and runtimes around in-memory systems for engine tests."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from connector.config import AppConfig, load_config
from connector.state.store import StoreTx

TWO_WAY = {
    "systems": {
        "erp": {"adapter": "memory", "settings": {"batch_size": 10, "page_size": 25}},
        "crm": {"adapter": "memory", "settings": {"batch_size": 10, "page_size": 25}},
    },
    "routes": [
        {
            "name": "erp-to-crm",
            "from": "erp",
            "to": "crm",
            "entities": {
                "customer": {"match": ["number"]},
                "contact": {"match": ["email"]},
                "sale": {},
            },
        },
        {
            "name": "crm-to-erp",
            "from": "crm",
            "to": "erp",
            "entities": {"customer": {}, "contact": {}, "sale": {}},
        },
    ],
}


def write_config(directory: Path, data: dict[str, Any], state_url: str | None = None) -> Path:
    content = dict(data)
    if state_url:
        content["state"] = {"url": state_url}
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


def config_for(
    directory: Path, data: dict[str, Any] = TWO_WAY, state_url: str | None = None
) -> AppConfig:
    return load_config(write_config(directory, data, state_url))


class TransactionLog:
    """Which store transaction each bind and each filed failure was made in (a spy on
    `StoreTx`, set up by `watch`): for tests that count a page's transactions."""

    def __init__(self) -> None:
        self.by_tx: dict[int, list[str]] = defaultdict(list)
        #: Keeps each transaction alive, so no two share an id().
        self._seen: list[StoreTx] = []

    @classmethod
    def watch(cls, monkeypatch: pytest.MonkeyPatch) -> TransactionLog:
        log = cls()
        bind_all, record_failure = StoreTx.bind_all, StoreTx.record_failure

        def spied_bind(tx: StoreTx, entity: str, system: str, binds: Any) -> None:
            # Every bind goes through `bind_all` (`bind` too): one note a record bound.
            binds = list(binds)
            for _ in binds:
                log._note(tx, system)
            bind_all(tx, entity, system, binds)

        def spied_failure(tx: StoreTx, *args: Any, **kwargs: Any) -> None:
            log._note(tx, "failure")
            record_failure(tx, *args, **kwargs)

        monkeypatch.setattr(StoreTx, "bind_all", spied_bind)
        monkeypatch.setattr(StoreTx, "record_failure", spied_failure)
        return log

    def _note(self, tx: StoreTx, what: str) -> None:
        if id(tx) not in self.by_tx:
            self._seen.append(tx)
        self.by_tx[id(tx)].append(what)

    def binding(self, system: str) -> list[int]:
        """For each transaction that bound records in `system`, in order, how many."""
        return [whats.count(system) for whats in self.by_tx.values() if system in whats]

    def filing(self) -> list[int]:
        """For each transaction that filed failures, in order, how many."""
        return [whats.count("failure") for whats in self.by_tx.values() if "failure" in whats]
