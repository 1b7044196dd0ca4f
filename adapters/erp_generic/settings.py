"""The `settings:` block of an `erp_generic` system in config.yaml, for SQL and REST mode.

Names of tables, columns, endpoints and JSON fields are data here: they are checked against the
reflected database schema (SQL) before anything runs and never pasted into SQL text.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    SecretStr,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from connector.dburl import normalise_url
from connector.errors import ConfigurationError
from connector.http import HttpSettings
from connector.model import Entity


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Webhooks(_Strict):
    """Standard Webhooks deliveries from the ERP (see adapters/erp_generic/webhooks.py)."""

    #: `whsec_…` secrets; two while one is rotated out.
    secrets: list[SecretStr] = Field(min_length=1)
    tolerance_seconds: float = Field(default=300.0, gt=0)


# --- Writing into the ERP (how, and what an insert must bring) ------------------------------
# Kept apart from the reading settings above: these decide only what CRM → ERP routes do.

#: How an entity is written: through the ERP's own API, through its import (staging) tables,
#: directly into its tables (the sample ERP, or a schema the user owns), or not at all.
WriteMode = Literal["table", "staging", "api", "none"]


class AssignedKey(_Strict):
    """A required key column (customer number, order number) whose value the ERP assigns.

    With `sequence` the adapter takes the next value of that database sequence; with
    `expression` it runs the user's `SELECT` (one value) in the insert's transaction; with
    neither the database fills it (identity, default, trigger) and the adapter reads it back.
    The key is never inserted or left NULL: a row that would have none fails alone.
    """

    column: str
    sequence: str | None = None
    expression: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> AssignedKey:
        if self.sequence is not None and self.expression is not None:
            raise ValueError("give sequence or expression, not both")
        return self


class Reference(_Strict):
    """A column where the connector leaves its own reference on insert: the canonical key
    (`key`) or the source record's id (`source_id`, e.g. the CRM's id). An insert first looks
    for a row holding it, so a run killed between the insert and its binding never
    duplicates the row on the rerun. Needs no UNIQUE constraint (unlike `sync_key`)."""

    column: str
    value: Literal["key", "source_id"] = "key"


class StagingLines(_Strict):
    """The staging table for a sale's lines, pointing at the staging header's primary key."""

    table: str
    primary_key: str = "id"
    foreign_key: str
    order_by: str | None = None
    #: Line column → staging column, where the staging table names them differently.
    columns: dict[str, str] = Field(default_factory=dict)


class StagingTable(_Strict):
    """An ERP import (interface) table: rows the ERP's own import job turns into records.

    The adapter inserts a row per record, then reads the job's outcome from the same row: a
    status, the id (or number) of the record it created, and its error text.
    """

    table: str
    db_schema: str | None = Field(default=None, alias="schema")
    primary_key: str = "id"
    #: Holds the connector's canonical key: how the outcome is found again.
    key_column: str
    status_column: str
    #: The status a new row is inserted with (None: the column's default applies).
    new_status: str | None = "new"
    #: Statuses that mean "imported" and "refused"; anything else is still waiting.
    done_statuses: list[str] = Field(default_factory=lambda: ["done"], min_length=1)
    failed_statuses: list[str] = Field(default_factory=lambda: ["error"], min_length=1)
    #: The imported record's id in the entity's own table (what the binding points at).
    result_id_column: str
    #: The ERP's error text for a refused row.
    error_column: str | None = None
    #: For import jobs that also update: the column that names the record to update.
    target_id_column: str | None = None
    #: Entity column → staging column, where the staging table names them differently.
    columns: dict[str, str] = Field(default_factory=dict)
    lines: StagingLines | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class WriteRules(_Strict):
    """The write side of one SQL entity (`write:` and what inserts need)."""

    #: How the entity is written; entities that do not say are never written.
    write: WriteMode = "none"
    #: Values for columns an insert leaves empty (required columns the mapping does not fill).
    defaults: dict[str, Any] = Field(default_factory=dict)
    #: The key column the ERP assigns (customer number).
    assign: AssignedKey | None = None
    #: Columns that must hold a value on insert (natural keys); an insert without fails alone.
    required: list[str] = Field(default_factory=list)
    reference: Reference | None = None
    staging: StagingTable | None = None
    #: `write: api`: options for the API writer's model (its own names, e.g. a Tryton model).
    api: dict[str, Any] = Field(default_factory=dict)


class ApiSettings(_Strict):
    """`write: api` entities go through a writer plugin (entry-point group
    `connector.erp_writers`) such as `tryton`; `url` and the login come from here."""

    plugin: str
    url: str
    database: str | None = None
    user: str | None = None
    password: SecretStr | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)


# --- SQL mode -------------------------------------------------------------------------------


class LinesTable(_Strict):
    """The child table that holds a sale's lines."""

    table: str
    #: The lines table's own primary key (left out of the native line dicts).
    primary_key: str = "id"
    #: The column that points at the parent row's primary key.
    foreign_key: str
    #: The column that orders lines; filled with 1, 2, 3 … on write when a line lacks it.
    order_by: str | None = None
    #: The column that identifies a line within its parent (a line number); lines are matched
    #: by it on write, so only changed lines are updated and line ids survive. Default:
    #: `order_by`.
    key: str | None = None


