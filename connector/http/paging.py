"""Pagination as a small family of classes: how to ask for the next page, and when to stop.

A `Paginator` looks at one answer (its JSON body and headers) and returns the request for the
next page, or None after the last. `paginate` drives any of them over a `fetch` function, so an
adapter writes its paging style as one constructor call instead of a `while` loop:

* `JsonCursor` — an opaque cursor in the body, sent back as a parameter (HubSpot's
  `paging.next.after`, many REST ERPs' `next_cursor`);
* `JsonNextUrl` — the body names the next page's path (Salesforce's `nextRecordsUrl`);
* `LinkHeader` — RFC 8288 `Link: <…>; rel="next"` (GitHub-style APIs);
* `Offset` — `offset`/`limit` parameters, stopping on a short page or at a total;
* `PageNumber` — `page=1, 2, …`, stopping on an empty or short page;
* `SinglePage` — no paging at all.

Next-page targets taken from an answer must stay under the client's `base_url` (same scheme,
host and path prefix) and come back as paths relative to it: a URL elsewhere would carry our
token there, so it is refused with a `ConfigurationError`.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from connector.errors import ConfigurationError


@dataclass(frozen=True)
class PageRequest:
    """One page's request: path, query parameters and (for POST-style paging) a JSON body."""

    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None


@dataclass(frozen=True)
class PageAnswer:
    """What came back for one page (`url`: the URL that answered, for relative links)."""

    body: Any
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    url: str | None = None


Fetch = Callable[[PageRequest], Awaitable[PageAnswer]]


def dig(body: Any, path: Sequence[str]) -> Any:
    """`body[path[0]][path[1]]…`, or None where anything along the way is missing."""
    for key in path:
        if not isinstance(body, Mapping):
            return None
        body = body.get(key)
    return body


def relative_path(target: str, base_url: str | None = None) -> str:
    """`target` as a path relative to `base_url`; `ConfigurationError` if it leaves it.

    A host-relative target (`/services/…`) is taken as it is when no `base_url` is given."""
    parts = urlsplit(target)
    query = f"?{parts.query}" if parts.query else ""
    if base_url is None:
        if parts.scheme or parts.netloc or not target.startswith("/"):
            raise ConfigurationError("next page points outside base_url; not followed")
        return target
    base = urlsplit(base_url.rstrip("/"))
    if (parts.scheme or parts.netloc) and (parts.scheme, parts.netloc) != (
        base.scheme,
        base.netloc,
    ):
        raise ConfigurationError("next page points outside base_url; not followed")
    prefix = base.path
    if prefix and not parts.path.startswith(prefix + "/"):
        raise ConfigurationError("next page points outside base_url; not followed")
    return parts.path[len(prefix) :] + query


def request_for(path_and_query: str) -> PageRequest:
    """A next-page target as a request: its query string becomes the parameters (the shared
    client sends a path and parameters separately)."""
    path, _, query = path_and_query.partition("?")
    return PageRequest(path, dict(httpx.QueryParams(query)))


class Paginator(abc.ABC):
    """Decides the next request from the last answer."""

    @abc.abstractmethod
    def next_request(self, request: PageRequest, answer: PageAnswer) -> PageRequest | None:
        """The request for the page after `answer`, or None if it was the last."""


class JsonCursor(Paginator):
    """The next page's cursor is at `cursor_path` in the body; it goes back as `param` (in the
    query string, or in the JSON body when `in_body`)."""

    def __init__(self, cursor_path: Sequence[str], param: str, *, in_body: bool = False) -> None:
        self.cursor_path = tuple(cursor_path)
        self.param = param
        self.in_body = in_body

    def next_request(self, request: PageRequest, answer: PageAnswer) -> PageRequest | None:
        cursor = dig(answer.body, self.cursor_path)
        if cursor in (None, ""):
            return None
        if self.in_body:
            return replace(request, json={**(request.json or {}), self.param: cursor})
        return replace(request, params={**request.params, self.param: str(cursor)})


