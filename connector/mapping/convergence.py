"""The convergence check: does a pair of mappings settle, or would the systems keep rewriting?

For a record created in system A and synced to B, then edited on either side, three passes run
through the compiled mappers (A → B, B → A, A → B), with each side storing values as the real
system would (`simulation.Side`). A pass writes a canonical path to the target only when the
source changed it since the last sync and the target holds something else (the engine's rule),
and an empty source value never clears the target. Afterwards:

* a value written and read back differently ("writes a field it reads back differently") is a
  finding at the target mapping's entry: it would be written again on every run;
* the third pass must write nothing;
* each side changed only where the edit on the other side was carried to it;
* a field a mapping reads or writes that its system does not have is a finding before any pass
  (`static_problems`), for sale lines too.

Every finding is a `Problem` at `file:line:column`. The module is pure; `samples.py` draws the
records and `connector mappings check --convergence` runs it for the configured routes.
"""

from __future__ import annotations

import random
from typing import Any

from connector.errors import MappingError, Problem
from connector.mapping.samples import annotation_of, value_for
from connector.mapping.simulation import EMPTY, Side
from connector.model import Record, flatten, unflatten

LINES = "lines"
#: Examples per pair when the caller does not say (the CLI); each is a create, an edit and
#: three passes, well under a millisecond per mapping field.
DEFAULT_EXAMPLES = 200


def static_problems(side: Side) -> list[Problem]:
    """Native fields a mapping reads or writes that its system declares it does not have."""
    problems: list[Problem] = []
    for entry in side.entries:
        declared = side.declared_lines if entry.line else side.declared
        if declared is None:
            continue
        for name in entry.native:
            if name not in declared and name.split(".")[0] not in declared:
                what = "sale lines have" if entry.line else f"{side.entity.value} records have"
                problems.append(
                    Problem(
                        entry.where,
                        f"{side.label} has no native field `{name}` ({what}: "
                        f"{', '.join(sorted(declared)) or 'none'}): the mapping "
                        f"{'reads' if entry.inbound else 'writes'} a value that cannot exist",
                    )
                )
    return problems


