"""Incident metrics from aggregates kept on write: one row per (severity, calendar month in UTC).

Each incident write updates the rows of `affected_months` with `apply` (an incident's month is its
created_at month), so a 90-day window reads at most four rows per severity. A row keeps one entry
per incident, keyed by its id: re-applying facts or changing an ack time replaces the entry. An
entry keeps the exact creation instant (microseconds into the month) and MTTA / MTTR in floored
whole seconds, so partial months filter exactly and percentiles are exact.

Percentiles are nearest-rank: of n samples sorted ascending x[1..n], the p-th is x[ceil(p * n / 100)],
the smallest sample with at least p % of the samples at or below it; None without samples.
MTTA is created -> acknowledged (acknowledged incidents), MTTR created -> resolved (resolved ones).
A transient incident counts in `transients` only. Reviews overdue and open action items are as of
each incident's latest write.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Iterable, Mapping

from shared.domain.errors import DomainError, InvalidInput

ROW_VERSION = 1
CHUNK_CHARS = 32_000          # Azure Table: a string property holds at most 32 K UTF-16 characters
MAX_ENTITY_BYTES = 1_048_576  # Azure Table: an entity is at most 1 MiB, sized as in `entity_bytes`
KEYS_RESERVE = 1_024          # bytes left for the PartitionKey and RowKey the store adds
MAX_PROPERTIES = 252          # 255 less PartitionKey, RowKey and Timestamp
QUANTILES = (50, 90)

_RESPONSE, _RESOLUTION, _TRANSIENT, _REVIEW = 1, 2, 4, 8
_ID = re.compile(r"INC-([0-9]{8})-([0-9]{4,6})")
_LITERAL_ID = re.compile(r"[A-Za-z0-9_.:@-]{1,64}")
_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_US = timedelta(microseconds=1)
_S = timedelta(seconds=1)


class AggregateTooLarge(DomainError):
    """A month's row would not fit one Azure Table entity (about 15,000 incidents of one severity)."""


def _b36(n: int) -> str:
    out = ""
    while n >= 36:
        n, r = divmod(n, 36)
        out = _DIGITS[r] + out
    return _DIGITS[n] + out


def incident_key(incident_id: str) -> str:
    """A short, injective key: INC-20261127-0042 -> base 36 of 1202611270042 (the leading digit says
    how many digits the number had, so -0042 and -00042 differ). Other ids of [A-Za-z0-9_.:@-], up to
    64 characters, are kept as they are behind '~'. Raises InvalidInput at $.id for anything else."""
    m = _ID.fullmatch(incident_id)
    if m:
        return _b36(int(f"{len(m[2]) - 3}{m[1]}{m[2]}"))
    if _LITERAL_ID.fullmatch(incident_id):
        return "~" + incident_id
    raise InvalidInput("$.id", "must be an incident id such as INC-20261127-0042")


def _month_start(month: str) -> datetime:
    m = _MONTH.fullmatch(month) if isinstance(month, str) else None
    if not m:
        raise InvalidInput("$.month", "must be a month such as 2026-11")
    return datetime(int(m[1]), int(m[2]), 1, tzinfo=UTC)


