"""Outgoing Outbound Messages: the sandbox notifies a configured URL of records a sales rep
changed, as a workflow rule with an Outbound Message action would (salesforce.md §6.1).

Changes made by the integration user are not sent: the usual rule criteria exclude the
integration's own edits, which is also what keeps a two-way sync from notifying itself. Each
delivery is a SOAP `notifications` envelope of up to 100 `Notification`s; it is retried with
growing pauses (capped at `max_pause_seconds`; Salesforce's reach two hours) until the endpoint
answers HTTP 200 with `<Ack>true</Ack>`, and dropped after `give_up_seconds` (24 hours there).
A redelivery keeps its notification ids.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import httpx

MAX_PER_MESSAGE = 100


#: Where the message tells the receiver to call back (SOAP API); nothing here answers it.
CALLBACK = "https://sandbox.invalid/services/Soap"


def envelope(org_id: str, notifications: Sequence[tuple[str, str, str]]) -> bytes:
    """A `notifications` SOAP envelope: (notification id, sObject type, record id) each, with
    the elements the Outbound Messaging WSDL lists in its order: OrganizationId, ActionId,
    SessionId (nil: no session is sent), EnterpriseUrl, PartnerUrl, 1-100 Notification
    (SOAP API Developer Guide, "Understanding the Outbound Messaging WSDL")."""
    items = "".join(
        f"<Notification><Id>{escape(nid)}</Id>"
        f'<sObject xsi:type="sf:{escape(kind)}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>{escape(rid)}</sf:Id></sObject></Notification>"
        for nid, kind, rid in notifications
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{escape(org_id)}</OrganizationId>"
        "<ActionId>04k000000000001AAA</ActionId>"
        '<SessionId xsi:nil="true"/>'
        f"<EnterpriseUrl>{CALLBACK}/c/62.0/{escape(org_id)}</EnterpriseUrl>"
        f"<PartnerUrl>{CALLBACK}/u/62.0/{escape(org_id)}</PartnerUrl>"
        f"{items}</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


@dataclass
class Sender:
    url: str | None
    org_id: str
    objects: frozenset[str] = frozenset({"Account", "Contact", "Opportunity"})
    max_pause_seconds: float = 5.0
    give_up_seconds: float = 600.0
    queue: list[tuple[str, str, str, float]] = field(default_factory=list)
    delivered: int = 0
    attempts: int = 0
    _wake: asyncio.Event | None = None

    def notify(self, sobject: str, record_id: str) -> None:
        if self.url is None or sobject not in self.objects:
            return
        notification = "04l" + secrets.token_hex(6)[:12] + "AAA"
        self.queue.append((notification, sobject, record_id, time.monotonic()))
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled (started by the app's lifespan)."""
        self._wake = asyncio.Event()
        pause = 0.2
        async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
            while True:
                if not self.queue:
                    self._wake.clear()
                    await self._wake.wait()
                batch = self.queue[:MAX_PER_MESSAGE]
                self.attempts += 1
                try:
                    answer = await http.post(
                        self.url or "",
                        content=envelope(self.org_id, [(n, k, r) for n, k, r, _ in batch]),
                        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
                    )
                    acknowledged = (
                        answer.status_code == 200 and b"<Ack>true</Ack>" in answer.content
                    )
                except httpx.HTTPError:
                    acknowledged = False
                if acknowledged:
                    del self.queue[: len(batch)]
                    self.delivered += len(batch)
                    pause = 0.2
                    continue
                now = time.monotonic()
                self.queue = [q for q in self.queue if now - q[3] < self.give_up_seconds]
                await asyncio.sleep(pause)
                pause = min(pause * 2, self.max_pause_seconds)
