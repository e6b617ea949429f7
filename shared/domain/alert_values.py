"""Lenient readers for single values of an alert payload: timestamps, severities, strings, ARM ids.

Every function here accepts any JSON value and never raises: it returns None (or an empty tuple / dict)
when the value is not usable. The strict decisions (what is required) belong to alerts.parse_alert.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

# Bounds on what a payload may hand the store. Identities (ids, rule names, ARM ids) that exceed them are
# refused by alerts.parse_alert; descriptive text is cut. Azure's own limits are far below: alert rule
# names are 1-260 characters (Microsoft.Insights metricAlerts, scheduledQueryRules, activityLogAlerts in
# "Naming rules and restrictions for Azure resources"), an alert id is about 130. No ARM id comes near
# 4 KiB, and in UTF-8 bytes that bound keeps any text derived from one (the reason line, even with every
# character escaped as JSON \uXXXX) well inside Table Storage's 64 KiB per string property.
MAX_ID = 1024          # characters: essentials.alertId, essentials.alertRule
MAX_ARM_ID = 4096      # UTF-8 bytes: alertTargetIDs[i], alertRuleId, a budget's id
MAX_TEXT = 4096        # characters kept of free text: description
MAX_LABEL = 256        # characters kept of a name: monitoringService, signalType, metric, dimension, version
MAX_VALUE = 1024       # characters kept of a custom property or dimension value, and of configuration items
MAX_ITEMS = 100        # configurationItems kept
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clip(value: str, limit: int) -> str:
    """`value` cut to `limit` characters (an ellipsis marks the cut)."""
    return value if len(value) <= limit else value[:limit - 1] + "…"


def arm_id_problem(value: str) -> str | None:
    """Why `value` cannot be an ARM id we store and compare, or None. Only the size and control
    characters are checked: the shape of ids varies by kind (subscriptions, scopes, extension types)."""
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_ARM_ID:
        return f"is {size} bytes long; an Azure resource id is at most {MAX_ARM_ID} bytes (UTF-8)"
    if _CONTROL.search(value):
        return "holds a control character, which no Azure resource id has"
    return None


# ISO-8601 as Azure writes it: 0..7 fractional digits (we accept up to 9), `Z`, `+00:00`, `+0000`
# or no zone at all (the 2022 ServiceHealth test payload has none; the docs say the value is UTC).
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?")
# .NET's invariant-culture form, which Azure uses inside log alert contexts ("3/22/2019 1:36:31 PM").
_US = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2}):(\d{2})(?: ?([AaPp][Mm]))?")


def parse_timestamp(value: Any) -> datetime | None:
    """A tz-aware UTC datetime from an Azure timestamp string, or None when it cannot be read."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value.strip()
    try:
        m = _ISO.fullmatch(text)
        if m:
            year, month, day, hour, minute = (int(g) for g in m.group(1, 2, 3, 4, 5))
            second = int(m.group(6) or 0)
            # Python keeps microseconds; Azure's 7th digit (100 ns) is truncated, not rounded,
            # so the same instant never lands in a different second.
            micro = int((m.group(7) or "").ljust(6, "0")[:6])
            tz = timezone.utc
            if m.group(9):
                offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11) or 0))
                tz = timezone(offset if m.group(9) == "+" else -offset)
            t = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
            return t.astimezone(timezone.utc)
        m = _US.fullmatch(text)
        if m:
            month, day, year, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
            ampm = (m.group(7) or "").lower()
            if ampm and not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if ampm == "pm" else 0) if ampm else hour
            return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except (ValueError, OverflowError):  # e.g. month 13, offset of 24 hours
        return None
    return None


_SEV = re.compile(r"(?:sev)?\s*([0-4])", re.IGNORECASE)


