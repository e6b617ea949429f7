"""SDK models -> the domain's plain values (shared.domain.resources). Attribute reads only."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from shared.domain.resources import ContainerAppStatus, PostgresStatus, RedisStatus, Revision


def _s(value: Any) -> str | None:
    """Enum members and strings alike -> plain str (SDK enums are str subclasses)."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def container_app_status(app_id: str, app: Any) -> ContainerAppStatus:
    p = app.properties
    config = getattr(p, "configuration", None)
    template = getattr(p, "template", None)
    scale = getattr(template, "scale", None)
    ingress = getattr(config, "ingress", None)
    traffic = []
    for t in getattr(ingress, "traffic", None) or []:
        name = "latest" if t.latest_revision else (t.revision_name or t.label or "")
        traffic.append((name, int(t.weight or 0)))
    return ContainerAppStatus(
        app_id=app_id,
        running_status=_s(p.running_status),
        provisioning_state=_s(p.provisioning_state),
        revisions_mode=_s(getattr(config, "active_revisions_mode", None)) or "Single",
        latest_revision_name=p.latest_revision_name,
        latest_ready_revision_name=p.latest_ready_revision_name,
        min_replicas=getattr(scale, "min_replicas", None),
        max_replicas=getattr(scale, "max_replicas", None),
        traffic=tuple(traffic),
    )


def revision(r: Any) -> Revision:
    p = r.properties
    return Revision(
        name=r.name,
        created_at=_utc(p.created_time),
        active=bool(p.active),
        traffic_weight=int(p.traffic_weight or 0),
        health_state=_s(p.health_state),
        provisioning_state=_s(p.provisioning_state),
        running_state=_s(p.running_state),
        replicas=p.replicas,
    )


def newest_first(revisions: Iterable[Revision]) -> list[Revision]:
    """By creation time, newest first; unknown times last; ties by name, descending."""
    floor = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(revisions, key=lambda r: (r.created_at or floor, r.name), reverse=True)


def postgres_status(server_id: str, server: Any) -> PostgresStatus:
    p = server.properties
    ha = getattr(p, "high_availability", None)
    return PostgresStatus(server_id=server_id, state=_s(p.state),
                          ha_mode=_s(getattr(ha, "mode", None)), ha_state=_s(getattr(ha, "state", None)),
                          zone=getattr(p, "availability_zone", None))


def redis_status(cache_id: str, cache: Any, health: Mapping[str, Any] | None = None) -> RedisStatus:
    """`health`: what shared.adapters.arm.health.current answered for the cache."""
    health = health or {}
    return RedisStatus(cache_id=cache_id, provisioning_state=_s(cache.provisioning_state),
                       availability_state=health.get("state"), availability_reported_at=_utc(health.get("reported_at")),
                       availability_note=health.get("summary") or health.get("error"),
                       shard_count=int(getattr(cache, "shard_count", None) or 0))