class ChangeLog(_Strict):
    """A table where the ERP records hard deletes (for ERPs without a soft-delete column)."""

    table: str
    #: Holds the deleted row's primary key.
    key_column: str
    #: When the delete happened.
    changed_at: str
    #: For a log shared by several tables: the column naming the table, and this table's value.
    entity_column: str | None = None
    entity_value: str | None = None

    @model_validator(mode="after")
    def _entity_filter_complete(self) -> ChangeLog:
        if (self.entity_column is None) != (self.entity_value is None):
            raise ValueError("entity_column and entity_value go together")
        return self


# --- SQL mode: reading a foreign schema without DDL (issues 13 and 17) ----------------------
# Everything an integrator needs to read an ERP it may not alter: a SELECT as the source, a row
# filter, soft delete as a boolean expression, a change column of any type or checksum mode,
# fields from related tables, and customer history figures from the user's own SQL. SQL text
# here is written by the user in config.yaml (like a view they could not create); table and
# column *names* (related fields, checksum children) are checked against the reflected schema.


class Change(_Strict):
    """Where a row's change time comes from: a column or an SQL expression, of a given kind."""

    column: str | None = None
    #: An SQL expression over the source's columns, e.g. `coalesce(write_date, create_date)`.
    expression: str | None = None
    #: timestamp / date / text (parsed with `format`) / epoch seconds / epoch milliseconds.
    type: Literal["timestamp", "date", "text", "epoch", "epoch_ms"] = "timestamp"
    #: A `strptime` format for `type: text`, e.g. `%d.%m.%Y %H:%M`.
    format: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Change:
        if (self.column is None) == (self.expression is None):
            raise ValueError("give exactly one of `column` or `expression`")
        if (self.type == "text") != (self.format is not None):
            raise ValueError("`format` goes with `type: text`, and `type: text` needs one")
        return self


class Related(_Strict):
    """One field taken from another table: a correlated lookup, compiled to a subquery.

    `match` pairs the other table's columns with this row's (`{party: id}`: the rows of
    `table` whose `party` is this row's `id`; `{id: product}`: the row this row's `product`
    points at). Of several matches the first by `order_by` is taken. `then` follows one more
    hop from the matched row (the employer's name through `party_relation`).
    """

    table: str
    schema_: str | None = Field(default=None, alias="schema")
    match: dict[str, str] = Field(min_length=1)
    column: str | None = None
    #: Equality conditions on the other table (values are bound parameters).
    where: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    order_by: list[str] = Field(default_factory=list)
    descending: bool = False
    then: Related | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_value(self) -> Related:
        if (self.column is None) == (self.then is None):
            raise ValueError("give exactly one of `column` or `then`")
        return self


