"""Finding, loading, checking and caching the mapping files in use.

A mapping file is `<kind>/<entity>.yaml`. The shipped defaults live in the `mappings` package
(installed with the wheel, found through `importlib.resources`); a user's mapping directory
(`config.yaml`) overrides them file by file: `<user_dir>/<kind>/<entity>.yaml` wins when present.

`MappingCatalog.mapper()` compiles a file once and caches it, raising `InvalidConfiguration` with
every problem of that file. `check()` loads many files and returns *all* their problems together
(an empty list means everything is valid), which is what `connector mappings check` prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from connector.errors import InvalidConfiguration, Problem
from connector.mapping.compiler import compile_mapping
from connector.mapping.mapper import CompiledMapper
from connector.mapping.positions import YamlSyntaxError, load_yaml
from connector.mapping.spec import MappingFile
from connector.mapping.transforms import available_transforms
from connector.model import Entity

#: Per (system kind, entity): the native fields the adapter declares, or None when it cannot say.
NativeFields = Callable[[str, Entity], frozenset[str] | None]

DEFAULTS_PACKAGE = "mappings"


def default_mappings() -> Traversable:
    """The folder of shipped default mapping files."""
    return resources.files(DEFAULTS_PACKAGE)


class MappingCatalog:
    """Implements `MapperSource`: a compiled mapper per (system kind, entity), cached."""

    def __init__(self, user_dir: Path | None = None) -> None:
        self.user_dir = user_dir
        self._cache: dict[tuple[str, Entity], CompiledMapper] = {}

    def locate(self, system_kind: str, entity: Entity | str) -> Traversable | Path | None:
        """The file that maps this pair: the user's override, else the shipped default."""
        name = f"{Entity(entity).value}.yaml"
        if self.user_dir is not None:
            override = self.user_dir / system_kind / name
            if override.is_file():
                return override
        shipped = default_mappings() / system_kind / name
        return shipped if shipped.is_file() else None

    def source(self, system_kind: str, entity: Entity | str) -> tuple[str, str] | None:
        """The text of the file that maps this pair and its name in messages, or None."""
        found = self.locate(system_kind, entity)
        if found is None:
            return None
        return found.read_text(encoding="utf-8"), _display(found)

    def mapper(self, system_kind: str, entity: Entity) -> CompiledMapper:
        key = (system_kind, Entity(entity))
        cached = self._cache.get(key)
        if cached is None:
            mapper, problems = self._compile(system_kind, key[1], None)
            if mapper is None:
                raise InvalidConfiguration(problems)
            cached = self._cache[key] = mapper
        return cached

    def check(
        self,
        pairs: Iterable[tuple[str, Entity | str]],
        native_fields: NativeFields | None = None,
    ) -> list[Problem]:
        """Every problem in every given file (each file checked fully); empty when all is well.

        `native_fields` (usually the adapter's `native_fields(entity)`) adds a check of native
        field names when it returns a set. Files that pass are compiled into the cache.
        """
        problems: list[Problem] = []
        for system_kind, entity in pairs:
            declared = native_fields(system_kind, Entity(entity)) if native_fields else None
            mapper, found = self._compile(system_kind, Entity(entity), declared)
            problems.extend(found)
            if mapper is not None:
                self._cache[(system_kind, Entity(entity))] = mapper
        return problems

    def _compile(
        self, system_kind: str, entity: Entity, declared: frozenset[str] | None
    ) -> tuple[CompiledMapper | None, list[Problem]]:
        found = self.locate(system_kind, entity)
        if found is None:
            where = f"{system_kind}/{entity.value}.yaml"
            searched = f" (looked in {self.user_dir} and the shipped defaults)"
            return None, [
                Problem(where, f"no mapping file for {system_kind} {entity.value}" + searched)
            ]
        return compile_text(found.read_text(encoding="utf-8"), _display(found), entity, declared)


def compile_text(
    text: str, source: str, entity: Entity, native_fields: frozenset[str] | None = None
) -> tuple[CompiledMapper | None, list[Problem]]:
    """Compile one file's text; `source` is the name used in messages."""
    try:
        data, positions = load_yaml(text, source)
    except YamlSyntaxError as error:
        return None, [error.problem]
    return compile_mapping(
        data,
        positions,
        entity=entity,
        registry=available_transforms(),
        native_fields=native_fields,
    )


def check(
    pairs: Iterable[tuple[str, Entity | str]],
    user_dir: Path | None = None,
    native_fields: NativeFields | None = None,
) -> list[Problem]:
    """`MappingCatalog(user_dir).check(...)`: all problems of all files, in file order."""
    return MappingCatalog(user_dir).check(pairs, native_fields)


def json_schema() -> dict[str, Any]:
    """JSON Schema of a mapping file, with every installed transform and its arguments.

    Editors (the YAML language server) use it for completion and checks: point a file at it
    with `# yaml-language-server: $schema=<path>`.
    """
    schema = MappingFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Connector mapping file"
    step_options: list[dict[str, Any]] = []
    names: list[str] = []
    for name, transform in sorted(available_transforms().items()):
        names.append(name)
        arguments = transform.args.model_json_schema()
        step_options.append(
            {
                "type": "object",
                "description": transform.summary,
                "properties": {name: {"anyOf": [arguments, {"type": "null"}, {}]}},
                "required": [name],
                "additionalProperties": False,
            }
        )
    step = {"anyOf": [{"type": "string", "enum": names}, *step_options]}
    chain = {"anyOf": [step, {"type": "array", "items": step}, {"type": "null"}]}
    for definition in schema.get("$defs", {}).values():
        properties = definition.get("properties", {})
        for key in ("transform", "inverse"):
            if key in properties:
                description = properties[key].get("description")
                properties[key] = {**chain, "description": description}
    return schema


def _display(found: Traversable | Path) -> str:
    """A short, stable name for messages: the user's path, or `mappings/<kind>/<entity>.yaml`."""
    if isinstance(found, Path) and not str(found).startswith(str(_defaults_path())):
        return str(found)
    parts = str(found).replace("\\", "/").split("/")
    return "/".join([DEFAULTS_PACKAGE, *parts[-2:]])


def _defaults_path() -> str:
    return str(default_mappings())
