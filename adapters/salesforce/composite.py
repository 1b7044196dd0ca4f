"""Many REST subrequests in as few `POST /composite` calls as Salesforce allows.

Facts (salesforce.md §2.4, §4.4): a Composite request holds at most 25 subrequests, of which at
most 5 may be query or sObject Collections operations (the 5 from a secondary source; we keep
to it), and the whole series counts as **one** API call. The answer is 200 either way, with one
`{body, httpStatusCode, referenceId}` per subrequest: each subrequest succeeds or fails on its
own under `allOrNone: false`, which is what the adapter sends. `collateSubrequests: false` keeps
them in request order (collating may reorder independent ones, §2.4).

A failed subrequest becomes a `RecordError` for whatever the caller put in it: retryable when
Salesforce was unavailable, a row was locked, or the subrequest was only halted by another's
failure; otherwise record-level with Salesforce's code and message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from connector.errors import RecordError

from .client import SalesforceClient
from .errors import LOCKED, MAX_MESSAGE_CHARS, ROLLED_BACK

MAX_SUBREQUESTS = 25
MAX_QUERY_OR_COLLECTIONS = 5
_BULK_KIND = re.compile(r"^/(query|queryAll)(/|\?|$)|^/composite/sobjects(/|\?|$)")


@dataclass(frozen=True)
class Subrequest:
    method: str
    #: Under the data path, e.g. `/composite/sobjects?ids=…`.
    path: str
    body: Any = None

    @property
    def limited(self) -> bool:
        """Query and Collections subrequests: at most 5 a call."""
        return bool(_BULK_KIND.match(self.path))


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self) -> RecordError:
        """The subrequest's failure as a record-level error (call only when not `ok`)."""
        entry: dict[str, Any] = {}
        if isinstance(self.body, list) and self.body and isinstance(self.body[0], dict):
            entry = self.body[0]
        code = str(entry.get("errorCode") or entry.get("statusCode") or f"HTTP_{self.status}")
        message = str(entry.get("message") or "subrequest failed")
        retryable = self.status >= 500 or code == LOCKED or code in ROLLED_BACK
        return RecordError(f"{code}: {message}"[:MAX_MESSAGE_CHARS], code=code, retryable=retryable)


def pack(subrequests: Sequence[Subrequest]) -> list[list[Subrequest]]:
    """Consecutive groups within both limits, in order: the fewest calls for this order."""
    calls: list[list[Subrequest]] = []
    current: list[Subrequest] = []
    limited = 0
    for sub in subrequests:
        if current and (
            len(current) == MAX_SUBREQUESTS or (sub.limited and limited == MAX_QUERY_OR_COLLECTIONS)
        ):
            calls.append(current)
            current, limited = [], 0
        current.append(sub)
        limited += sub.limited
    if current:
        calls.append(current)
    return calls


async def send(client: SalesforceClient, subrequests: Sequence[Subrequest]) -> list[Answer]:
    """Every subrequest's answer, in order. Not repeated after a lost answer (a create in it
    would be made twice): callers that can redo their work from a fresh read do so."""
    answers: list[Answer] = []
    for group in pack(subrequests):
        items = []
        for number, sub in enumerate(group):
            item: dict[str, Any] = {
                "method": sub.method,
                "url": f"{client.data}{sub.path}",
                "referenceId": f"r{number}",
            }
            if sub.body is not None:
                item["body"] = sub.body
            items.append(item)
        body = await client.call(
            "POST",
            "/composite",
            json={"allOrNone": False, "collateSubrequests": False, "compositeRequest": items},
            idempotent=False,
        )
        by_reference = {
            str(entry.get("referenceId")): entry
            for entry in (body or {}).get("compositeResponse") or []
        }
        for number in range(len(group)):
            entry = by_reference.get(f"r{number}")
            if entry is None:
                missing = {"errorCode": "MISSING_RESULT", "message": "no answer for it"}
                answers.append(Answer(500, [missing]))
            else:
                answers.append(Answer(int(entry.get("httpStatusCode") or 500), entry.get("body")))
    return answers
