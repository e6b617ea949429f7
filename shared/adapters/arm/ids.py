"""ARM resource ids, parsed case-insensitively. Pure: no SDK import."""
from __future__ import annotations

import re
from dataclasses import dataclass

CONTAINER_APP = "Microsoft.App/containerApps"
POSTGRES_SERVER = "Microsoft.DBforPostgreSQL/flexibleServers"
REDIS_CACHE = "Microsoft.Cache/redis"

_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)"
    r"/providers/(?P<ns>[^/]+)/(?P<type>[^/]+)/(?P<name>[^/]+)/?$",
    re.IGNORECASE,
)
_SHAPE = "/subscriptions/{subscription}/resourceGroups/{group}/providers/{namespace}/{type}/{name}"


@dataclass(frozen=True)
class ArmId:
    subscription_id: str
    resource_group: str
    namespace: str          # e.g. "Microsoft.App", as written in the id
    type: str               # e.g. "containerApps", as written in the id
    name: str

    @property
    def resource_type(self) -> str:
        return f"{self.namespace}/{self.type}"


def parse_arm_id(value: str, *, expected_type: str | None = None) -> ArmId:
    """Split an ARM id into its parts; segment names ("resourceGroups", "providers") in any case.

    Raises ValueError naming what is wrong: not an id of the expected shape, or of another type
    than `expected_type` (compared case-insensitively, like ARM does).
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"ARM resource id is empty; expected {_SHAPE}")
    m = _ID.match(value.strip())
    if m is None:
        raise ValueError(f"malformed ARM resource id {value!r}; expected {_SHAPE}")
    arm = ArmId(m["sub"], m["rg"], m["ns"], m["type"], m["name"])
    if expected_type and arm.resource_type.lower() != expected_type.lower():
        raise ValueError(f"ARM resource id {value!r} is a {arm.resource_type}, expected a {expected_type}")
    return arm
