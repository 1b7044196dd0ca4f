"""`config.yaml`: the systems, the routes between them, the store, and how the daemon runs.

Loading checks everything a person could get wrong and reports every problem at once, each with
its `file:line:column`: YAML syntax, unknown keys, missing `${ENV}` variables, unknown adapters,
routes naming unknown systems or entities an adapter does not offer, bad schedules, and each
adapter's own `settings:` block (validated by that adapter's `Settings` model, where secrets are
`SecretStr`).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from connector.adapter import adapter_class
from connector.errors import ConfigurationError, InvalidConfiguration, Problem
from connector.model import ENTITY_ORDER, Entity
from connector.state.connect import StoreTimeouts
from connector.yamlsource import KeyPath, Locations, interpolate_env, load_located

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


_INTERVAL = re.compile(r"^every\s+(\d+)\s*(s|sec|m|min|h|d)$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


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
            match = _INTERVAL.match(value.strip())
            if match:
                return cls(every_seconds=int(match[1]) * _UNIT_SECONDS[match[2].lower()])
            return cls(cron=value.strip())
        if isinstance(value, dict):
            data = dict(value)
            if "every" in data:
                every = cls.parse(f"every {data.pop('every')}")
                return cls(every_seconds=every.every_seconds, **data)
            return cls.model_validate(data)
        raise ValueError("a schedule is 'every <n><s|m|h|d>', a cron line, or a mapping")

    def trigger(self) -> Any:
        """The APScheduler trigger for this schedule (also how cron lines are validated)."""
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self.every_seconds is not None:
            return IntervalTrigger(seconds=self.every_seconds, timezone=self.timezone)
        assert self.cron is not None
        return CronTrigger.from_crontab(self.cron, timezone=self.timezone)


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
    #: How long one statement may take (PostgreSQL `statement_timeout`, SQLite busy timeout);
    #: the client gives up on any reply 2 s after that.
    statement_timeout_seconds: float = Field(default=30.0, gt=0)
    #: How long `connector sync` (and a scheduled run) waits out a store that stopped answering,
    #: resuming from its last checkpoint, before it gives up (exit code 3).
    outage_seconds: float = Field(default=120.0, ge=0)

    def timeouts(self) -> StoreTimeouts:
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
    error: ValidationError, locations: Locations, prefix: KeyPath = ()
) -> list[Problem]:
    problems = []
    for detail in error.errors():
        path = (*prefix, *(part for part in detail["loc"] if not _is_internal(part)))
        message = detail["msg"]
        if detail["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(locations.problem(path, message))
    return problems


def _is_internal(part: Any) -> bool:
    # pydantic names the branch of a union or a validator in `loc`; people don't need them.
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def load_config(path: Path, environ: dict[str, str] | None = None) -> AppConfig:
    """Read, interpolate and check `config.yaml`; `InvalidConfiguration` lists every problem."""
    if not path.exists():
        raise InvalidConfiguration([Problem(str(path), "no such configuration file")])
    data, locations = load_located(path)
    data, problems = interpolate_env(data, locations, environ)
    if not isinstance(data, dict):
        raise InvalidConfiguration([Problem(locations.of(()), "expected a mapping at the top")])
    try:
        raw = RawConfig.model_validate(data)
    except ValidationError as error:
        raise InvalidConfiguration(problems + _validation_problems(error, locations)) from None

    systems: dict[str, System] = {}
    for name, system in raw.systems.items():
        where: KeyPath = ("systems", name)
        try:
            cls = adapter_class(system.adapter)
        except ConfigurationError as error:
            problems.append(locations.problem((*where, "adapter"), str(error)))
            continue
        try:
            settings = cls.Settings.model_validate(system.settings)
        except ValidationError as error:
            problems += _validation_problems(error, locations, (*where, "settings"))
            continue
        systems[name] = System(name=name, kind=system.adapter, settings=settings)

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
                route.schedule.trigger()
            except (ValueError, LookupError) as error:
                problems.append(locations.problem((*where, "schedule"), f"bad schedule: {error}"))

    if problems:
        raise InvalidConfiguration(problems)
    base = path.parent
    return AppConfig(
        path=path,
        state=raw.state,
        mappings_dir=(base / raw.mappings).resolve() if raw.mappings else None,
        systems=systems,
        routes=routes,
        daemon=raw.daemon,
        webhooks=raw.webhooks,
        locations=locations,
    )


def utc_from_cli(value: str) -> dt.datetime:
    """`--since` values: ISO-8601; a naive time is taken as UTC."""
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
