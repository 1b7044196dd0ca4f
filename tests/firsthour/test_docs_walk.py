"""The documentation matches the product: every `connector …` command and flag shown in README.md
and docs/*.md exists (each command is run with `--help` through the real CLI), and every
config.yaml key the docs name exists in the configuration model.

Commands that adapters add through entry points (`connector hubspot setup`, `connector erp
sample`, any installed later) are found the way the CLI finds them, so documenting a new
adapter's command needs no change here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
import yaml

from connector.adapter import adapter_class
from connector.cli import app
from connector.config import RawConfig, allowed_keys

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: Options of the top-level command, allowed before any subcommand.
GLOBAL_OPTIONS = {"--config": True, "-c": True, "--debug": False, "--help": False}
TOP_LEVEL = {"version", "state", "mappings", "systems", "routes", "daemon", "webhooks"}


def doc_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# -- commands ----------------------------------------------------------------------------------


def command_snippets() -> Iterator[tuple[str, str]]:
    """(doc, snippet) for each inline code span or code-block line that runs `connector`."""
    for path in DOCS:
        text = doc_text(path)
        spans = re.findall(r"`([^`\n]*)`", text)
        lines = [
            line
            for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
            for line in block.splitlines()
        ]
        for snippet in [*spans, *lines]:
            # The command itself, or a path ending in it (ExecStart=/srv/…/bin/connector), not a
            # word in another command's arguments (`journalctl -u connector`).
            found = re.search(r"(?:^|/)connector((?: [^#]*)?)$", snippet.split("#")[0].strip())
            if found and found.group(1).strip():
                yield path.name, "connector" + found.group(1).rstrip()


def split_alternatives(snippet: str) -> list[str]:
    """`connector failures list / show ID / retry` → one command line per alternative."""
    parts = [part.strip() for part in re.split(r" / (?=[a-z])", snippet)]
    path, _, _ = resolve(words_of(parts[0]))
    parent = " ".join(["connector", *path[:-1]])
    return [parts[0], *(f"{parent} {part}" for part in parts[1:])]


def words_of(line: str) -> list[str]:
    """The words after `connector`, without brackets, bars and placeholders like `…`."""
    return [
        word
        for word in re.split(r"[\s\[\]()|\\]+", line)[1:]
        if word and "…" not in word and word != "..."
    ]


@cache
def root_command() -> Any:
    command = typer.main.get_command(app)
    assert is_group(command)
    return command


def is_group(command: Any) -> bool:
    return hasattr(command, "get_command")


def resolve(words: list[str]) -> tuple[list[str], Any, list[str]]:
    """The subcommand path the words name, the command it reaches and the words after it."""
    context = typer.Context(root_command())
    command = root_command()
    path: list[str] = []
    rest = list(words)
    while rest and is_group(command):
        token = rest[0]
        if token in GLOBAL_OPTIONS and not path:
            rest = rest[2:] if GLOBAL_OPTIONS[token] else rest[1:]
            continue
        found = command.get_command(context, token)
        if found is None:
            break
        command, path, rest = found, [*path, token], rest[1:]
    return path, command, rest


def documented_commands() -> dict[tuple[str, ...], set[str]]:
    """Each documented command path with the flags shown for it, e.g. {("sync",): {"--full"}}."""
    found: dict[tuple[str, ...], set[str]] = {}
    for doc, snippet in command_snippets():
        for line in split_alternatives(snippet):
            path, command, rest = resolve(words_of(line))
            if is_group(command) and rest and not rest[0].startswith("-"):
                pytest.fail(f"{doc}: `{line}`: `connector {' '.join(path)}` has no {rest[0]!r}")
            flags = {word.split("=")[0] for word in rest if word.startswith("-")}
            found.setdefault(tuple(path), set()).update(flags - set(GLOBAL_OPTIONS))
    return found


def test_the_docs_show_commands_at_all():
    commands = documented_commands()
    assert ("sync",) in commands and ("failures", "retry") in commands
    assert ("mappings", "schema") in commands and ("erp", "sample") in commands
    assert "--dry-run" in commands[("sync",)]


#: Runs `connector PATH --help` for each path given as JSON, in one fresh process (the real
#: entry point and entry-point discovery, without paying the start-up once per command).
HELP_RUNNER = """
import json, sys
from connector.cli import app
codes = []
for path in json.loads(sys.argv[1]):
    try:
        app([*path, "--help"], prog_name="connector")
        codes.append(0)
    except SystemExit as done:
        codes.append(done.code or 0)