class JsonNextUrl(Paginator):
    """The body names the next page's path at `url_path`; `done_path` true means the end."""

    def __init__(
        self,
        url_path: Sequence[str],
        *,
        done_path: Sequence[str] | None = None,
        base_url: str | None = None,
    ) -> None:
        self.url_path = tuple(url_path)
        self.done_path = tuple(done_path) if done_path else None
        self.base_url = base_url

    def next_request(self, request: PageRequest, answer: PageAnswer) -> PageRequest | None:
        if self.done_path is not None and dig(answer.body, self.done_path) is True:
            return None
        target = dig(answer.body, self.url_path)
        if not isinstance(target, str) or not target:
            return None
        # The next URL carries its own query string: earlier parameters must not be re-sent.
        return request_for(relative_path(target, self.base_url))


class LinkHeader(Paginator):
    """RFC 8288 `Link` header with `rel="next"`."""

    def __init__(self, *, rel: str = "next", base_url: str | None = None) -> None:
        self.rel = rel
        self.base_url = base_url

    def next_request(self, request: PageRequest, answer: PageAnswer) -> PageRequest | None:
        links = httpx.Response(200, headers=answer.headers).links
        target = links.get(self.rel, {}).get("url")
        if not target:
            return None
        if answer.url is not None:
            target = str(httpx.URL(answer.url).join(target))  # targets may be relative
        return request_for(relative_path(target, self.base_url))


class Offset(Paginator):
    """`offset`/`limit` parameters; stops on a page shorter than `limit` or at `total_path`."""

    def __init__(
        self,
        limit: int,
        *,
        items_path: Sequence[str],
        offset_param: str = "offset",
        limit_param: str = "limit",
        total_path: Sequence[str] | None = None,
    ) -> None:
        self.limit = limit
        self.items_path = tuple(items_path)
        self.offset_param = offset_param
        self.limit_param = limit_param
        self.total_path = tuple(total_path) if total_path else None

    def first(self, request: PageRequest) -> PageRequest:
        params = {**request.params, self.offset_param: 0, self.limit_param: self.limit}
        return replace(request, params=params)

    def next_request(self, request: PageRequest, answer: PageAnswer) -> PageRequest | None:
        items = dig(answer.body, self.items_path) or []
        offset = int(request.params.get(self.offset_param, 0)) + len(items)
        total = dig(answer.body, self.total_path) if self.total_path else None
        if len(items) < self.limit or (isinstance(total, int) and offset >= total):
            return None
        return replace(request, params={**request.params, self.offset_param: offset})


class PageNumber(Paginator):
    """`page=start, start+1, …`; stops on an empty page, or a short one when `size` is known."""

    def __init__(
        self,
        *,
        items_path: Sequence[str],
        param: str = "page",
        start: int = 1,
        size: int | None = None,
    ) -> None:
        self.items_path = tuple(items_path)
        self.param = param
        self.start = start
        self.size = size

    def first(self, request: PageRequest) -> PageRequest:
        return replace(request, params={**request.params, self.param: self.start})

    def next_request(self, request: PageRequest, answer: PageAnswer) -> PageRequest | None:
        items = dig(answer.body, self.items_path) or []
        if not items or (self.size is not None and len(items) < self.size):
            return None
        page = int(request.params.get(self.param, self.start)) + 1
        return replace(request, params={**request.params, self.param: page})


class SinglePage(Paginator):
    """Everything comes in one answer."""

    def next_request(self, request: PageRequest, answer: PageAnswer) -> PageRequest | None:
        return None


async def paginate(
    fetch: Fetch, first: PageRequest, paginator: Paginator, *, max_pages: int | None = None
) -> AsyncIterator[PageAnswer]:
    """Every page's answer, in order, until the paginator says the last one came."""
    starter = getattr(paginator, "first", None)
    request: PageRequest | None = starter(first) if starter is not None else first
    pages = 0
    while request is not None:
        answer = await fetch(request)
        yield answer
        pages += 1
        if max_pages is not None and pages >= max_pages:
            return
        request = paginator.next_request(request, answer)
