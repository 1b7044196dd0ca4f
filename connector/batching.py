"""Splitting work into batches: fixed-size chunks, and bisecting a batch the server refused whole.

Many batch APIs reject a whole request for one bad item (HubSpot's batch endpoints, Salesforce's
`allOrNone` requests, REST ERPs); `bisect_batch` halves the batch until the bad item fails alone,
so its neighbours still go through. Costs at most 2·log2(n) extra calls per bad item.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterator, Mapping, Sequence
from typing import TypeVar

from connector.errors import RecordError

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` items (the last one may be shorter)."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def bisect_batch(
    items: Sequence[T],
    send: Callable[[Sequence[T]], Awaitable[Mapping[K, R]]],
    failed: Callable[[T, RecordError], Mapping[K, R]],
) -> dict[K, R]:
    """`send(items)`; if the whole batch is refused with a `RecordError`, halve and retry each
    half, down to single items, which get `failed(item, error)` as their result."""
    try:
        return dict(await send(items))
    except RecordError as error:
        if len(items) <= 1:
            return dict(failed(items[0], error)) if items else {}
        middle = len(items) // 2
        first = await bisect_batch(items[:middle], send, failed)
        return {**first, **await bisect_batch(items[middle:], send, failed)}