print(json.dumps(codes))
"""


def test_every_documented_command_and_flag_exists_and_answers_help():
    documented = sorted(documented_commands().items())
    paths = [list(path) for path, _ in documented]
    result = subprocess.run(
        [sys.executable, "-c", HELP_RUNNER, json.dumps(paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    codes = json.loads(result.stdout.strip().splitlines()[-1])
    for (path, flags), code in zip(documented, codes, strict=True):
        shown = " ".join(path)
        assert code == 0, f"`connector {shown} --help` exited {code}: {result.stderr}"
        _, command, _ = resolve(list(path))
        options = {name for param in command.params for name in param.opts + param.secondary_opts}
        missing = sorted(flag for flag in flags if flag not in options)
        assert not missing, f"`connector {shown}` has no {', '.join(missing)} (docs show them)"


# -- config keys -------------------------------------------------------------------------------


SHIPPED_KINDS = {"erp": "erp_generic", "crm": "hubspot"}


def settings_model(system: str) -> Any:
    """The settings model of a system named in the docs: by adapter kind or shipped name."""
    return adapter_class(SHIPPED_KINDS.get(system, system)).Settings


def key_exists(model: Any, parts: list[str]) -> bool:
    """Whether a dotted key path exists in `model`; `<placeholder>` parts match any dict key."""
    prefix: list[Any] = []
    for part in parts:
        if part.isdigit():
            prefix.append(int(part))  # a list index: routes.0
            continue
        allowed = allowed_keys(model, tuple(prefix))
        if allowed and part not in allowed:
            return False
        # No allowed keys: a dict level (entities.<entity>, systems.<name>), any key fits.
        prefix.append("customer" if part.startswith("<") else part)
    return True


def config_key_exists(dotted: str) -> bool:
    parts = dotted.split(".")
    if parts[0] == "systems" and len(parts) > 3 and parts[2] == "settings":
        return key_exists(settings_model(parts[1]), parts[3:])
    if parts[0] == "routes" and len(parts) > 1:
        return key_exists(RawConfig, ["routes", "0", *parts[1:]]) or key_exists(
            RawConfig, ["routes", "0", "entities", "customer", *parts[1:]]
        )
    return key_exists(RawConfig, parts)


def named_keys() -> Iterator[tuple[str, str]]:
    """(doc, dotted key) for keys named in prose: `daemon.port`, `X` in `config.yaml`."""
    for path in DOCS:
        # Tables name keys relative to their section (checked by the test of the tables) or
        # other things (log events); prose names them from the top.
        text = "\n".join(line for line in doc_text(path).splitlines() if not line.startswith("|"))
        for span in re.findall(r"`([a-z_<>]+(?:\.[a-z_<>]+)+)`", text):
            if span.split(".")[0] in TOP_LEVEL:
                yield path.name, span
        for span in re.findall(r"`([a-z_]+)` in `config\.yaml`", text):
            yield path.name, span


def test_every_config_key_named_in_prose_exists():
    keys = list(named_keys())
    assert ("mapping.md", "mappings") in keys  # the walk sees what it must
    wrong = [f"{doc}: `{key}`" for doc, key in keys if not config_key_exists(key)]
    assert not wrong, "keys the config model does not have: " + "; ".join(wrong)


SECTION_MODELS: dict[str, Any] = {
    "`state`": ["state"],
    "`erp_generic`, SQL mode": "erp_generic",
    "`hubspot`": "hubspot",
    "`routes`": ["routes", "0"],
    "`daemon` and `webhooks`": [],
}


def table_keys() -> Iterator[tuple[str, Any, str]]:
    """(section, model path, key) for the `key` column of configuration.md's tables."""
    text = doc_text(ROOT / "docs" / "configuration.md")
    section = ""
    for line in text.splitlines():
        heading = re.match(r"#+ (.*)", line)
        if heading:
            section = heading.group(1).strip()
            continue
        if line.startswith("Entity options"):
            section = "entity options"
        cell = re.match(r"\| (`[^|]*`) \|", line)
        if not cell or section not in {*SECTION_MODELS, "entity options"}:
            continue
        names = re.findall(r"`([^`]+)`", cell.group(1))
        parent = ""
        for name in names:
            if "." not in name and parent:
                name = f"{parent}.{name}"  # `limits.a` / `b` means limits.b
            parent = name.rsplit(".", 1)[0] if "." in name else ""
            yield section, SECTION_MODELS.get(section), name


def test_every_key_in_the_configuration_tables_exists():
    rows = list(table_keys())
    assert len(rows) > 30
    wrong = []
    for section, where, key in rows:
        parts = key.split(".")
        if section == "entity options":
            ok = key_exists(RawConfig, ["routes", "0", "entities", "customer", *parts])
        elif isinstance(where, str):
            ok = key_exists(settings_model(where), parts)
        else:
            ok = key_exists(RawConfig, [*where, *parts])
        if not ok:
            wrong.append(f"{section}: `{key}`")
    assert not wrong, "documented keys the config model does not have: " + "; ".join(wrong)


def config_blocks() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in DOCS:
        for block in re.findall(r"```ya?ml\n(.*?)```", doc_text(path), re.S):
            data = yaml.safe_load(block)
            if (
                isinstance(data, dict)
                and set(data) <= TOP_LEVEL
                and set(data) & {"systems", "routes", "state", "daemon"}
            ):
                yield path.name, data


def walk_keys(data: Any, model: Any, prefix: list[Any]) -> Iterator[str]:
    """Every key path in `data` that `model` does not allow."""
    if isinstance(data, list):
        for index, item in enumerate(data):
            yield from walk_keys(item, model, [*prefix, index])
        return
    if not isinstance(data, dict):
        return
    allowed = allowed_keys(model, tuple(prefix))
    dict_level = not allowed
    for key, value in data.items():
        if key == "...":
            continue
        if not dict_level and key not in allowed:
            yield ".".join(map(str, [*prefix, key]))
            continue
        if prefix[-2:-1] == ["systems"] and key == "settings" and isinstance(value, dict):
            yield from walk_keys(value, settings_model(data.get("adapter", prefix[-1])), [])
            continue
        yield from walk_keys(value, model, [*prefix, key])


def test_config_examples_in_the_docs_use_real_keys():
    blocks = list(config_blocks())
    assert blocks, "the docs show no config.yaml example"
    wrong = [f"{doc}: {key}" for doc, data in blocks for key in walk_keys(data, RawConfig, [])]
    assert not wrong, "example keys the config model does not have: " + "; ".join(wrong)
