"""`config.yaml`: the systems, the routes between them, the store, and how the daemon runs.

Loading checks everything a person could get wrong and reports every problem at once, each with
its `file:line:column`: YAML syntax, unknown keys, missing `${ENV}` variables, unknown adapters,
routes naming unknown systems or entities an adapter does not offer, bad schedules, and each
adapter's own `settings:` block (validated by that adapter's `Settings` model, where secrets are
`SecretStr`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from connector.entity import ENTITY_ORDER, Entity
from connector.errors import ConfigurationError, InvalidConfiguration, Problem
from connector.yamlsource import KeyPath, Locations, interpolate_env, load_located

if TYPE_CHECKING:
    from connector.state.connect import StoreTimeouts

CONFIG_ENV = "CONNECTOR_CONFIG"
DEFAULT_CONFIG = Path("config.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DeletePolicy(StrEnum):
    PROPAGATE = "propagate"
    DEACTIVATE = "deactivate"
    IGNORE = "ignore"


class MissingPolicy(StrEnum):
    """What a value the source lacks (empty, or not representable) does to the target's value."""

    #: The target keeps its value; the run logs a warning naming the field.
    WARN = "warn"
    #: The target keeps its value; the record goes to `failures` naming the field.
    FAIL = "fail"


def _values_as_lists(value: Any) -> Any:
    """`{stage: won}` as `{stage: [won]}`: a condition's allowed values are a list."""
    if isinstance(value, dict):
        return {k: v if isinstance(v, list) else [v] for k, v in value.items()}
    return value


class CreateWhen(_Strict):
    """`create: {when: {stage: won}}`: create only records whose canonical paths hold these."""

    when: dict[str, list[Any]] = Field(min_length=1)

    _listify = field_validator("when", mode="before")(lambda value: _values_as_lists(value))


class EntityOptions(_Strict):
    """How one entity travels on one route."""

    #: Canonical paths used to find an existing target record before creating one.
    match: list[str] = Field(default_factory=list)
    deletes: DeletePolicy = DeletePolicy.IGNORE
    #: How far before the cursor each incremental pull starts again (late commits, indexing).
    overlap_seconds: float = Field(default=300.0, ge=0)
    #: Create a record in the target only when these canonical paths hold one of these values
    #: (a deal becomes an ERP order once it is won); records already there are updated anyway.
    create_when: dict[str, list[Any]] = Field(default_factory=dict)
    #: A source value that is empty where the source never held one never clears the target
    #: (docs/architecture.md, "The rule"); this says whether that is a warning or a failure.
    missing_values: MissingPolicy = MissingPolicy.WARN
    #: Whether the route may create records in the target at all: `always` (the default),
    #: `never` ("the CRM may update ERP customers but never create them"), or
    #: `{when: {path: values}}`, the same as `create_when`.
    create: Literal["always", "never"] | CreateWhen = "always"

    _listify = field_validator("create_when", mode="before")(lambda value: _values_as_lists(value))

    @model_validator(mode="after")
    def _one_create_rule(self) -> EntityOptions:
        if self.create_when and self.create != "always":
            raise ValueError("give create or create_when, not both")
        return self

    def create_conditions(self) -> dict[str, list[Any]] | None:
        """The conditions a new record must meet to be created; None: never created."""
        if self.create == "never":
            return None
        if isinstance(self.create, CreateWhen):
            return self.create.when
        return self.create_when


#: `every 5m`, `every 5 min`, `every 5 minutes`, `every 90s`, `every 2 hours`, `every day`.
_INTERVAL = re.compile(r"^every\s*(\d+(?:\.\d+)?)?\s*([a-z]+)$", re.IGNORECASE)
_UNIT_SECONDS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
}
SCHEDULE_HELP = (
    "write 'every 5m' (or 'every 5 minutes', 'every 30s', 'every 2h', 'every day') "
    "or a five-field cron line such as '*/5 * * * *'"
)


