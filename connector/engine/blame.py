"""Which system, doing what, when a run failed: the "where" of a failed run's reason.

The engine wraps the two adapters of a run in `Blamed`: any exception escaping an adapter call
is tagged with the system's name and the step (`read customer changes`, `write contact`), so the
`runs` row and `connector status` can say "crm rejected the token while reading customer
changes" instead of a bare "failed". The first tag wins: an error that crosses several wrappers
keeps the place it came from.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

ORIGIN = "connector_origin"

#: Adapter methods and how a person would name the step; the entity is appended.
STEPS = {
    "read_changes": "read {entity} changes",
    "read": "read {entity} records",
    "lookup": "look up {entity} matches",
    "upsert": "write {entity}",
    "delete": "delete {entity}",
}


@dataclass(frozen=True)
class RunFailure:
    """Why a run failed, as stored in `runs.error` (a JSON object) and shown by `status`."""

    message: str
    system: str | None = None
    step: str | None = None
    error_class: str | None = None

    def to_text(self) -> str:
        return json.dumps(
            {
                "message": self.message,
                "system": self.system,
                "step": self.step,
                "error_class": self.error_class,
            }
        )

    @classmethod
    def from_text(cls, text: str | None) -> RunFailure | None:
        """Read what `to_text` wrote; older rows hold the bare message."""
        if not text:
            return None
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            data = json.loads(text)
            if isinstance(data, dict) and "message" in data:
                return cls(
                    str(data["message"]),
                    data.get("system"),
                    data.get("step"),
                    data.get("error_class"),
                )
        return cls(text)

    @classmethod
    def of(cls, error: BaseException) -> RunFailure:
        system, step = getattr(error, ORIGIN, (None, None))
        return cls(str(error) or type(error).__name__, system, step, type(error).__name__)

    def sentence(self) -> str:
        where = ""
        if self.system:
            where = f"{self.system}"
            if self.step:
                where += f", {self.step}"
            where += ": "
        return where + self.message


def tag(error: BaseException, system: str, step: str) -> None:
    if getattr(error, ORIGIN, None) is None:
        with contextlib.suppress(AttributeError):
            setattr(error, ORIGIN, (system, step))


class Blamed:
    """An adapter whose failures name the system and the step they happened in."""

    def __init__(self, adapter: Any, system: str) -> None:
        self._adapter = adapter
        self._system = system

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._adapter, name)
        if name not in STEPS or not callable(attribute):
            return attribute
        if name == "read_changes":
            return self._generator(attribute)
        return self._coroutine(name, attribute)

    def _step(self, name: str, args: tuple[Any, ...]) -> str:
        entity = getattr(args[0], "value", args[0]) if args else ""
        return STEPS[name].format(entity=entity)

    def _coroutine(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return await method(*args, **kwargs)
            except Exception as error:
                tag(error, self._system, self._step(name, args))
                raise

        return call

    def _generator(self, method: Callable[..., Any]) -> Callable[..., Any]:
        async def pages(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            inner = method(*args, **kwargs)
            try:
                async for page in inner:
                    yield page
            except Exception as error:
                tag(error, self._system, self._step("read_changes", args))
                raise
            finally:
                # A reader that stops early closes the adapter's generator now, as it would
                # without this wrapper, so its own clean-up (connections, pages in flight) runs.
                await inner.aclose()

        return pages
