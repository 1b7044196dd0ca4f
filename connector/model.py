"""The canonical model: the one language every adapter translates to and from.

Records are pydantic v2 models. Money is `Decimal` beside the record's `currency` (never a
float); times are timezone-aware UTC; a reference to another record is that record's canonical
key, never another system's id. Each record has:

* `key`: the canonical key, assigned by the state store and stable forever (None until the
  engine has bound the record);
* `updated_at`: when the *source* last changed it;
* `deleted`: the source deleted or archived it.

A mapper fills only the fields its system knows about; which ones it filled is pydantic's
`model_fields_set`, and `flatten()` turns a record into `{dotted.path: json value}` over exactly
those fields. That flat form is what the engine hashes, diffs and stores as the last-synced
snapshot.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import types
from collections.abc import Callable, Hashable
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar, NamedTuple, TypeVar, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# Defined apart so the CLI can name entities without building the models (start-up time);
# re-exported here, where the rest of the code imports them from.
from connector.entity import ENTITY_ORDER as ENTITY_ORDER
from connector.entity import Entity as Entity


def _as_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a time zone")
    return value.astimezone(dt.UTC)


UtcDatetime = Annotated[dt.datetime, AfterValidator(_as_utc)]
"""A timezone-aware datetime, normalised to UTC. Naive datetimes are rejected."""

Money = Annotated[Decimal, Field(allow_inf_nan=False)]
"""An amount in the currency of the record that holds it."""

CanonicalKey = str
"""The store's stable key for one record; references between records hold these."""


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"
    INACTIVE = "inactive"