def parse_severity(value: Any) -> int | None:
    """0..4 from "Sev0".."Sev4" (any case), "3" or the integer 3; None otherwise (budgets send null)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 4 else None
    if isinstance(value, float) and value.is_integer():
        return parse_severity(int(value))
    if isinstance(value, str):
        m = _SEV.fullmatch(value.strip())
        return int(m.group(1)) if m else None
    return None


def opt_str(value: Any, limit: int | None = None) -> str | None:
    """A stripped non-empty string (cut to `limit` characters when given); numbers become their text
    (versions like 1.0); anything else None."""
    if isinstance(value, str):
        value = value.strip()
        return (value if limit is None else clip(value, limit)) or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value) if limit is None else clip(str(value), limit)
    return None


def text(value: Any, limit: int | None = None) -> str:
    """Like opt_str, but "" instead of None."""
    return opt_str(value, limit) or ""


def str_list(value: Any, *, numbers: bool = True, limit: int | None = None, count: int | None = None
             ) -> tuple[str, ...]:
    """A string or a list of strings (docs disagree which) -> de-duplicated, stripped, non-empty strings,
    each cut to `limit` characters and at most `count` of them when given.

    Numbers count as their text unless `numbers` is False (ARM ids are never numbers)."""
    items = value if isinstance(value, list) else [value]
    out: dict[str, None] = {}
    for item in items:
        s = opt_str(item, limit) if numbers or isinstance(item, str) else None
        if s is not None:
            out.setdefault(s)
            if count is not None and len(out) >= count:
                break
    return tuple(out)


def as_text(value: Any) -> str:
    """Any JSON value as a string: strings as is, null as "", everything else as compact JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):  # not JSON (a caller passed a Python object): still never raise
        return str(value)
    except RecursionError:  # nested deeper than the interpreter's stack: no reader needs that value
        return "<too deeply nested>"


def str_map(value: Any) -> dict[str, str]:
    """An object -> {str: str} (values coerced with as_text, names cut to MAX_LABEL characters and values
    to MAX_VALUE: they are descriptive, and some reach single Table properties); anything else -> {}."""
    if not isinstance(value, dict):
        return {}
    return {clip(str(k), MAX_LABEL): clip(as_text(v), MAX_VALUE) for k, v in value.items()}


def dig(value: Any, *keys: str | int) -> Any:
    """value[k1][k2]... where each step must be an object key or a list index; None when a step is missing."""
    for key in keys:
        if isinstance(key, int) and isinstance(value, list) and -len(value) <= key < len(value):
            value = value[key]
        elif isinstance(key, str) and isinstance(value, dict):
            value = value.get(key)
        else:
            return None
    return value


def arm_resource_type(arm_id: str) -> str | None:
    """The lower-cased resource type of an ARM id, nested types included.

    ".../providers/Microsoft.Sql/servers/a/databases/b" -> "microsoft.sql/servers/databases".
    The last `providers` segment wins, so extension resources get their own type.
    """
    parts = [p for p in arm_id.strip().lower().split("/") if p]
    if "providers" in parts:
        at = len(parts) - 1 - parts[::-1].index("providers")
        namespace, rest = (parts[at + 1], parts[at + 2:]) if at + 1 < len(parts) else (None, [])
        if not namespace or not rest:
            return None
        return namespace + "/" + "/".join(rest[0::2])
    if parts[:1] == ["subscriptions"]:
        if len(parts) == 2:
            return "microsoft.resources/subscriptions"
        if len(parts) == 4 and parts[2] == "resourcegroups":
            return "microsoft.resources/resourcegroups"
    return None


def arm_name(arm_id: str) -> str:
    """The last path segment of an ARM id (the resource's own name), as written."""
    return arm_id.rstrip("/").rsplit("/", 1)[-1]


def is_subscription_id(arm_id: str) -> bool:
    """True for "/subscriptions/<id>" alone (ServiceHealth targets), any case."""
    parts = [p for p in arm_id.split("/") if p]
    return len(parts) == 2 and parts[0].lower() == "subscriptions"


def lower_ids(ids: tuple[str, ...]) -> tuple[str, ...]:
    """Lower-cased and de-duplicated: ARM ids are case-insensitive and Azure mixes cases."""
    return tuple(dict.fromkeys(i.lower() for i in ids))


def resource_types(ids: tuple[str, ...]) -> tuple[str, ...]:
    """The distinct resource types of `ids`, in order; ids without a readable type are skipped."""
    return tuple(dict.fromkeys(t for t in (arm_resource_type(i) for i in ids) if t))


def first_mapping(*values: Any) -> Mapping[str, Any]:
    """The first value that is an object, else {}."""
    return next((v for v in values if isinstance(v, dict)), {})
