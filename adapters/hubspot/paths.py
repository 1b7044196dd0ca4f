"""Every HubSpot endpoint path in one place.

HubSpot is moving from semantic paths (`/crm/v3/objects/...`, `/crm/v4/associations/...`) to
date-based versions (`/crm/objects/2026-03/...`, `/crm/associations/2026-03/...`); the bodies are
the same, only the prefix changes (hubspot.md "Versioning"). `ApiPaths(version)` makes the move a
configuration switch: `"v3"` for the legacy paths, a `YYYY-MM` string for a dated version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

_DATED = re.compile(r"^\d{4}-(03|09)$")


def _seg(value: str) -> str:
    return quote(value, safe="")


@dataclass(frozen=True)
class ApiPaths:
    """Builds request paths for one API version (`"v3"` or e.g. `"2026-03"`)."""

    version: str = "v3"
    oauth_token_path: str = "/oauth/v1/token"

    def __post_init__(self) -> None:
        if self.version != "v3" and not _DATED.match(self.version):
            raise ValueError(
                f"unknown HubSpot API version {self.version!r}: use 'v3' or a dated version "
                "such as '2026-03'"
            )

    @property
    def dated(self) -> bool:
        return self.version != "v3"

    # -- objects -----------------------------------------------------------------------------

    def objects(self, object_type: str) -> str:
        if self.dated:
            return f"/crm/objects/{self.version}/{_seg(object_type)}"
        return f"/crm/v3/objects/{_seg(object_type)}"

    def object(self, object_type: str, object_id: str) -> str:
        return f"{self.objects(object_type)}/{_seg(object_id)}"

    def batch(self, object_type: str, operation: str) -> str:
        """`operation` is one of read, create, update, upsert, archive."""
        return f"{self.objects(object_type)}/batch/{operation}"

    def search(self, object_type: str) -> str:
        return f"{self.objects(object_type)}/search"

    # -- associations (v4 semantics) ------------------------------------------------------------

    def association_batch(self, from_type: str, to_type: str, operation: str) -> str:
        """`operation`: create, read, archive, labels/archive, associate/default."""
        prefix = f"/crm/associations/{self.version}" if self.dated else "/crm/v4/associations"
        return f"{prefix}/{_seg(from_type)}/{_seg(to_type)}/batch/{operation}"

    # -- properties -----------------------------------------------------------------------------

    def properties(self, object_type: str) -> str:
        if self.dated:
            return f"/crm/properties/{self.version}/{_seg(object_type)}"
        return f"/crm/v3/properties/{_seg(object_type)}"

    def property_groups(self, object_type: str) -> str:
        return f"{self.properties(object_type)}/groups"

    # -- owners (read-only) ------------------------------------------------------------------------

    def owners(self) -> str:
        """The owners list. The dated form follows the other APIs' pattern; HubSpot's owners
        guide shows only `/crm/v3/owners`."""
        if self.dated:
            return f"/crm/owners/{self.version}"
        return "/crm/v3/owners"

    def owner(self, owner_id: str) -> str:
        return f"{self.owners()}/{_seg(owner_id)}"

    # -- auth ---------------------------------------------------------------------------------

    @property
    def oauth_token(self) -> str:
        return self.oauth_token_path
