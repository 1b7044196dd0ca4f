"""Owner e-mail → user id for writes (reads get `Owner.Email` from the query itself).

`OwnerId` takes a User id; what an ERP knows of a sales rep is an e-mail. User.Email is not
unique in Salesforce (two users, say a rep and their admin alias, may share one), so the oldest
active user with the address wins, deterministically. An e-mail no active user has is left out
of the write (Salesforce keeps the current owner; a create is owned by the integration user) and
logged once, so the record still syncs. Lookups are cached for the adapter's life, misses too,
but a miss is asked again after `refresh_seconds` (a new rep gets a user).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from connector.adapter import NativeWrite
from connector.batching import chunked
from connector.timestamps import MonotonicClock

from .client import SalesforceClient
from .soql import in_list, select

log = logging.getLogger(__name__)
IN_CHUNK = 100


class OwnerDirectory:
    def __init__(
        self,
        client: Callable[[], SalesforceClient],
        *,
        refresh_seconds: float = 300.0,
        clock: MonotonicClock = time.monotonic,
    ) -> None:
        self._client = client
        self._refresh = refresh_seconds
        self._clock = clock
        self._ids: dict[str, str | None] = {}
        self._asked: dict[str, float] = {}
        self._warned: set[str] = set()

    async def user_ids(self, emails: Sequence[str]) -> dict[str, str | None]:
        now = self._clock()
        wanted = sorted(
            {
                e.casefold()
                for e in emails
                if e.casefold() not in self._ids
                or (
                    self._ids[e.casefold()] is None
                    and now - self._asked[e.casefold()] > self._refresh
                )
            }
        )
        for batch in chunked(wanted, IN_CHUNK):
            soql = (
                f"{select(['Id', 'Email'], 'User')} WHERE IsActive = true AND "
                f"{in_list('Email', list(batch))} ORDER BY CreatedDate, Id"
            )
            found: dict[str, str] = {}
            async for row in self._client().query(soql):
                found.setdefault(str(row["Email"]).casefold(), str(row["Id"]))
            for email in batch:
                self._ids[email] = found.get(email)
                self._asked[email] = now
        return {e: self._ids.get(e.casefold()) for e in emails}

    async def to_owner_ids(self, writes: Sequence[NativeWrite]) -> list[NativeWrite]:
        """Writes with `Owner: {Email}` replaced by `OwnerId` (or dropped when unknown)."""
        emails = [e for w in writes if (e := _owner_email(w.fields)) is not None]
        if not emails:
            return [_without_owner(w) if "Owner" in w.fields else w for w in writes]
        ids = await self.user_ids(emails)
        out = []
        for write in writes:
            email = _owner_email(write.fields)
            fields = {k: v for k, v in write.fields.items() if k != "Owner"}
            if email is not None:
                user = ids.get(email)
                if user is not None:
                    fields["OwnerId"] = user
                elif email.casefold() not in self._warned:
                    self._warned.add(email.casefold())
                    log.warning("no active Salesforce user has the e-mail %s; owner not set", email)
            out.append(NativeWrite(write.key, write.external_id, fields))
        return out


def _owner_email(fields: Mapping[str, Any]) -> str | None:
    owner = fields.get("Owner")
    email = owner.get("Email") if isinstance(owner, Mapping) else None
    return str(email).strip() if email not in (None, "") else None


def _without_owner(write: NativeWrite) -> NativeWrite:
    fields = {k: v for k, v in write.fields.items() if k != "Owner"}
    return NativeWrite(write.key, write.external_id, fields)