class Pair:
    """Two sides of one entity and the check's state: the last agreed canonical values."""

    def __init__(self, a: Side, b: Side) -> None:
        self.a, self.b = a, b
        self.snapshot: dict[str, Any] = {}
        #: One finding per (place, path): the first example found is the one shown.
        self.findings: dict[tuple[str, str], Problem] = {}

    def report(self, where: str, subject: str, message: str) -> None:
        self.findings.setdefault((where, subject), Problem(where, message))

    # --- records --------------------------------------------------------------------------

    def sample(self, rng: random.Random) -> Record:
        """A random record over the paths A maps both ways (those it can represent)."""
        a = self.a
        flat: dict[str, Any] = {}
        both = a.mapper.inbound_fields & a.mapper.outbound_fields
        for path in sorted(both - {LINES}):
            value = self._value(path, rng)
            candidate = {**flat, path: value}
            if _representable(a, candidate, path):
                flat = candidate
        if LINES in both:
            flat[LINES] = [self._line(rng) for _ in range(rng.randint(0, 3))]
        return unflatten(a.entity, flat)

    def _value(self, path: str, rng: random.Random) -> Any:
        """A random value, from the values a `value_map` knows when either side has one."""
        mine, theirs = self.a.choices(path), self.b.choices(path)
        known = [v for v in mine if v in theirs] or list(mine or theirs)
        if known:
            return rng.choice(known)
        return value_for(annotation_of(self.a.entity, path), path.rsplit(".", 1)[-1], rng)

    def _line(self, rng: random.Random) -> dict[str, Any]:
        return _line_of(self.a, rng)

    # --- the run --------------------------------------------------------------------------

    def create(self, record: Record) -> None:
        """The record is created in A, then synced to B (created there)."""
        a, b = self.a, self.b
        a.write(a.mapper.to_native(record, a.refs, create=True))
        source = a.canonical()
        b.write(b.mapper.to_native(source, b.refs, create=True))
        self.snapshot = flatten(source)
        self._check_read_back(a, b, self._shared(a, b), flatten(source), "created")

    def edit(self, side: Side, rng: random.Random) -> frozenset[str]:
        """Change one path `side` maps both ways, natively in `side`; the paths edited."""
        flat = side.flat()
        choices = sorted(
            (side.mapper.inbound_fields & side.mapper.outbound_fields) - side.create_only_paths()
        )
        if not choices:
            return frozenset()
        path = rng.choice(choices)
        if path == LINES:
            lines = list(flat.get(LINES) or [])
            if lines and rng.random() < 0.7:
                index = rng.randrange(len(lines))
                paths = sorted(side.line_paths(inbound=True) & side.line_paths(inbound=False))
                name = rng.choice(paths)
                value = value_for(annotation_of(side.entity, name, line=True), name, rng)
                lines[index] = {**lines[index], name: value}
            else:
                lines.append(_line_of(side, rng))
            flat[LINES] = lines
        else:
            flat[path] = self._value(path, rng)
        if not _representable(side, flat, path):
            return frozenset()  # a value this side cannot hold: no edit this time
        side.write(
            side.mapper.to_native(
                unflatten(side.entity, flat), side.refs, create=False, paths={path}
            )
        )
        return frozenset({path})

    def sync(self, source: Side, target: Side, label: str) -> dict[str, str]:
        """One pass source → target; the canonical paths written, each with what differed."""
        try:
            incoming = flatten(source.canonical())
            current = flatten(target.canonical())
        except MappingError as error:
            self.report(source.mapper.source, "read", f"a stored record cannot be read: {error}")
            return {}
        shared = self._shared(source, target)
        written: dict[str, str] = {}
        for path in shared:
            value = _project(path, incoming.get(path), shared[path])
            held = _project(path, current.get(path), shared[path])
            if value == held:
                continue
            if value == _project(path, self.snapshot.get(path), shared[path]):
                continue  # unchanged in the source since the last sync: the target's edit stays
            if value in EMPTY:
                continue  # an empty source value never clears the target
            owner = target.mapper.owner(path) or source.mapper.owner(path)
            if owner is not None and owner not in source.names:
                continue
            written[path] = _difference(source, target, path, value, held)
        if written:
            record = source.canonical()
            target.write(
                target.mapper.to_native(record, target.refs, create=False, paths=set(written))
            )
            self._check_read_back(source, target, {p: shared[p] for p in written}, incoming, label)
        for path in written:
            self.snapshot[path] = incoming.get(path)
        return written

    def _shared(self, source: Side, target: Side) -> dict[str, frozenset[str]]:
        """Paths the source reads and the target writes (after create), with the line fields
        that flow for `lines`."""
        paths = (source.mapper.inbound_fields & target.mapper.outbound_fields) - (
            target.create_only_paths()
        )
        fields = source.line_paths(inbound=True) & target.line_paths(inbound=False)
        return {path: fields if path == LINES else frozenset() for path in paths}

    def _check_read_back(
        self,
        source: Side,
        target: Side,
        paths: dict[str, frozenset[str]],
        wanted: dict[str, Any],
        label: str,
    ) -> None:
        try:
            back = flatten(target.canonical())
        except MappingError as error:
            where = target.mapper.source
            self.report(where, "read", f"a value {label} there cannot be read: {error}")
            return
        for path, fields in paths.items():
            sent = _project(path, wanted.get(path), fields)
            got = _project(path, back.get(path), fields)
            if sent == got or sent in EMPTY:
                continue
            where, name = target.where(path), path
            if path == LINES:
                name, sent, got = _first_difference(sent, got)
                where = target.where(name, line=True)
                name = f"lines.{name}"
            self.report(
                where,
                name,
                f"`{name}` {label} in {target.label} from {source.label} "
                f"({source.where(path if path != LINES else name[6:], line=path == LINES)}) "
                f"reads back as {_shown(got)}, not {_shown(sent)}: the two systems never agree "
                "on it, so it is written again on every run (compare it in the target's terms, "
                "or map it one way)",
            )


def run_example(pair: Pair, rng: random.Random) -> None:
    """One example: create in A, sync, edit a side, three passes; findings go to `pair`."""
    a, b = pair.a, pair.b
    a.fields, b.fields, pair.snapshot = {}, {}, {}
    try:
        record = pair.sample(rng)
        pair.create(record)
    except MappingError:
        return  # a record this pair cannot carry at all: the engine reports it as a failure
    for source, target in ((b, a), (a, b)):
        extra = pair.sync(source, target, "re-sent with nothing edited")
        _report_writes(pair, target, extra, "after the first sync, with nothing edited")
    editor = a if rng.random() < 0.5 else b
    other = b if editor is a else a
    edited = pair.edit(editor, rng)
    before = {side.label: _natives(side) for side in (a, b)}
    pair.sync(a, b, "written")
    pair.sync(b, a, "written")
    third = pair.sync(a, b, "written")
    _report_writes(pair, b, third, "on the third pass (A → B, B → A, A → B)")
    allowed = {side.label: frozenset[str]() for side in (a, b)}
    allowed[other.label] = frozenset(
        n for p in edited for n in ({other.lines_native} if p == LINES else other.native_of(p))
    )
    for side in (a, b):
        _report_changes(pair, side, before[side.label], _natives(side), allowed[side.label])