def nearest_rank(samples: list[int], p: int) -> int | None:
    """The p-th nearest-rank percentile of `samples` (sorted ascending), or None when empty."""
    return samples[max(1, -(-p * len(samples) // 100)) - 1] if samples else None


@dataclass(frozen=True)
class IncidentFacts:
    """What the metrics need of one incident, as of one write (the lead builds it from Incident)."""

    id: str
    severity: str
    created_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    response_breached: bool = False
    resolution_breached: bool = False
    transient: bool = False
    review_overdue: bool = False
    open_action_items: int = 0

    def __post_init__(self) -> None:
        for name in ("created_at", "acknowledged_at", "resolved_at"):
            t = getattr(self, name)
            if (t is not None or name == "created_at") and (not isinstance(t, datetime) or t.utcoffset() is None):
                raise InvalidInput(f"$.{name}", "must be a tz-aware date-time")
        if not isinstance(self.severity, str) or not 0 < len(self.severity) <= 32:
            raise InvalidInput("$.severity", "must be a severity name such as SEV-1")
        if self.open_action_items < 0:
            raise InvalidInput("$.open_action_items", "must not be negative")
        incident_key(self.id)

    @property
    def month_key(self) -> tuple[str, str]:
        """(severity, "YYYY-MM"): the aggregate this incident belongs to."""
        return self.severity, self.created_at.astimezone(UTC).strftime("%Y-%m")


@dataclass(frozen=True)
class Entry:
    """One incident in a month's aggregate."""

    created_us: int          # microseconds from the month's start to created_at
    mtta_s: int | None       # whole seconds created -> acknowledged; None: not acknowledged
    mttr_s: int | None       # whole seconds created -> resolved; None: open
    flags: int = 0           # _RESPONSE | _RESOLUTION | _TRANSIENT | _REVIEW
    open_action_items: int = 0
    # The text read (set by decode only, so `replace` drops it): a write re-encodes one entry, not all.
    text: str = field(default="", init=False, compare=False, repr=False)

    def encode(self, key: str) -> str:
        if self.text:
            return f"{key},{self.text}"
        opt = ["" if v is None else _b36(v) for v in (self.mtta_s, self.mttr_s)]
        return ",".join([key, _b36(self.created_us), *opt, _b36(self.flags), _b36(self.open_action_items)])

    @classmethod
    def decode(cls, text: str, path: str) -> tuple[str, Entry]:
        try:
            key, rest = text.split(",", 1)
            created, mtta, mttr, flags, items = rest.split(",")
            entry = cls(int(created, 36), int(mtta, 36) if mtta else None,
                        int(mttr, 36) if mttr else None, int(flags, 36), int(items, 36))
        except ValueError:
            raise InvalidInput(path, f"malformed entry {text[:80]!r}") from None
        object.__setattr__(entry, "text", rest)
        return key, entry


def _counters(entries: Iterable[Entry]) -> dict[str, int]:
    every = list(entries)
    kept = [e for e in every if not e.flags & _TRANSIENT]
    return {"count": len(kept), "transients": len(every) - len(kept),
            "acknowledged": sum(e.mtta_s is not None for e in kept),
            "resolved": sum(e.mttr_s is not None for e in kept),
            "response_breaches": sum(bool(e.flags & _RESPONSE) for e in kept),
            "resolution_breaches": sum(bool(e.flags & _RESOLUTION) for e in kept),
            "reviews_overdue": sum(bool(e.flags & _REVIEW) for e in kept),
            "open_action_items": sum(e.open_action_items for e in kept)}


@dataclass(frozen=True)
class MonthAggregate:
    """The incidents of one severity created in one calendar month (UTC), one entry each."""

    severity: str
    month: str
    entries: Mapping[str, Entry] = field(default_factory=dict, hash=False)  # incident_key -> Entry

    def __post_init__(self) -> None:
        _month_start(self.month)

    def counters(self) -> dict[str, int]:
        """The row's plain counters, over every entry of the month."""
        return _counters(self.entries.values())

    def to_row(self) -> dict[str, str | int | float | bool]:
        """A flat entity: format version, severity, month, the counters, `entries`, and the entries as
        text ("key,created_us,mtta_s,mttr_s,flags,items", base 36, blank = none; space-separated,
        sorted by key) over `chunks` properties s00, s01, ... of at most CHUNK_CHARS characters.
        Raises AggregateTooLarge when that would not fit one Azure Table entity."""
        chunks: list[list[str]] = []
        room = 0
        for rec in (e.encode(k) for k, e in sorted(self.entries.items())):
            if len(rec) + 1 > room:
                chunks.append([])
                room = CHUNK_CHARS + 1
            chunks[-1].append(rec)
            room -= len(rec) + 1
        row: dict[str, str | int | float | bool] = {"v": ROW_VERSION, "severity": self.severity,
                                                    "month": self.month, **self.counters(),
                                                    "entries": len(self.entries), "chunks": len(chunks)}
        row.update({f"s{i:02d}": " ".join(c) for i, c in enumerate(chunks)})
        size = entity_bytes(row)
        if size > MAX_ENTITY_BYTES - KEYS_RESERVE or len(row) > MAX_PROPERTIES:
            raise AggregateTooLarge(f"{self.severity} {self.month}: {len(self.entries)} incidents, {size} bytes")
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> MonthAggregate:
        """The aggregate of a `to_row` entity. Properties beyond s{chunks-1} (left by a merge) and the
        store's own (PartitionKey, ...) are ignored. Raises InvalidInput naming the property."""
        if row.get("v") != ROW_VERSION:
            raise InvalidInput("$.v", f"unknown aggregate format {row.get('v')!r}")
        severity, month, chunks = row.get("severity"), row.get("month"), row.get("chunks")
        if not isinstance(severity, str) or not severity:
            raise InvalidInput("$.severity", "must be a severity name")
        if type(chunks) is not int or not 0 <= chunks <= MAX_PROPERTIES:
            raise InvalidInput("$.chunks", "must be a count of chunks")
        entries: dict[str, Entry] = {}
        for i in range(chunks):
            text = row.get(f"s{i:02d}")
            if not isinstance(text, str) or not text:
                raise InvalidInput(f"$.s{i:02d}", "is missing")
            entries.update(Entry.decode(rec, f"$.s{i:02d}") for rec in text.split(" "))
        if row.get("entries") != len(entries):
            raise InvalidInput("$.entries", f"says {row.get('entries')!r}, the chunks hold {len(entries)}")
        return cls(severity, str(month), entries)


def entity_bytes(row: Mapping[str, Any], partition_key: str = "", row_key: str = "") -> int:
    """An entity's size as Azure Table storage counts it: 4 + 2 x len(PartitionKey + RowKey) + per property
    8 + 2 x len(name) + the value (string 4 + 2 x UTF-16 units, bool 1, int32 4, int64 8, double 8)."""
    def value(v: Any) -> int:
        if isinstance(v, str):
            return 4 + len(v.encode("utf-16-le"))
        return 1 if isinstance(v, bool) else 4 if isinstance(v, int) and -2**31 <= v < 2**31 else 8
    return 4 + 2 * len(partition_key + row_key) + sum(8 + 2 * len(k) + value(v) for k, v in row.items())


def affected_months(before: IncidentFacts | None, after: IncidentFacts) -> list[tuple[str, str]]:
    """The (severity, month) aggregates one write changes: the incident's old one and its new one
    (two after a severity change). Write them in the same batch as the incident."""
    return sorted({after.month_key} | ({before.month_key} if before else set()))


def apply(agg: MonthAggregate, before: IncidentFacts | None, after: IncidentFacts) -> MonthAggregate:
    """`agg` after one incident write: its entry is set from `after` when `agg` is the incident's
    (severity, month), and removed otherwise (it moved). Idempotent: the entry is keyed by incident.
    Raises InvalidInput when `before` is another incident."""
    if before is not None and before.id != after.id:
        raise InvalidInput("$.id", f"before is {before.id}, after is {after.id}")
    key = incident_key(after.id)
    entries = {k: e for k, e in agg.entries.items() if k != key}
    if (agg.severity, agg.month) == after.month_key:
        start = _month_start(agg.month)
        flags = ((_RESPONSE if after.response_breached else 0) | (_RESOLUTION if after.resolution_breached else 0)
                 | (_TRANSIENT if after.transient else 0) | (_REVIEW if after.review_overdue else 0))
        ack, res = ((None if t is None else max(0, (t - after.created_at) // _S))  # skew: never negative
                    for t in (after.acknowledged_at, after.resolved_at))
        entries[key] = Entry((after.created_at - start) // _US, ack, res, flags, after.open_action_items)
    return MonthAggregate(agg.severity, agg.month, entries)


def summarise(aggs: Iterable[MonthAggregate], since: datetime, until: datetime) -> dict[str, dict[str, int | None]]:
    """Per severity (every severity of `aggs`, sorted), over the incidents created in [since, until):
    the counters of `MonthAggregate.counters` and mtta/mttr_p50_s/p90_s (nearest rank, None without
    samples). `since` and `until` are tz-aware. Raises InvalidInput for one (severity, month) twice."""
    picked: dict[str, list[Entry]] = {}
    seen: set[tuple[str, str]] = set()
    for i, agg in enumerate(aggs):
        if (agg.severity, agg.month) in seen:
            raise InvalidInput(f"$[{i}]", f"a second aggregate for {agg.severity} {agg.month}")
        seen.add((agg.severity, agg.month))
        start = _month_start(agg.month)
        lo, hi = (since - start) // _US, (until - start) // _US  # datetimes are whole microseconds
        picked.setdefault(agg.severity, []).extend(e for e in agg.entries.values() if lo <= e.created_us < hi)
    out: dict[str, dict[str, int | None]] = {}
    for severity, entries in sorted(picked.items()):
        row: dict[str, int | None] = {**_counters(entries)}
        kept = [e for e in entries if not e.flags & _TRANSIENT]
        for name, samples in (("mtta", [e.mtta_s for e in kept]), ("mttr", [e.mttr_s for e in kept])):
            got = sorted(s for s in samples if s is not None)
            row.update({f"{name}_p{p}_s": nearest_rank(got, p) for p in QUANTILES})
        out[severity] = row
    return out


_GAUGES = (  # summary field, metric name, help: each over the incidents created in the window
    ("count", "incident_count", "Incidents, transients excluded."),
    ("transients", "incident_transient_count", "Transient incidents."),
    ("acknowledged", "incident_acknowledged_count", "Incidents acknowledged."),
    ("resolved", "incident_resolved_count", "Incidents resolved."),
    ("response_breaches", "incident_response_breach_count", "Incidents that breached the response SLA."),
    ("resolution_breaches", "incident_resolution_breach_count", "Incidents that breached the resolution SLA."),
    ("reviews_overdue", "incident_review_overdue_count", "Incidents whose post-incident review is overdue."),
    ("open_action_items", "incident_open_action_items", "Open post-incident action items."))
_QUANTILE_GAUGES = (("mtta", "incident_mtta_seconds", "Seconds to acknowledge, nearest-rank quantiles."),
                    ("mttr", "incident_mttr_seconds", "Seconds to resolve, nearest-rank quantiles."))


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def prometheus(summary: Mapping[str, Mapping[str, int | None]], now: datetime) -> str:
    """The summary in the Prometheus text format 0.0.4: gauges labelled by severity; a quantile without
    samples is left out. `now` is the value of incident_metrics_generated_timestamp_seconds, not a
    sample timestamp (those turn off Prometheus's staleness handling)."""
    lines: list[str] = []

    def family(name: str, help_text: str, samples: list[tuple[str, int | float]]) -> None:
        lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} gauge"])
        lines.extend(f"{name}{labels} {value}" for labels, value in samples)

    for fld, name, help_text in _GAUGES:
        family(name, help_text, [(f'{{severity="{_label(sev)}"}}', row.get(fld) or 0) for sev, row in summary.items()])
    for fld, name, help_text in _QUANTILE_GAUGES:
        family(name, help_text, [(f'{{severity="{_label(sev)}",quantile="{p / 100}"}}', v)
                                 for sev, row in summary.items() for p in QUANTILES
                                 if (v := row.get(f"{fld}_p{p}_s")) is not None])
    family("incident_metrics_generated_timestamp_seconds", "When these metrics were computed (Unix time).",
           [("", now.timestamp())])
    return "\n".join(lines) + "\n"