class SaleStage(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class OrderStatus(StrEnum):
    NONE = "none"
    ORDERED = "ordered"
    SHIPPED = "shipped"
    INVOICED = "invoiced"
    PAID = "paid"
    CANCELLED = "cancelled"


class _Part(BaseModel):
    """A value object nested in a record (an address, a sale line, the history)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Address(_Part):
    street: str | None = None
    city: str | None = None
    postal_code: str | None = None
    region: str | None = None
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2")


class CustomerHistory(_Part):
    """Computed from the ERP's orders and invoices, written to the CRM for the sales rep."""

    lifetime_revenue: Money | None = None
    last_order_date: dt.date | None = None
    open_order_count: int | None = None


class SaleLine(_Part):
    number: int | None = Field(
        default=None,
        description="The line's key within its sale (the ERP's line number): lines are matched "
        "by it, compared field by field, and written one by one",
    )
    sku: str | None = None
    description: str | None = None
    quantity: Decimal = Decimal(1)
    unit_price: Money | None = None
    discount: Money | None = None
    line_total: Money | None = None


class Record(BaseModel):
    """What every canonical record has."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    entity: ClassVar[Entity]
    #: Canonical paths that hold references, with the entity each one points at.
    references: ClassVar[dict[str, Entity]] = {}

    key: CanonicalKey | None = None
    updated_at: UtcDatetime | None = None
    deleted: bool = False

    def __setattr__(self, name: str, value: Any) -> None:
        # The engine sets `key` on every record it maps; a str or None is what validating the
        # assignment would store unchanged, and pydantic's assignment check copies the record's
        # whole field dict to do it. Anything else is validated as before.
        if name == "key" and (value is None or type(value) is str):
            self.__dict__["key"] = value
            self.__pydantic_fields_set__.add("key")
            return
        super().__setattr__(name, value)


class Customer(Record):
    entity: ClassVar[Entity] = Entity.CUSTOMER

    number: str | None = None
    name: str | None = None
    website: str | None = None
    domain: str | None = None
    industry: str | None = None
    employees: int | None = None
    annual_revenue: Money | None = None
    phone: str | None = None
    email: str | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    tax_id: str | None = None
    currency: str | None = Field(default=None, description="ISO 4217")
    credit_limit: Money | None = None
    payment_terms: str | None = None
    status: CustomerStatus | None = None
    owner: str | None = Field(
        default=None,
        description="The CRM's account owner, as the owner's e-mail address (not a CRM user id: "
        "the CRM adapters translate)",
    )
    history: CustomerHistory | None = None
    custom: dict[str, Any] = Field(default_factory=dict)


class Contact(Record):
    entity: ClassVar[Entity] = Entity.CONTACT
    references: ClassVar[dict[str, Entity]] = {"customer": Entity.CUSTOMER}

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    mobile: str | None = None
    job_title: str | None = None
    customer: CanonicalKey | None = None
    primary: bool | None = None
    language: str | None = None
    custom: dict[str, Any] = Field(default_factory=dict)


class Sale(Record):
    entity: ClassVar[Entity] = Entity.SALE
    references: ClassVar[dict[str, Entity]] = {
        "customer": Entity.CUSTOMER,
        "contact": Entity.CONTACT,
    }

    number: str | None = None
    customer: CanonicalKey | None = None
    contact: CanonicalKey | None = None
    title: str | None = None
    stage: SaleStage | None = None
    order_status: OrderStatus | None = None
    amount: Money | None = None
    currency: str | None = Field(default=None, description="ISO 4217")
    close_date: dt.date | None = None
    order_date: dt.date | None = None
    lines: list[SaleLine] | None = None
    custom: dict[str, Any] = Field(default_factory=dict)


RECORD_TYPES: dict[Entity, type[Record]] = {
    Entity.CUSTOMER: Customer,
    Entity.CONTACT: Contact,
    Entity.SALE: Sale,
}

#: Fields that describe the record rather than the business data; never diffed or mapped.
META_FIELDS = frozenset({"key", "updated_at", "deleted"})


_Model = TypeVar("_Model", bound=BaseModel)


class Construction(NamedTuple):
    """How `trusted_constructor` builds a model's instance, for code that builds it inline
    (the mapping's generated inbound code): the `__dict__` in the declared order, each field
    given or its default; then the four slots every BaseModel instance has set, through
    their descriptors (`set_dict`, `set_fields_set`, `set_extra`, `set_private`)."""

    #: Each field's default, in the declared order: the value itself where it is immutable,
    #: None where `factories` makes it.
    defaults: dict[str, Any]
    #: Fields whose default is made per instance (a default factory, a mutable default).
    factories: dict[str, Callable[[], Any]]
    set_dict: Callable[[Any, Any], None]
    set_fields_set: Callable[[Any, Any], None]
    set_extra: Callable[[Any, Any], None]
    set_private: Callable[[Any, Any], None]


def construction(model: type[BaseModel]) -> Construction:
    """What building `model` without validation takes (`trusted_constructor`); TypeError for
    a model that cannot be built that way (a post-init hook, private attributes, extra fields
    allowed, a required field)."""
    if model.__pydantic_post_init__ or model.__private_attributes__:
        raise TypeError(f"{model.__name__} has private attributes or a post-init hook")
    if model.model_config.get("extra") == "allow":
        raise TypeError(f"{model.__name__} allows extra fields")
    defaults: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    for name, info in model.model_fields.items():
        if info.default_factory is not None:
            defaults[name] = None  # the slot, so `__dict__` keeps the declared field order
            factories[name] = cast(Callable[[], Any], info.default_factory)
        elif info.is_required():
            raise TypeError(f"{model.__name__}.{name} is required")
        elif isinstance(info.default, Hashable):  # immutable: shared by every instance
            defaults[name] = info.default
        else:
            factories[name] = functools.partial(copy.deepcopy, info.default)
            defaults[name] = None
    # The four attributes are BaseModel's slots (and its `__dict__`): their descriptors set
    # them directly, where `object.__setattr__` would look each one up by name first.
    return Construction(
        defaults,
        factories,
        *(
            _slot_setter(model, name)
            for name in (
                "__dict__",
                "__pydantic_fields_set__",
                "__pydantic_extra__",
                "__pydantic_private__",
            )
        ),
    )


def trusted_constructor(model: type[_Model]) -> Callable[[dict[str, Any]], _Model]:
    """A function building `model` instances from values already checked against its types.

    What `model_validate` would return for the same values, without validating them again: the
    given names are the fields set, every other field takes its default. Only for callers that
    have checked each value against the field's type themselves (the mapping's generated code,
    `connector.mapping.fast_types`), and that pass no name the model lacks. Pydantic's own
    `model_construct` does the same in Python, looking up aliases field by field, and costs
    more than validating; this sets the same four attributes it sets (tests/mapping pins the
    result to `model_validate`'s).
    """
    defaults, made, put_dict, put_set, put_extra, put_private = construction(model)
    factories = list(made.items())
    new = model.__new__

    def construct(values: dict[str, Any]) -> _Model:
        data = {**defaults, **values}
        for name, factory in factories:
            if name not in values:
                data[name] = factory()
        instance = new(model)
        put_dict(instance, data)
        put_set(instance, set(values))
        put_extra(instance, None)
        put_private(instance, None)
        return instance

    return construct


def _slot_setter(model: type, name: str) -> Callable[[Any, Any], None]:
    """The `__set__` of the data descriptor that holds attribute `name` of `model`'s
    instances (a slot, or `__dict__`), as `object.__setattr__` would find it."""
    for klass in model.__mro__:
        found = vars(klass).get(name)
        if found is not None:
            if not isinstance(found, types.MemberDescriptorType | types.GetSetDescriptorType):
                raise TypeError(f"{model.__name__}.{name} is not a slot")
            return found.__set__
    raise TypeError(f"{model.__name__} has no slot {name}")


def record_type(entity: Entity | str) -> type[Record]:
    return RECORD_TYPES[Entity(entity)]


_PLAIN = frozenset({str, int, float, bool, type(None)})
#: The types whose values `flatten` stores as they are.
PLAIN_TYPES = _PLAIN


#: Per value type, whether it is a pydantic model. `BaseModel`'s metaclass is an ABC's, so a
#: plain `isinstance` goes through `ABCMeta` for every value; this asks once per type.
_MODEL_TYPES: dict[type, bool] = {}


def _is_model(kind: type) -> bool:
    known = _MODEL_TYPES.get(kind)
    if known is None:
        known = _MODEL_TYPES[kind] = issubclass(kind, BaseModel)
    return known


def _jsonable(value: Any) -> Any:
    """A value in a stable JSON form: Decimals normalised so 10.0 and 10.00 compare equal."""
    kind = type(value)
    if kind in _PLAIN:  # the common case first: this runs for every field of every record
        return value
    convert = _CONVERTERS.get(kind)
    if convert is None:
        convert = _CONVERTERS[kind] = _converter(kind)
    return convert(value)


#: Per value type, the function giving its JSON form: the type tests below run once per type.
_CONVERTERS: dict[type, Callable[[Any], Any]] = {}


def _converter(kind: type) -> Callable[[Any], Any]:
    if issubclass(kind, Decimal):
        # normalize() drops trailing zeros; format "f" never uses exponent notation.
        return lambda value: format(value.normalize(), "f")
    if _is_model(kind):
        return lambda value: {
            name: _jsonable(getattr(value, name)) for name in sorted(value.model_fields_set)
        }
    if issubclass(kind, dt.datetime):
        return lambda value: _as_utc(value).isoformat()
    if issubclass(kind, dt.date):
        return kind.isoformat
    if issubclass(kind, StrEnum):
        return lambda value: value.value
    if issubclass(kind, str):
        return str
    if issubclass(kind, list | tuple):
        return lambda value: [_jsonable(item) for item in value]
    if issubclass(kind, dict):
        return lambda value: {str(k): _jsonable(v) for k, v in sorted(value.items())}
    return _unchanged


def _unchanged(value: Any) -> Any:
    return value


def flatten(record: BaseModel, prefix: str = "") -> dict[str, Any]:
    """`{dotted.path: json value}` over the fields the record's mapper set.

    Nested value objects are flattened into their own paths (`billing_address.city`) except
    lists (sale lines), which are one path holding the list; the engine compares it line by
    line (matched by `SaleLine.number`) and field by field (`engine.decide.lines_equal`).
    `custom` is flattened per key so a user's custom fields diff one by one. This runs for every
    record of every sync, so each model gets its own straight-line function (`_flattener`).
    """
    if prefix:
        return _flatten_part(record, {}, {n: prefix + n for n in type(record).model_fields})
    flattener = _FLATTENERS.get(type(record))
    if flattener is None:
        flattener = _FLATTENERS[type(record)] = _flattener(type(record))
    return flattener(record)


_FLATTENERS: dict[type, Callable[[Any], dict[str, Any]]] = {}


def _flattener(model: type[BaseModel]) -> Callable[[Any], dict[str, Any]]:
    """`flatten` for one model, written out field by field (and a value object's fields).

    Only names from the model's own field list reach the source text. A value that is not of
    a plain type, or a value object of another type than declared, takes `_put` (the general
    rule), so the result is the same as walking the fields one by one.
    """
    namespace: dict[str, Any] = {"PLAIN": _PLAIN, "put": _put, "Decimal": Decimal}
    lines = [
        "def flatten_model(record):",
        "    fs = record.__pydantic_fields_set__",
        "    values = record.__dict__",
        "    flat = {}",
    ]
    for name, info in model.model_fields.items():
        if name in META_FIELDS:
            continue
        lines += [f"    if {name!r} in fs:", f"        value = values[{name!r}]"]
        part = _model_in(info.annotation)
        if part is not None:
            namespace[f"part_{name}"] = part
            lines += [
                f"        if type(value) is part_{name}:",
                "            part_fs = value.__pydantic_fields_set__",
                "            part_values = value.__dict__",
            ]
            for inner in part.model_fields:
                path = f"{name}.{inner}"
                lines += [
                    f"            if {inner!r} in part_fs:",
                    f"                v = part_values[{inner!r}]",
                    "                if type(v) in PLAIN:",
                    f"                    flat[{path!r}] = v",
                    *_decimal_text("v", path, indent=16),
                    "                else:",
                    f"                    put(flat, {path!r}, v)",
                ]
            lines += ["        elif type(value) in PLAIN:", f"            flat[{name!r}] = value"]
        else:
            lines.append("        if type(value) in PLAIN:")
            lines.append(f"            flat[{name!r}] = value")
            lines += _decimal_text("value", name, indent=8)
        lines += ["        else:", f"            put(flat, {name!r}, value)"]
    lines.append("    return flat")
    exec(compile("\n".join(lines) + "\n", f"<flatten {model.__name__}>", "exec"), namespace)
    function: Callable[[Any], dict[str, Any]] = namespace["flatten_model"]
    return function


def _decimal_text(variable: str, path: str, *, indent: int) -> list[str]:
    """Source of the `Decimal` case written inline (amounts are most of a record's non-plain
    values): the text `_jsonable` gives a `Decimal`, without `_put`'s and its three calls."""
    pad = " " * indent
    return [
        f"{pad}elif type({variable}) is Decimal:",
        f"{pad}    flat[{path!r}] = format({variable}.normalize(), 'f')",
    ]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The one model class an annotation names (`Address | None`), if any."""
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _put(flat: dict[str, Any], path: str, value: Any) -> None:
    """A value of no plain type into `flat` under `path` (a top-level name or a dotted one)."""
    kind = type(value)
    if _is_model(kind):
        _flatten_part(value, flat, {n: f"{path}.{n}" for n in kind.model_fields})
    elif path == "custom" and kind is dict:
        for custom_key, custom_value in value.items():
            flat[f"custom.{custom_key}"] = _jsonable(custom_value)
    else:
        flat[path] = _jsonable(value)


def _flatten_part(part: BaseModel, flat: dict[str, Any], paths: dict[str, str]) -> dict[str, Any]:
    """A value object's set fields into `flat`, each under its path from `paths`."""
    values = part.__dict__
    for name in part.__pydantic_fields_set__:
        value = values[name]
        kind = type(value)
        if kind in _PLAIN:
            flat[paths[name]] = value
        elif _is_model(kind):
            _flatten_part(value, flat, {n: f"{paths[name]}.{n}" for n in kind.model_fields})
        else:
            flat[paths[name]] = _jsonable(value)
    return flat


def path_value(record: BaseModel, path: str) -> Any:
    """`flatten(record).get(path)` for one path, without flattening the whole record."""
    if "." not in path:  # the common case (a natural key such as `number`), asked per record
        if path not in record.__pydantic_fields_set__:
            return None
        return _jsonable(record.__dict__[path])
    value: Any = record
    for part in path.split("."):
        if _is_model(type(value)):
            if part not in value.__pydantic_fields_set__:
                return None
            value = value.__dict__[part]
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return _jsonable(value)


def unflatten(entity: Entity, flat: dict[str, Any], **meta: Any) -> Record:
    """The inverse of `flatten`: build a record that has exactly these paths set."""
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        head, _, rest = path.partition(".")
        if not rest:
            nested[head] = value
            continue
        branch = nested.setdefault(head, {})
        if isinstance(branch, dict):
            inner_head, _, inner_rest = rest.partition(".")
            if inner_rest:
                branch.setdefault(inner_head, {})[inner_rest] = value
            else:
                branch[inner_head] = value
    return record_type(entity).model_validate({**nested, **meta})


def canonical_fields(entity: Entity) -> frozenset[str]:
    """Every dotted path the canonical model offers for an entity (`custom.*` is open)."""
    paths: set[str] = set()
    for name, info in record_type(entity).model_fields.items():
        if name in META_FIELDS:
            continue
        annotation = info.annotation
        nested = _nested_model(annotation)
        if nested is not None:
            paths.update(f"{name}.{inner}" for inner in nested.model_fields)
        else:
            paths.add(name)
    return frozenset(paths)


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    candidates = getattr(annotation, "__args__", (annotation,))
    for candidate in candidates:
        if (
            isinstance(candidate, type)
            and issubclass(candidate, _Part)
            and candidate is not SaleLine
        ):
            return candidate
    return None
