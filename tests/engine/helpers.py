"""Building configurations and runtimes around in-memory systems for engine tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from connector.config import AppConfig, load_config

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
