"""REST mode's health check: is the ERP's API reachable, is the token accepted, do lists read?

`connector check` and the daemon's `/readyz` call it. One request per synced entity — the first
record of its list endpoint (a page size of one where the list pages by size), with the
configured token — and one attempt each: a health check that backs off for a minute before
saying "unreachable" helps nobody. A non-empty answer must hold a list where `records_path`
says (a wrong path would otherwise read as "no records", and every sync as "nothing changed").

A rejected token or an unreachable API is the same problem for every entity, so it is reported
once, against the setting to fix (`token_env`, `base_url`); what is wrong with one list
(a 403, a 404, no list in the answer) is reported against that entity's `list`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from connector.errors import ConnectorError, Problem
from connector.http import ApiClient, LimiterRegistry, RetriesExhaustedError, TransportError
from connector.mapping.contract import native_value

from .rest import ERP_REST_POLICY, records_in

if TYPE_CHECKING:
    from connector.model import Entity

    from .rest import RestBackend

#: Pagination styles whose page size is a query parameter (set to 1 for the probe).
SIZED = ("page", "offset", "cursor")


def shown(base_url: str) -> str:
    """The base URL as printed: without any user or password written into it."""
    parts = urlsplit(base_url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))


def _explain(backend: RestBackend, entity: Entity, error: ConnectorError) -> Problem:
    """The problem `error` shows, placed on the setting that fixes it."""
    where = backend.location
    base = shown(backend.settings.base_url)
    spec = backend.settings.entities[entity]
    request = f"{spec.list.method} {spec.list.path}"
    # One attempt: what went wrong is the last (only) attempt's error.
    cause = error.last if isinstance(error, RetriesExhaustedError) else error
    status = getattr(cause, "status", None)
    if status == 401:
        variable = backend.settings.token_env
        fix = (
            f"set {variable} to a valid API token of the ERP"
            if variable
            else f"name the variable that holds the ERP's API token in {where}.token_env"
        )
        return Problem(
            f"{where}.token_env",
            f"the ERP at {base} rejected the access token (HTTP 401 on {request}); {fix}",
        )
    if isinstance(cause, TransportError):
        return Problem(
            f"{where}.base_url",
            f"the ERP's API is not reachable at {base} ({cause}); check {where}.base_url and "
            "that the ERP is running",
        )
    if status == 403:
        return Problem(
            f"{where}.entities.{entity.value}.list",
            f"the ERP at {base} refused {request} (HTTP 403); give the token read access to "
            f"the ERP's {entity.value} records",
        )
    if status == 404:
        return Problem(
            f"{where}.entities.{entity.value}.list.path",
            f"the ERP at {base} has no {request} (HTTP 404); check "
            f"{where}.entities.{entity.value}.list.path and {where}.base_url",
        )
    return Problem(f"{where}.entities.{entity.value}.list", f"{request} at {base}: {error}")


async def probe(backend: RestBackend, entities: frozenset[Entity]) -> list[Problem]:
    """Problems found by reading one record of each entity's list; empty when all is well."""
    settings = backend.settings.model_copy(update={"max_attempts": 1})
    options = {**backend.client_options(), "registry": LimiterRegistry()}
    # Its own limiters: `/readyz` probes from the receiver's event loop (another thread), and
    # a few reads a minute need no share of the sync's budget.
    client = ApiClient(
        settings, name=backend.name, policy=ERP_REST_POLICY, auth=backend.auth, **options
    )
    problems: list[Problem] = []
    try:
        for entity in sorted(entities & frozenset(settings.entities)):
            spec = settings.entities[entity]
            size = {spec.pagination.size_param: 1} if spec.pagination.style in SIZED else {}
            try:
                response = await client.request(
                    spec.list.method,
                    spec.list.path,
                    params=size,
                    endpoint_class="read",
                    idempotent=True,
                )
                body = response.json()
                records_in(body, spec.records_path)
                if spec.records_path and body and native_value(body, spec.records_path) is None:
                    problems.append(
                        Problem(
                            f"{backend.location}.entities.{entity.value}.records_path",
                            f"the answer of {spec.list.method} {spec.list.path} has nothing at "
                            f"{spec.records_path!r}: set records_path to where its list of "
                            "records is ('' when the answer is the list itself)",
                        )
                    )
            except ConnectorError as error:
                problem = _explain(backend, entity, error)
                problems.append(problem)
                if not problem.location.endswith((".list", ".list.path")):
                    break  # the token or the address: every other entity would say the same
            except ValueError:
                problems.append(
                    Problem(
                        f"{backend.location}.entities.{entity.value}.list",
                        f"{spec.list.method} {spec.list.path} at {shown(settings.base_url)} "
                        "did not answer JSON; check the path and base_url",
                    )
                )
    finally:
        await client.aclose()
    return problems
