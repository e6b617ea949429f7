"""What the app knows of the Azure resources it diagnoses and remediates. Plain values, no SDK types."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Revision:
    name: str
    created_at: datetime | None
    active: bool
    traffic_weight: int          # percent of traffic (0..100)
    health_state: str | None     # "Healthy", "Unhealthy", "None"
    provisioning_state: str | None
    running_state: str | None = None
    replicas: int | None = None


@dataclass(frozen=True)
class ContainerAppStatus:
    app_id: str
    running_status: str | None           # properties.runningStatus
    provisioning_state: str | None
    revisions_mode: str                  # "Single" or "Multiple"
    latest_revision_name: str | None
    latest_ready_revision_name: str | None
    min_replicas: int | None
    max_replicas: int | None
    traffic: tuple[tuple[str, int], ...] = ()   # (revision name or "latest", weight)


@dataclass(frozen=True)
class PostgresStatus:
    server_id: str
    state: str | None                    # "Ready", "Stopped", ...
    ha_mode: str | None                  # "Disabled", "ZoneRedundant", "SameZone"
    ha_state: str | None                 # "Healthy", "NotEnabled", ...
    zone: str | None = None              # availabilityZone of the primary: a failover swaps it


@dataclass(frozen=True)
class RedisStatus:
    cache_id: str
    provisioning_state: str | None       # "Succeeded", "Failed", ...: no evidence a reboot finished
    availability_state: str | None = None    # Resource Health: "Available", "Unavailable", "Degraded", "Unknown"
    availability_reported_at: datetime | None = None   # when Resource Health last checked (reportedTime)
    availability_note: str | None = None     # its summary, or why it could not be read
    shard_count: int = 0                 # > 0: a clustered (Premium) cache, rebooted shard by shard


@dataclass(frozen=True)
class ArmResult:
    """Outcome of a write on Azure Resource Manager."""
    operation: str                       # e.g. "redis.force_reboot"
    resource_id: str
    request_id: str | None               # x-ms-request-id of the write
    status: str                          # "Succeeded", "Failed", "TimedOut"
    detail: dict[str, Any] = field(default_factory=dict)
