"""A read's pages taken in a worker thread, the read's end learnt with its last page.

`ErpGenericAdapter.read_changes` takes each next page in a thread while the engine maps the
one it has. Asking the page iterator for a page after the last one was a thread hop of its own
(`asyncio.to_thread`: ~70 µs of CPU, 2026-12-06) that a run reading one short page — a run
with nothing or almost nothing to do, the common case of a daemon's runs — paid for nothing.
Every reader here pages by `page_size` and gives a page shorter than that only at the end (a
keyset query that found fewer rows; `islice` of an exhausted stream), so after a short page the
iterator is asked again in the same thread call: the read's end (or, were a reader ever to go
on, its next page, held for the next call) comes back with the last page.
"""

from __future__ import annotations

from collections.abc import Iterator

from connector.adapter import NativeRecord


class PageTaker:
    """`take` the next page of `pages` (None at the end); `ended`: no page is left."""

    def __init__(self, pages: Iterator[list[NativeRecord]], page_size: int) -> None:
        self.pages = pages
        self.page_size = page_size
        self.ended = False
        self._held: list[NativeRecord] | None = None

    def take(self) -> list[NativeRecord] | None:
        """The next page, or None when there is none (run in a worker thread)."""
        page, self._held = self._held, None
        if page is None and not self.ended:
            page = next(self.pages, None)
        if page is None:
            self.ended = True
            return None
        if len(page) < self.page_size:
            self._held = next(self.pages, None)
            self.ended = self._held is None
        return page