class ChecksumChild(_Strict):
    """Child rows that belong to a row's checksum (an order's positions, a party's addresses)."""

    table: str
    foreign_key: str
    #: The row's column `foreign_key` points at (default: the entity's primary key).
    parent_column: str | None = None
    #: Columns left out of the hash (a volatile counter, a last-print date).
    ignore: list[str] = Field(default_factory=list)


class Checksum(_Strict):
    """Change detection by hashing every row (and its children) against the product's store."""

    children: list[ChecksumChild] = Field(default_factory=list)
    ignore: list[str] = Field(default_factory=list)


class HistoryQueries(_Strict):
    """Customer history figures from the user's own SQL, attached to each customer read.

    Each query takes the page's customer keys as the expanding parameter `:ids` and answers
    with the key in a column named `key_column` plus one column per figure (`query`), or one
    figure column named like the figure (`figures`).
    """

    query: str | None = None
    figures: dict[str, str] = Field(default_factory=dict)
    key_column: str = "customer_id"

    @model_validator(mode="after")
    def _something(self) -> HistoryQueries:
        if self.query is None and not self.figures:
            raise ValueError("give a grouped `query` or `figures`")
        return self


class ReadSpec(_Strict):
    """How an entity is read from a schema the connector may not change."""

    #: A SELECT used instead of the table (joins, coalesce, lookups); wrapped as a subquery.
    query: str | None = None
    #: A boolean SQL expression over the source's columns: only matching rows are the entity.
    filter: str | None = None
    #: A boolean SQL expression: true marks a row deleted (`active = false`).
    deleted_when: str | None = None
    change: Change | None = None
    checksum: Checksum | None = None
    related: dict[str, Related] = Field(default_factory=dict)
    #: Related fields of each sale line (the product's code instead of its id).
    line_related: dict[str, Related] = Field(default_factory=dict)
    history: HistoryQueries | None = None

    @model_validator(mode="after")
    def _one_detector(self) -> ReadSpec:
        if self.change is not None and self.checksum is not None:
            raise ValueError("`change` and `checksum` exclude each other")
        return self


class SqlEntity(WriteRules):
    """One entity's table (or view) in the ERP database, and how it is written (`WriteRules`)."""

    table: str
    #: A database schema (PostgreSQL schema, SQL Server schema); None: the default one.
    db_schema: str | None = Field(default=None, alias="schema")
    primary_key: str = "id"
    #: The change-detection timestamp; the ERP (and our writes) set it on every change.
    updated_at: str = "updated_at"
    #: A timestamp or boolean column that marks a row deleted.
    soft_delete: str | None = None
    change_log: ChangeLog | None = None
    #: A unique column that holds the connector's canonical key (replayed creates update).
    sync_key: str | None = None
    lines: LinesTable | None = None
    #: Delete rows physically when asked to delete and there is no soft-delete column.
    hard_delete: bool = False
    #: How the entity is read from a foreign schema (see `ReadSpec`); None: the plain table.
    read: ReadSpec | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class HistorySource(_Strict):
    """Where the sample-style customer history is computed from (SQL mode only)."""

    orders_table: str = "sales_orders"
    invoices_table: str = "invoices"


