"""`connector salesforce setup --create`: create missing custom fields and let the user see them.

1. Each missing custom field is created with one Tooling API call,
   `POST /services/data/vXX.X/tooling/sobjects/CustomField/` with `{"FullName": "Object.Name__c",
   "Metadata": {label, type, length | precision/scale | valueSet, externalId, unique}}` (Tooling
   API object reference, CustomField: `FullName` and `Metadata` are the createable fields).
2. A field created so is visible to no profile: field-level security is not part of that call.
   So the integration user gets a permission set, `Connector_Integration` (found by name or
   created), assigned to it, with one `FieldPermissions` row (`PermissionsRead`,
   `PermissionsEdit`) per field created or found not writable (object reference,
   FieldPermissions: "associate a FieldPermissions record with a PermissionSet that's assigned
   to a user"). People who should see the fields in the UI need the same permission set (or
   their profile's field-level security), which the command prints.

Needs "Customize Application" and "Manage Profiles and Permission Sets" on the integration user;
without them Salesforce's refusal is reported as it words it, with what to grant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from connector.errors import ConnectorError

from . import soql
from .client import SalesforceClient
from .setup import Finding

PERMISSION_SET = "Connector_Integration"
PERMISSION_SET_LABEL = "Connector integration"
#: What a create of an existing field answers. Not documented: `DUPLICATE_VALUE` was seen for a
#: Tooling create of an existing name (django-salesforce PR #57); `DUPLICATE_DEVELOPER_NAME` is
#: what Salesforce answers for an existing developer name elsewhere. Both mean "it exists".
DUPLICATE = frozenset({"DUPLICATE_VALUE", "DUPLICATE_DEVELOPER_NAME"})


@dataclass
class Created:
    """What `create` did, line by line, and what it could not do."""

    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


async def create(client: SalesforceClient, findings: Sequence[Finding]) -> Created:
    """Create the missing custom fields of `findings` and grant the integration user access."""
    outcome = Created()
    grant: list[tuple[str, str]] = []
    for finding in findings:
        if finding.create is not None:
            full_name = str(finding.create["FullName"])
            try:
                answer = await client.call(
                    "POST", "/tooling/sobjects/CustomField/", json=dict(finding.create)
                )
            except ConnectorError as error:
                if getattr(error, "code", None) not in DUPLICATE:
                    outcome.failed.append(f"{full_name}: not created: {_refusal(error)}")
                    continue
                # It exists already, only without access for us: granting access fixes it.
                outcome.done.append(f"{full_name}: exists (not visible to the integration user)")
            else:
                outcome.done.append(f"{full_name}: created (id {(answer or {}).get('id')})")
            grant.append((finding.sobject, finding.field))
        elif finding.grant:
            grant.append((finding.sobject, finding.field))
    if grant:
        try:
            outcome.done += await _grant(client, grant)
        except ConnectorError as error:
            outcome.failed.append(f"field-level security not granted: {_refusal(error)}")
    return outcome


async def _grant(client: SalesforceClient, fields: Sequence[tuple[str, str]]) -> list[str]:
    """Read + Edit on `fields` through the connector's permission set, assigned to us."""
    user = client.user_id
    if user is None:
        raise ConnectorError("the token did not say which user it belongs to (no identity URL)")
    done: list[str] = []
    found = await _rows(
        client, f"SELECT Id FROM PermissionSet WHERE Name = {soql.quote(PERMISSION_SET)}"
    )
    if found:
        permission_set = str(found[0]["Id"])
    else:
        answer = await client.call(
            "POST",
            "/sobjects/PermissionSet",
            json={"Name": PERMISSION_SET, "Label": PERMISSION_SET_LABEL},
        )
        permission_set = str(answer["id"])
        done.append(f"permission set {PERMISSION_SET}: created")
    assigned = await _rows(
        client,
        "SELECT Id FROM PermissionSetAssignment WHERE "
        f"AssigneeId = {soql.quote(user)} AND PermissionSetId = {soql.quote(permission_set)}",
    )
    if not assigned:
        await client.call(
            "POST",
            "/sobjects/PermissionSetAssignment",
            json={"AssigneeId": user, "PermissionSetId": permission_set},
        )
        done.append(f"permission set {PERMISSION_SET}: assigned to the integration user")
    existing = await _rows(
        client,
        "SELECT Id, Field, PermissionsEdit FROM FieldPermissions WHERE "
        f"ParentId = {soql.quote(permission_set)}",
    )
    have = {str(row["Field"]).lower(): row for row in existing}
    for sobject, name in fields:
        full = f"{sobject}.{name}"
        row = have.get(full.lower())
        if row is not None and row.get("PermissionsEdit"):
            continue
        values = {"PermissionsRead": True, "PermissionsEdit": True}
        if row is not None:
            await client.call("PATCH", f"/sobjects/FieldPermissions/{row['Id']}", json=values)
        else:
            await client.call(
                "POST",
                "/sobjects/FieldPermissions",
                json={"ParentId": permission_set, "SobjectType": sobject, "Field": full, **values},
            )
        done.append(f"{full}: Read and Edit granted through {PERMISSION_SET}")
    return done


async def _rows(client: SalesforceClient, text: str) -> list[dict[str, object]]:
    return [row async for row in client.query(text)]


def _refusal(error: ConnectorError) -> str:
    """Salesforce's words, and what to grant when it is a permission refusal."""
    text = str(getattr(error, "last", None) or error)
    status = getattr(error, "status", None)
    if status == 403 or "INSUFFICIENT_ACCESS" in text:
        return (
            f'{text} — the integration user needs the "Customize Application" and "Manage '
            'Profiles and Permission Sets" permissions to create fields and grant access; or '
            "create them in Setup → Object Manager as printed without --create"
        )
    return text
