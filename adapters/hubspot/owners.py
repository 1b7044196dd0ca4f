"""Owner e-mail ↔ owner id: the `owner_email` pseudo-field of companies, contacts and deals.

`hubspot_owner_id` is an enumeration whose options are the portal's owners: a value that is not
an owner id is refused with `INVALID_OPTION` and fails the whole record (BEHAVIOR.md). The
canonical owner is an e-mail address, which is what an ERP knows of a sales rep, so the adapter
translates: reads fill `owner_email` from `hubspot_owner_id`, and a write of `owner_email`
becomes `hubspot_owner_id`. Mapping `hubspot_owner_id` directly still works, untranslated.

Owners come from `GET /crm/v3/owners` (owners guide,
https://developers.hubspot.com/docs/api-reference/crm-crm-owners-v3/guide): read-only, scope
`crm.objects.owners.read`, at most 500 a page, paged by `after`; `archived=true` returns only
the archived ones. The owner `id` is what `hubspot_owner_id` takes, not `userId`.

* An e-mail with no active owner is left out of the write (HubSpot keeps what it has; a create
  gets no owner), so the record still syncs, and the write reports the field as *unwritten*
  (`WriteResult.unwritten`) so the engine never records it as synced; the ERP keeps its value.
  It is logged once per adapter as a warning.
* An id whose owner is archived (a deactivated user: archived owners are listed too) still reads
  as that owner's e-mail: deactivating a rep in HubSpot changes no record. Only an id HubSpot
  does not list at all reads as no owner.
* When the owners cannot be listed (the token lacks the scope, an error), reads leave
  `owner_email` out (the owner field waits: the engine sees no value, not an empty one) and
  writes report it unwritten, so everything else still syncs; one warning says why, and the list
  is tried again after `owners_refresh_seconds`.

The list is loaded on first need and kept for the adapter's life. An id or e-mail it does not
know means a rep was added since, so it is reloaded, but at most once per
`owners_refresh_seconds` (default 300): a daemon that runs for weeks still learns new reps within
minutes, while a run meeting a hundred e-mails HubSpot will never know costs one extra listing,
not a hundred. A per-run rule would not do: the daemon keeps one adapter across runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connector.adapter import NativeRecord, NativeWrite
from connector.errors import ConnectorError
from connector.http import HttpConfigurationError
from connector.timestamps import MonotonicClock

from .client import HubSpotClient
from .objects import OWNER_EMAIL, OWNER_ID

log = logging.getLogger(__name__)

#: The scope the Owners API needs (its reference's "Scope requirements").
OWNERS_SCOPE = "crm.objects.owners.read"
#: The largest page the list allows.
OWNERS_PAGE = 500


@dataclass(frozen=True)
class Owner:
    id: str
    email: str | None
    archived: bool


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class OwnerDirectory:
    """The portal's owners by id and by e-mail, cached per adapter (see the module doc)."""

    def __init__(
        self, client: Callable[[], HubSpotClient], *, refresh_seconds: float, clock: MonotonicClock
    ) -> None:
        self._client = client
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._by_id: dict[str, Owner] = {}
        self._by_email: dict[str, Owner] = {}  # active owners only, by casefolded e-mail
        self._loaded_at: float | None = None
        # Pages and batches run concurrently: one listing serves every caller waiting on it.
        self._lock = asyncio.Lock()
        self._warned: set[str] = set()
        # Why the last listing failed, and when: callers then go without owners until a retry.
        self._failure: str | None = None
        self._failed_at: float | None = None
        self._failure_warned = False

    # -- lookups ----------------------------------------------------------------------------------

    async def emails_of(self, ids: Collection[str]) -> dict[str, str | None]:
        """Owner id → e-mail (archived owners too); None for one without e-mail or an unknown
        id. Raises what listing the owners raised."""
        wanted = {str(i) for i in ids if not _blank(i)}
        if not wanted:
            return {}
        await self._ensure(lambda: any(i not in self._by_id for i in wanted))
        found: dict[str, str | None] = {}
        for owner_id in wanted:
            owner = self._by_id.get(owner_id)
            found[owner_id] = None if owner is None else owner.email
        return found

    async def ids_of(self, emails: Collection[str]) -> dict[str, str | None]:
        """E-mail (as given) → the id of the active owner with that e-mail, matched
        case-insensitively; None when there is none."""
        wanted = {e for e in emails if not _blank(e)}
        if not wanted:
            return {}
        await self._ensure(lambda: any(_key(e) not in self._by_email for e in wanted))
        found: dict[str, str | None] = {}
        for email in wanted:
            owner = self._by_email.get(_key(email))
            found[email] = owner.id if owner is not None else None
        return found

    # -- the native shape -------------------------------------------------------------------------

    async def fill_emails(self, records: Sequence[NativeRecord]) -> list[NativeRecord]:
        """Adds `owner_email` to every live record that was read with `hubspot_owner_id`;
        leaves it out when the owners cannot be listed (the field waits)."""
        live = [r for r in records if not r.deleted and OWNER_ID in r.fields]
        if not live:
            return list(records)
        try:
            emails = await self.emails_of(
                [str(r.fields[OWNER_ID]) for r in live if r.fields[OWNER_ID]]
            )
        except ConnectorError as unavailable:
            self._note_unavailable(unavailable)
            return list(records)
        filled: list[NativeRecord] = []
        for record in records:
            if record.deleted or OWNER_ID not in record.fields:
                filled.append(record)
                continue
            owner_id = record.fields[OWNER_ID]
            email = None if _blank(owner_id) else emails.get(str(owner_id))
            fields = {**record.fields, OWNER_EMAIL: email}
            filled.append(NativeRecord(record.id, record.updated_at, fields, record.deleted))
        return filled

    async def to_owner_ids(
        self, writes: Sequence[NativeWrite]
    ) -> tuple[list[NativeWrite], dict[str, dict[str, str]], bool]:
        """Replaces `owner_email` in writes with `hubspot_owner_id`; also returns, by write key,
        the `owner_email` fields that could not be translated, with the reason, and whether
        that was only for now (the owners could not be listed).

        An empty e-mail clears the owner. An e-mail with no active owner is left out (and
        reported unwritten), with a warning the first time it is met; so is every e-mail while
        the owners cannot be listed. A write that also names `hubspot_owner_id` keeps that
        value: the property itself, mapped explicitly, wins over the translation.
        """
        unwritten: dict[str, dict[str, str]] = {}
        if not any(OWNER_EMAIL in w.fields for w in writes):
            return list(writes), unwritten, False
        emails = [
            str(w.fields[OWNER_EMAIL]).strip()
            for w in writes
            if OWNER_EMAIL in w.fields and not _blank(w.fields[OWNER_EMAIL])
        ]
        unavailable: str | None = None
        try:
            ids = await self.ids_of(emails)
        except ConnectorError as error:
            self._note_unavailable(error)
            ids, unavailable = {}, f"the owners could not be listed ({self._failure})"
        translated: list[NativeWrite] = []
        for write in writes:
            if OWNER_EMAIL not in write.fields:
                translated.append(write)
                continue
            fields = dict(write.fields)
            email = fields.pop(OWNER_EMAIL)
            if OWNER_ID not in fields:
                if _blank(email):
                    fields[OWNER_ID] = None  # sent as "", which clears it
                elif (owner_id := ids.get(str(email).strip())) is not None:
                    fields[OWNER_ID] = owner_id
                elif unavailable is not None:
                    unwritten[write.key] = {OWNER_EMAIL: unavailable}
                else:
                    self._warn_unknown(str(email).strip())
                    unwritten[write.key] = {
                        OWNER_EMAIL: f"HubSpot has no active owner with the e-mail {email}"
                    }
            translated.append(NativeWrite(write.key, write.external_id, fields))
        return translated, unwritten, unavailable is not None

    async def unknown_emails(self, emails: Collection[str]) -> list[str]:
        """The e-mails no active owner has (for `connector check`); raises when the owners
        cannot be listed."""
        ids = await self.ids_of(emails)
        return sorted(email for email, owner_id in ids.items() if owner_id is None)

    def _note_unavailable(self, error: ConnectorError) -> None:
        """One warning per failed listing; until the retry, callers go without owners."""
        if not self._failure_warned:
            self._failure_warned = True
            log.warning(
                "HubSpot owners could not be listed, so owner fields wait (not read, not "
                "written) while everything else syncs: %s",
                error,
            )

    def _warn_unknown(self, email: str) -> None:
        if _key(email) in self._warned:
            return
        self._warned.add(_key(email))
        log.warning(
            "HubSpot has no active owner with the e-mail %s: records naming it are written "
            "without an owner (HubSpot refuses a hubspot_owner_id that is not an owner id)",
            email,
        )

    # -- loading ----------------------------------------------------------------------------------

    async def reload(self) -> int:
        """Loads the owners now; returns how many active ones have an e-mail."""
        async with self._lock:
            await self._load()
            return len(self._by_email)

    async def _ensure(self, missing: Callable[[], bool]) -> None:
        async with self._lock:
            failed_at, failure = self._failed_at, self._failure
            recent = failed_at is not None and self._clock() - failed_at < self._refresh_seconds
            if self._loaded_at is None and failure and recent:
                raise ConnectorError(failure)
            if self._loaded_at is None:
                await self._load_or_note()
                return
            # Something is unknown: reload, unless the list is younger than the refresh period.
            if missing() and self._clock() - self._loaded_at >= self._refresh_seconds:
                try:
                    await self._load_or_note()
                except ConnectorError:
                    return  # the list we have stays good for what it knows

    async def _load_or_note(self) -> None:
        try:
            await self._load()
        except ConnectorError as error:
            self._failed_at = self._clock()
            self._failure = str(error)
            raise
        self._failed_at = self._failure = None
        self._failure_warned = False

    async def _load(self) -> None:
        """Every owner, active and archived; the cache is swapped only once all pages are in."""
        by_id: dict[str, Owner] = {}
        by_email: dict[str, Owner] = {}
        # Both lists at once: a run that writes owners waits one round trip for them, not two.
        listed = await asyncio.gather(self._list(False), self._list(True))
        for archived, items in zip((False, True), listed, strict=True):
            for item in items:
                owner_id = item.get("id")
                if owner_id in (None, ""):
                    continue
                email = item.get("email")
                owner = Owner(
                    id=str(owner_id),
                    email=str(email) if not _blank(email) else None,
                    archived=bool(item.get("archived", archived)),
                )
                by_id.setdefault(owner.id, owner)
                if owner.email is not None and not owner.archived:
                    by_email.setdefault(_key(owner.email), owner)
        self._by_id, self._by_email = by_id, by_email
        self._loaded_at = self._clock()

    async def _list(self, archived: bool) -> list[Mapping[str, Any]]:
        client = self._client()
        params = {"limit": str(OWNERS_PAGE), "archived": str(archived).lower()}
        found: list[Mapping[str, Any]] = []
        try:
            async for page in client.pages("GET", client.paths.owners(), params=params):
                found.extend(i for i in page.get("results") or [] if isinstance(i, Mapping))
        except HttpConfigurationError as refused:
            if refused.status == 403:
                raise HttpConfigurationError(
                    f"HubSpot refused the owners list: the token lacks the scope "
                    f"{OWNERS_SCOPE}, which translating owner e-mails (the mapping's "
                    f"`{OWNER_EMAIL}` field) needs; add the scope to the app, or map "
                    f"`{OWNER_ID}` instead ({refused})",
                    status=403,
                    code=refused.code,
                ) from None
            raise
        return found


def _key(email: str) -> str:
    return email.strip().casefold()