class SqlSettings(_Strict):
    mode: Literal["sql"] = "sql"
    #: Any SQLAlchemy URL. Put the password in `password` (or interpolate it from the
    #: environment); the whole URL is kept secret because drivers allow credentials in it.
    url: SecretStr
    password: SecretStr | None = None
    entities: dict[Entity, SqlEntity]

    @field_validator("url")
    @classmethod
    def _database_url(cls, value: SecretStr) -> SecretStr:
        # Checked here so a bad URL is reported at its line in config.yaml; the message never
        # quotes the URL (it may hold a password).
        try:
            normalise_url(value.get_secret_value(), "the ERP database url")
        except ConfigurationError as error:
            raise ValueError(str(error)) from None
        return value

    #: Rows per keyset page on reads.
    page_size: int = Field(default=1000, ge=1, le=50_000)
    #: Writes per transaction.
    batch_size: int = Field(default=200, ge=1, le=10_000)
    #: Refresh the customers' history columns from orders and invoices before reading
    #: customers (for ERPs, like the sample, that keep the history in the customer row).
    refresh_history: HistorySource | None = None
    webhooks: Webhooks | None = None
    #: The API writer used by `write: api` entities.
    api: ApiSettings | None = None

    @model_validator(mode="after")
    def _writers_configured(self) -> SqlSettings:
        for entity, config in self.entities.items():
            if config.write == "staging" and config.staging is None:
                raise ValueError(f"entities.{entity.value}: write: staging needs a staging table")
            if config.write == "api" and self.api is None:
                raise ValueError(f"entities.{entity.value}: write: api needs an `api:` block")
        return self


# --- REST mode ------------------------------------------------------------------------------


class Pagination(_Strict):
    style: Literal["page", "offset", "cursor", "link", "none"] = "page"
    #: page style: the page-number parameter and the first page's number.
    page_param: str = "page"
    first_page: int = 1
    #: offset style: the offset parameter.
    offset_param: str = "offset"
    #: page and offset styles: the page-size parameter and size.
    size_param: str = "limit"
    size: int = Field(default=100, ge=1)
    #: cursor style: where the next cursor sits in the response (dotted) and the parameter.
    cursor_path: str = "next_cursor"
    cursor_param: str = "cursor"


class Endpoint(_Strict):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    #: A path relative to `base_url`; `{id}` is replaced by the record's (URL-quoted) id.
    path: str


class RestEntity(_Strict):
    #: The list endpoint (usually GET) that answers with the entity's records, oldest first.
    list: Endpoint
    #: The query parameter that asks for records changed at or after a time.
    since_param: str | None = "updated_since"
    since_format: Literal["iso", "epoch", "epoch_ms", "date"] = "iso"
    pagination: Pagination = Field(default_factory=Pagination)
    #: Dotted path of the record list in a list response ("" when the body is the list).
    records_path: str = "data"
    #: A single record fetch (used by `read`); without it `read` filters the list.
    get: Endpoint | None = None
    create: Endpoint | None = None
    update: Endpoint | None = None
    delete: Endpoint | None = None
    id_field: str = "id"
    updated_at_field: str = "updated_at"
    #: A boolean or timestamp field that marks a record deleted.
    deleted_field: str | None = None
    #: A field the ERP stores the canonical key in (makes replayed creates updates).
    sync_key_field: str | None = None


class RestSettings(HttpSettings):
    """The shared HTTP settings (base_url, timeouts, retries, rate_limits) plus the ERP's API."""

    mode: Literal["rest"]
    #: The environment variable that holds the bearer token (never the token itself).
    token_env: str | None = None
    entities: dict[Entity, RestEntity]
    batch_size: int = Field(default=50, ge=1, le=1000)
    webhooks: Webhooks | None = None


class ErpGenericSettings(RootModel[SqlSettings | RestSettings]):
    """`mode: sql` (the default) or `mode: rest`, with that mode's fields beside it."""

    @model_validator(mode="wrap")
    @classmethod
    def _by_mode(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # Validate against the one model `mode` names, so an error's location is the user's
        # own key path (a tagged union would put the tag into it: `settings.sql.entities…`).
        if not isinstance(value, dict):
            return handler(value)
        mode = value.get("mode", "sql")
        if mode not in ("sql", "rest"):
            raise ValueError(f"mode must be 'sql' or 'rest', not {mode!r}")
        target: type[BaseModel] = RestSettings if mode == "rest" else SqlSettings
        return handler(target.model_validate(value))
