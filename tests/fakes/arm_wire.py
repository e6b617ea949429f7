"""What every part of FakeArm writes the same way: ARM error bodies, times, JSON merge patch, api-versions."""
from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

SUBSCRIPTION = "00000000-0000-0000-0000-0000000000aa"
GROUP = "rg-procgenie-prod"
API_VERSIONS = {"Microsoft.App": "2026-07-01", "Microsoft.DBforPostgreSQL": "2026-10-01",
                "Microsoft.Cache": "2024-11-01", "Microsoft.ResourceHealth": "2022-10-01"}


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def error(code: str, message: str) -> dict[str, Any]:
    """ARM's error envelope (azure-rest-api-specs common-types ErrorResponse)."""
    return {"error": {"code": code, "message": message}}


def merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """JSON merge patch (RFC 7396): objects merge, null deletes, anything else (arrays too) replaces."""
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict) and isinstance(target.get(k), dict):
            merge(target[k], v)
        else:
            target[k] = copy.deepcopy(v)
    return target