def parse_interval(text: str) -> float | None:
    """Seconds for an `every …` schedule; None when `text` is not one (a cron line)."""
    match = _INTERVAL.match(text.strip())
    if match is None:
        if text.strip().lower().startswith("every"):
            raise ValueError(f"cannot read {text.strip()!r}: {SCHEDULE_HELP}")
        return None
    number, unit = match[1], match[2].lower()
    if unit not in _UNIT_SECONDS:
        raise ValueError(f"unknown unit {match[2]!r} in {text.strip()!r}: {SCHEDULE_HELP}")
    seconds = float(number or 1) * _UNIT_SECONDS[unit]
    if seconds <= 0:
        raise ValueError(f"{text.strip()!r} is no interval: {SCHEDULE_HELP}")
    return seconds


class Schedule(_Strict):
    """When the daemon runs a route: `every 5m` or a five-field cron line, in a time zone."""

    every_seconds: float | None = None
    cron: str | None = None
    timezone: str = "UTC"

    @classmethod
    def parse(cls, value: Any) -> Schedule:
        if isinstance(value, Schedule):
            return value
        if isinstance(value, str):
            try:
                seconds = parse_interval(value)
            except ValueError:
                # Kept as written: `trigger()` reports it, beside every other problem.
                return cls(cron=value.strip())
            if seconds is not None:
                return cls(every_seconds=seconds)
            return cls(cron=value.strip())
        if isinstance(value, dict):
            data = dict(value)
            if "every" in data:
                seconds = parse_interval(f"every {data.pop('every')}")
                return cls(every_seconds=seconds, **data)
            return cls.model_validate(data)
        raise ValueError(f"a schedule is a string or a mapping: {SCHEDULE_HELP}")

    def describe(self) -> str:
        """As a person would write it: `every 5m`, `every 90s`, `cron */5 * * * *`."""
        if self.every_seconds is None:
            return f"cron {self.cron}"
        seconds = self.every_seconds
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds >= size and seconds % size == 0:
                return f"every {seconds / size:g}{unit}"
        return f"every {seconds:g}s"

    def check(self) -> None:
        """Raise `ValueError` or `LookupError` saying why the daemon could not run this schedule.

        An interval can only have a bad time zone, which is checked as APScheduler 3 reads a
        zone name (`apscheduler.util.astimezone`: "UTC", else `zoneinfo.ZoneInfo`). APScheduler
        itself (and the asyncio it imports) is loaded for cron lines only: it was a twentieth of
        `connector status`'s start-up (bench/cli_startup.py).
        """
        if self.every_seconds is None:
            self.trigger()
        elif self.timezone != "UTC":
            from zoneinfo import ZoneInfo

            ZoneInfo(self.timezone)

    def trigger(self) -> Any:
        """The APScheduler trigger for this schedule (also how cron lines are validated)."""
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self.every_seconds is not None:
            return IntervalTrigger(seconds=self.every_seconds, timezone=self.timezone)
        if self.cron is None:
            raise ValueError(f"a schedule needs `every` or `cron`: {SCHEDULE_HELP}")
        parse_interval(self.cron)  # an `every …` that could not be read says why
        if len(self.cron.split()) != 5:
            raise ValueError(f"{self.cron!r} is not a five-field cron line: {SCHEDULE_HELP}")
        try:
            return CronTrigger.from_crontab(self.cron, timezone=self.timezone)
        except ValueError as error:
            raise ValueError(f"{self.cron!r}: {error}; {SCHEDULE_HELP}") from None


