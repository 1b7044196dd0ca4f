"""A psycopg connection that gives up on a reply that does not come, instead of waiting forever.

psycopg 3 runs every blocking exchange of a connection through `Connection.wait` (statements,
commit, rollback), which takes a `timeout` (psycopg 3.3, the version required) and raises
`_WaitTimeout` when it passes. This subclass passes its deadline on every call; when it passes,
the protocol is mid-exchange and the connection unusable, so it is closed and an
`OperationalError` raised — SQLAlchemy's psycopg dialect counts a closed connection as a
disconnect and drops it from the pool. Imported only for PostgreSQL stores.
"""

from __future__ import annotations

from typing import Any, TypeVar

import psycopg
from psycopg import errors
from psycopg.abc import PQGen

RV = TypeVar("RV")
_WAIT_INTERVAL = 0.1  # as psycopg's own: how often a wait wakes to let signals in


class DeadlineConnection(psycopg.Connection[Any]):
    reply_seconds: float | None = None

    def wait(
        self, gen: PQGen[RV], interval: float = _WAIT_INTERVAL, timeout: float | None = None
    ) -> RV:
        limit = self.reply_seconds if timeout is None else timeout
        try:
            return super().wait(gen, interval, limit)
        except errors._WaitTimeout:
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"the state store did not answer within {limit:g} s"
            ) from None


def connect_with_deadline(reply_seconds: float, *args: Any, **kwargs: Any) -> DeadlineConnection:
    connection = DeadlineConnection.connect(*args, **kwargs)
    connection.reply_seconds = reply_seconds
    return connection