def check_pair(
    a: Side, b: Side, *, examples: int = DEFAULT_EXAMPLES, seed: int = 0
) -> list[Problem]:
    """Static problems of both sides, then `examples` seeded runs; findings in order."""
    static = static_problems(a) + static_problems(b)
    pair = Pair(a, b)
    rng = random.Random(seed)
    for _ in range(examples):
        run_example(pair, rng)
    return static + sorted(pair.findings.values(), key=lambda p: (p.location, p.message))


def _representable(side: Side, flat: dict[str, Any], path: str) -> bool:
    """Whether `side` can hold the value at `path` (its mapping writes something for it)."""
    try:
        native = side.mapper.to_native(
            unflatten(side.entity, flat), side.refs, create=False, paths={path}
        )
    except (MappingError, ValueError):
        return False
    return flat.get(path) in EMPTY or any(value not in EMPTY for value in native.values())


def _line_of(side: Side, rng: random.Random) -> dict[str, Any]:
    paths = sorted(side.line_paths(inbound=True) & side.line_paths(inbound=False))
    return {p: value_for(annotation_of(side.entity, p, line=True), p, rng) for p in paths}


def _project(path: str, value: Any, fields: frozenset[str]) -> Any:
    """A value as the pass compares it: lines only on the fields that flow between the two."""
    if path != LINES or not isinstance(value, list):
        return value
    return [{name: line.get(name) for name in sorted(fields)} for line in value]


def _first_difference(sent: Any, got: Any) -> tuple[str, Any, Any]:
    """(line field, sent value, read value) of the first difference between two line lists."""
    if isinstance(sent, list) and isinstance(got, list):
        if len(sent) != len(got):
            return "(count)", len(sent), len(got)
        for wanted, found in zip(sent, got, strict=True):
            for name in sorted(wanted):
                if wanted.get(name) != found.get(name):
                    return str(name), wanted.get(name), found.get(name)
    return "(lines)", sent, got


def _natives(side: Side) -> dict[str, Any]:
    """The stored native record as comparable leaves (`lines.0.quantity`)."""
    leaves: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(f"{prefix}.{index}", inner)
        else:
            leaves[prefix] = value

    walk("", side.fields)
    return leaves


def _difference(source: Side, target: Side, path: str, sent: Any, held: Any) -> str:
    """What a write changes, in words: the value each side has, and where the source maps it."""
    line = path == LINES
    name = path
    if line:
        name, sent, held = _first_difference(sent, held)
    return (
        f"`{'lines.' + name if line else name}` is {_shown(held)} in {target.label} but "
        f"{_shown(sent)} in {source.label} ({source.where(name, line=line)})"
    )


def _report_writes(pair: Pair, target: Side, writes: dict[str, str], when: str) -> None:
    for path, detail in writes.items():
        where = target.where(path)
        pair.report(where, path, f"written to {target.label} again {when}: {detail}")


def _report_changes(
    pair: Pair, side: Side, before: dict[str, Any], after: dict[str, Any], allowed: frozenset[str]
) -> None:
    lines = side.lines_native
    for leaf in sorted(before.keys() | after.keys()):
        if before.get(leaf) == after.get(leaf):
            continue
        parts = leaf.split(".")
        line = parts[0] == lines and len(parts) > 2
        field = parts[2] if line else parts[0]
        if (lines if line else field) in allowed or field in allowed or leaf in allowed:
            continue
        if not side.native_of_field(field, line=line):
            continue  # a field the mapping does not map: one the system computes from others
        name = f"lines.{field}" if line else field
        pair.report(
            side.where_native(field, line=line),
            f"changed {name}",
            f"{side.label} field `{name}` changed from {_shown(before.get(leaf))} to "
            f"{_shown(after.get(leaf))} though nothing it maps was edited on the other side",
        )


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


__all__ = ["DEFAULT_EXAMPLES", "Pair", "check_pair", "run_example", "static_problems"]