class RouteConfig(_Strict):
    name: str
    source: str = Field(alias="from")
    target: str = Field(alias="to")
    entities: dict[Entity, EntityOptions]
    schedule: Schedule | None = None

    @field_validator("entities", mode="before")
    @classmethod
    def _entity_list(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {entity: {} for entity in value}
        if isinstance(value, dict):
            return {entity: options or {} for entity, options in value.items()}
        return value

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> Any:
        return None if value is None else Schedule.parse(value)

    def ordered_entities(self) -> list[Entity]:
        return [entity for entity in ENTITY_ORDER if entity in self.entities]


class SystemConfig(_Strict):
    adapter: str
    settings: dict[str, Any] = Field(default_factory=dict)


class StateConfig(_Strict):
    #: SQLAlchemy URL; empty means a SQLite file beside config.yaml.
    url: str | None = None
    #: How long to wait for a connection to the store.
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    #: How long one statement may take (PostgreSQL `statement_timeout`, MariaDB
    #: `max_statement_time`, SQLite busy timeout); the client gives up on any reply 2 s after.
    statement_timeout_seconds: float = Field(default=30.0, gt=0)
    #: How long `connector sync` (and a scheduled run) waits out a store that stopped answering,
    #: resuming from its last checkpoint, before it gives up (exit code 3).
    outage_seconds: float = Field(default=120.0, ge=0)

    def timeouts(self) -> StoreTimeouts:
        # Imported here: the store's module loads SQLAlchemy, which `status` can do without.
        from connector.state.connect import StoreTimeouts

        return StoreTimeouts(self.connect_timeout_seconds, self.statement_timeout_seconds)


class DaemonConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    #: How long a stopping daemon lets the current batch finish.
    shutdown_grace_seconds: float = Field(default=30.0, gt=0)
    inbox_poll_seconds: float = Field(default=1.0, gt=0)
    lease_seconds: float = Field(default=120.0, gt=0)
    #: How often the daemon replays retryable failures that are due (0: never on its own).
    failure_retry_seconds: float = Field(default=60.0, ge=0)
    #: After this many attempts a failure is left for a person (`connector failures`).
    failure_retry_attempts: int = Field(default=6, ge=1)


class WebhookConfig(_Strict):
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    tolerance_seconds: int = Field(default=300, gt=0)


class RawConfig(_Strict):
    """The file's shape; `AppConfig` is the checked result."""

    version: Literal[1] = 1
    state: StateConfig = Field(default_factory=StateConfig)
    mappings: str | None = None
    systems: dict[str, SystemConfig]
    routes: list[RouteConfig] = Field(default_factory=list)
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    webhooks: WebhookConfig = Field(default_factory=WebhookConfig)


@dataclass
class System:
    """A configured system: its adapter class and validated settings."""

    name: str
    kind: str
    settings: BaseModel


@dataclass
class AppConfig:
    path: Path
    state: StateConfig
    mappings_dir: Path | None
    systems: dict[str, System]
    routes: dict[str, RouteConfig]
    daemon: DaemonConfig
    webhooks: WebhookConfig
    locations: Locations = field(repr=False, default_factory=lambda: Locations(""))

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def entities_by_system(self, routes: list[str] | None = None) -> dict[str, frozenset[Entity]]:
        """Per system, the entities the routes (default: all) read from it or write to it."""
        used: dict[str, set[Entity]] = {name: set() for name in self.systems}
        for route in (self.route(name) for name in routes) if routes else self.routes.values():
            for system in (route.source, route.target):
                used.setdefault(system, set()).update(route.entities)
        return {name: frozenset(entities) for name, entities in used.items()}

    def route(self, name: str) -> RouteConfig:
        try:
            return self.routes[name]
        except KeyError:
            known = ", ".join(self.routes) or "none"
            raise ConfigurationError(f"no route named {name!r} (routes: {known})") from None


def config_path(explicit: Path | None) -> Path:
    """`--config`, else `$CONNECTOR_CONFIG`, else `./config.yaml`."""
    if explicit is not None:
        return explicit
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else DEFAULT_CONFIG


def _validation_problems(
    error: ValidationError,
    locations: Locations,
    prefix: KeyPath = (),
    model: type[BaseModel] | None = None,
) -> list[Problem]:
    problems = []
    for detail in error.errors():
        inner = tuple(part for part in detail["loc"] if not _is_internal(part))
        path = (*prefix, *inner)
        message = detail["msg"]
        if detail["type"] == "extra_forbidden":
            message = "unknown key" + _suggestion(model, inner)
        problems.append(locations.problem(path, message))
    return problems


def _suggestion(model: type[BaseModel] | None, loc: KeyPath) -> str:
    """` (did you mean 'x'?)` for an unknown key, from the keys allowed where it stands."""
    if model is None or not loc or not isinstance(loc[-1], str):
        return ""
    allowed = allowed_keys(model, loc[:-1])
    close = difflib.get_close_matches(loc[-1], sorted(allowed), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (allowed here: {', '.join(sorted(allowed))})" if allowed else ""


def allowed_keys(model: Any, loc: KeyPath) -> set[str]:
    """The keys a mapping at `loc` inside `model` may hold (field names and aliases)."""
    current: list[Any] = [model]
    for part in loc:
        following: list[Any] = []
        for kind in _expand(current):
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                for name, info in kind.model_fields.items():
                    if part in (name, info.alias):
                        following.append(info.annotation)
            elif get_origin(kind) in (dict, Mapping) and isinstance(part, str):
                following.append(get_args(kind)[-1])
            elif get_origin(kind) in (list, tuple, Sequence) and isinstance(part, int):
                following.append(get_args(kind)[0])
        current = following or current  # a union's tag in `loc` names no field: skip it
    keys: set[str] = set()
    for kind in _expand(current):
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            for name, info in kind.model_fields.items():
                keys.add(info.alias or name)
    return keys


def _expand(kinds: list[Any]) -> list[Any]:
    """Unions, `Annotated[...]` and root models opened up into their members."""
    out: list[Any] = []
    for kind in kinds:
        if getattr(kind, "__pydantic_root_model__", False):
            out += _expand([kind.model_fields["root"].annotation])
            continue
        origin = get_origin(kind)
        if origin in (Union, UnionType) or origin is Annotated:
            members = get_args(kind)[:1] if origin is Annotated else get_args(kind)
            out += _expand(list(members))
        else:
            out.append(kind)
    return out


def _is_internal(part: Any) -> bool:
    # pydantic names the branch of a union or a validator in `loc`; people don't need them.
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def load_config(
    path: Path, environ: dict[str, str] | None = None, *, systems: bool = True
) -> AppConfig:
    """Read, interpolate and check `config.yaml`; `InvalidConfiguration` lists every problem.

    `systems=False` leaves each system's `settings:` unchecked (kept as written) and loads no
    adapter: for commands that only read the store (`status`, `failures list`), which then start
    without importing every adapter. `connector check` checks them all.
    """
    if not path.exists():
        raise InvalidConfiguration([Problem(str(path), "no such configuration file")])
    data, locations = load_located(path)
    data, problems = interpolate_env(data, locations, environ)
    if not isinstance(data, dict):
        raise InvalidConfiguration([Problem(locations.of(()), "expected a mapping at the top")])
    try:
        raw = RawConfig.model_validate(data)
    except ValidationError as error:
        raise InvalidConfiguration(
            problems + _validation_problems(error, locations, model=RawConfig)
        ) from None

    found: dict[str, System] = {}
    for name, system in raw.systems.items():
        where: KeyPath = ("systems", name)
        if not systems:
            found[name] = System(name=name, kind=system.adapter, settings=system)
            continue
        # Imported here: the adapter protocols are not needed to read the rest (`status`).
        from connector.adapter import adapter_class

        try:
            cls = adapter_class(system.adapter)
        except ConfigurationError as error:
            problems.append(locations.problem((*where, "adapter"), str(error)))
            continue
        try:
            settings = cls.Settings.model_validate(system.settings)
        except ValidationError as error:
            problems += _validation_problems(error, locations, (*where, "settings"), cls.Settings)
            continue
        found[name] = System(name=name, kind=system.adapter, settings=settings)

    routes: dict[str, RouteConfig] = {}
    for index, route in enumerate(raw.routes):
        where = ("routes", index)
        if route.name in routes:
            problems.append(locations.problem((*where, "name"), f"route {route.name!r} twice"))
        routes[route.name] = route
        for side, system_name in (("from", route.source), ("to", route.target)):
            if system_name not in raw.systems:
                known = ", ".join(raw.systems) or "none"
                problems.append(
                    locations.problem(
                        (*where, side), f"unknown system {system_name!r} (systems: {known})"
                    )
                )
        if route.source == route.target:
            problems.append(locations.problem((*where, "to"), "a route needs two systems"))
        if route.schedule is not None:
            try:
                route.schedule.check()
            except (ValueError, LookupError) as error:
                problems.append(locations.problem((*where, "schedule"), f"bad schedule: {error}"))

    if problems:
        raise InvalidConfiguration(problems)
    base = path.parent
    return AppConfig(
        path=path,
        state=raw.state,
        mappings_dir=(base / raw.mappings).resolve() if raw.mappings else None,
        systems=found,
        routes=routes,
        daemon=raw.daemon,
        webhooks=raw.webhooks,
        locations=locations,
    )


def utc_from_cli(value: str) -> dt.datetime:
    """`--since` values: ISO-8601; a naive time is taken as UTC."""
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
