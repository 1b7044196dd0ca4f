"""Outbound Messages: Salesforce's SOAP change notifications, turned into change hints.

Facts from salesforce.md §6.1: a `notifications` element (namespace
`http://soap.sforce.com/2005/09/outbound`) with `OrganizationId`, `ActionId`, and 1 to 100
`Notification`s, each an `Id` (the notification's, `04l…`) and an `sObject` whose `xsi:type`
names the object and whose `sf:Id` is the record. Delivery is at least once and out of order,
retried for 24 hours until the endpoint answers `<Ack>true</Ack>`; only the latest data is sent.
So the receiver checks the OrganizationId against the configured org (there is no signature),
keys inbox events by notification id (a redelivery is a duplicate), treats each as a hint to
re-read the record, and acknowledges only after the inbox commit (the daemon's receiver does
that for any `AcknowledgingVerifier`). A message for another org is refused with a 403, so it is
never acknowledged.

Change Data Capture (Pub/Sub API over gRPC, §6.2) is the alternative with replay and gap
events; it needs a long-running gRPC subscriber and an event allocation, so it is not the
default (BEHAVIOR.md).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from connector.adapter import ChangeHint, WebhookRequest
from connector.errors import WebhookRejected
from connector.model import Entity

from .ids import is_record_id, to18

OUTBOUND = "{http://soap.sforce.com/2005/09/outbound}"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
SOBJECT_NS = "{urn:sobject.enterprise.soap.sforce.com}"
MAX_NOTIFICATIONS = 100
ENTITIES = {"Account": Entity.CUSTOMER, "Contact": Entity.CONTACT, "Opportunity": Entity.SALE}
ACK = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soapenv:Body>"
    b'<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    b"<Ack>true</Ack></notificationsResponse>"
    b"</soapenv:Body></soapenv:Envelope>"
)


class OutboundMessageVerifier:
    """Parses a delivery, checks the org, and names the records it says changed."""

    content_types = frozenset({"text/xml", "application/soap+xml"})

    def __init__(self, organization_id: str, *, max_body_bytes: int = 1_000_000) -> None:
        self.organization_id = to18(organization_id)
        self.max_body_bytes = max_body_bytes

    def acknowledgement(self) -> tuple[bytes, str]:
        return ACK, "text/xml"

    def verify(self, request: WebhookRequest) -> list[ChangeHint]:
        body = request.body
        if len(body) > self.max_body_bytes:
            raise WebhookRejected(413, "body too large")
        if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
            raise WebhookRejected(400, "document type declarations are not accepted")
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            raise WebhookRejected(400, "body is not well-formed XML") from None
        notifications = root.find(f".//{OUTBOUND}notifications")
        if notifications is None:
            raise WebhookRejected(400, "no notifications element")
        org = (notifications.findtext(f"{OUTBOUND}OrganizationId") or "").strip()
        if not is_record_id(org) or to18(org) != self.organization_id:
            raise WebhookRejected(403, "notification from another organization")
        items = notifications.findall(f"{OUTBOUND}Notification")
        if not items or len(items) > MAX_NOTIFICATIONS:
            raise WebhookRejected(400, f"1 to {MAX_NOTIFICATIONS} notifications expected")
        hints = []
        for item in items:
            notification_id = (item.findtext(f"{OUTBOUND}Id") or "").strip()
            sobject = item.find(f"{OUTBOUND}sObject")
            if not notification_id or sobject is None:
                raise WebhookRejected(400, "a notification lacks its Id or sObject")
            kind = (sobject.get(XSI_TYPE) or "").split(":")[-1]
            record_id = (sobject.findtext(f"{SOBJECT_NS}Id") or "").strip()
            entity = ENTITIES.get(kind)
            if entity is None:
                continue  # an object the connector does not sync: acknowledged, ignored
            if not is_record_id(record_id):
                raise WebhookRejected(400, "a notification's record id is malformed")
            hints.append(ChangeHint(entity, to18(record_id), notification_id))
        return hints
