"""Hostile input for the HTTP triggers, as hypothesis strategies (run derandomized: the same cases
every run, and a failure shrinks to a small example).

Two families:

- `alert_bodies()`: the captured Azure Monitor payloads of tests/events, mutated: fields deleted,
  retyped, made huge, nested deep, given lone surrogates, odd Unicode, OData-looking or key-looking
  strings (`' or PartitionKey ne '`, `seq|x`, `aud|`, `../`), numbers past the parser's limits,
  NaN/Infinity, and whole-body damage (not UTF-8, truncated, not an object, nested 1,000 deep).
- `operator_cases()`: for every operator route, a plausible body (and route parameters, query
  parameters) with the same kinds of damage.

A body is produced as raw bytes, because much of the damage (NaN, 5,000-digit integers, 1,000-deep
nesting) is exactly what `json.dumps` refuses or cannot write.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"
EVENTS: list[tuple[str, dict]] = [(p.name, json.loads(p.read_text())) for p in sorted(EVENTS_DIR.glob("*.json"))]

# Strings that have broken (or could break) something: key syntax, OData, paths, Unicode edge cases.
NASTY = [
    "", " ", "   ", "\t\n", "\x00", "\x1f", "\x7f", "\u0085", "\u2028", "\ufeff", "\u200b", "\u202e",
    "\ud800", "acme\ud800", "\udfff", "\udc00x", "\U0001F4A5", "e\u0301", "ǅ", "İ", "ß", "ﬁ", "Ⅻ", "٣", "²", "1²",
    "\uffff", "\U0010ffff", "' or PartitionKey ne '", "' or 1 eq 1 or '", "RowKey gt ''", "$filter=x",
    "seq|x", "seq|20261127", "aud|", "aud|x|y", "inc|", "inc|00000000000000", "inc|~", "tl|", "due|", "fp|",
    "alert|", "out|", "sil|index", "ovr|index", "sil|SIL-00000000", "|", "~", "../", "..\\..\\", "/", "//",
    "%2e%2e%2f", "%00", "?code=x", "#", "null", "true", "NaN", "Infinity", "1e999", "-0", "0x10", "١٢",
    "SEV-1", "sev0", "Sev9", "Fired", "Resolved", "fired ", "INC-20261127-0001", "INC-99999999-9999",
    "INC--1-1", "INC-2026-11-27", "SIL-", "OVR-", "REM-", "@Microsoft.KeyVault(SecretUri=https://v/s)",
    "{{title}}", "${jndi:x}", "<script>", "'; DROP TABLE incidents; --", "primary", "cto", "approve",
    "reject", "resolved", "identified", "/subscriptions/", "/subscriptions/x/resourceGroups/y/providers/",
    "2026-11-27T03:00:00Z", "2026-13-45T99:99:99Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
    "2026-11-27T03:00:00.1234567891234Z", "3/22/2019 1:36:31 PM", "13/45/2019 25:00:00 XM",
]
BIG_UNITS = ["A", "é", "\U0001F600", "/x", "a,", "\\", '"', "\x01", "\ud800", "ab\ud83d"]
BIG_SIZES = [300, 1025, 4097, 33_000, 70_000, 200_000]


@dataclass(frozen=True)
class Raw:
    """A JSON token written as is (json.dumps would refuse it or write it differently)."""
    text: str


RAW_TOKENS = [
    Raw("NaN"), Raw("-Infinity"), Raw("Infinity"), Raw("1e999"), Raw("-1e999"), Raw("1.5e-99999"),
    Raw("9" * 4301), Raw("-" + "1" * 5000), Raw("9" * 4300), Raw("1" + "0" * 400 + ".5"),
    Raw("[" * 65 + "]" * 65), Raw("[" * 200 + "]" * 200), Raw("[" * 1000 + "]" * 1000),
    Raw('{"a":' * 1000 + "1" + "}" * 1000), Raw("[" * 5000 + "]" * 5000), Raw('"\\ud800"'),
    Raw('"\\udfff\\ud800"'), Raw('{"\\ud800": 1}'), Raw('"\\u0000"'), Raw("[1,2,3]"), Raw("{}"),
]


# Strategies are built once: building one per draw costs more than the request it feeds.
BIG_STRINGS = st.builds(lambda unit, n: (unit * n)[:n], st.sampled_from(BIG_UNITS), st.sampled_from(BIG_SIZES))
# Big but clean: valid Unicode a payload may really carry, in sizes around the limits of the store.
BIG_CLEAN = st.builds(lambda unit, n: (unit * n)[:n], st.sampled_from(["A", "é", "\U0001F600", "a/b", "x y"]),
                      st.sampled_from([1024, 1025, 4096, 4097, 20_000, 33_000, 70_000]))
NASTY_STRINGS = st.sampled_from(NASTY)
RAWS = st.sampled_from(RAW_TOKENS)
SCALARS = st.one_of(
    NASTY_STRINGS, st.none(), st.booleans(), st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
    st.sampled_from([0, -1, 4, 5, 2 ** 63, -(2 ** 64)]), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
VALUES = st.one_of(  # any hostile JSON value, Raw tokens included
    SCALARS, BIG_STRINGS, RAWS,
    st.lists(st.one_of(SCALARS, RAWS), max_size=4),
    st.dictionaries(st.sampled_from(NASTY[:40] + ["a", "alertId", "match"]), SCALARS, max_size=3),
    st.builds(lambda v, n: [v] * n, NASTY_STRINGS, st.sampled_from([500, 5000])),
)


# ---- serialising with raw tokens --------------------------------------------------------------

def _serialise(doc: Any, ascii_only: bool) -> bytes:
    raws: list[str] = []

    def hold(value: Any) -> str:
        if not isinstance(value, Raw):
            raise TypeError(type(value).__name__)
        raws.append(value.text)
        return f"\u0001RAW{len(raws) - 1}\u0001"

    text = json.dumps(doc, ensure_ascii=ascii_only, allow_nan=True, default=hold)
    for i, raw in enumerate(raws):
        text = text.replace(f'"\\u0001RAW{i}\\u0001"', raw, 1)
    return text.encode("utf-8", "surrogatepass")


def dumps(doc: Any) -> bytes:
    """JSON bytes of `doc` as UTF-8, Raw(...) values written verbatim; a lone surrogate becomes bytes
    that are not UTF-8 at all."""
    return _serialise(doc, False)


def escaped(doc: Any) -> bytes:
    """Like dumps, but ASCII only: every other character escaped, so a lone surrogate arrives as valid
    JSON (`"\\ud800"`) that decodes to a Python string holding it."""
    return _serialise(doc, True)


# ---- mutating a document ----------------------------------------------------------------------

def slots(doc: Any) -> list[tuple[Any, Any]]:
    """(container, key) of the values inside `doc` (the first 20 of a long array), in a stable order."""
    out: list[tuple[Any, Any]] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node[:20]) if isinstance(node, list) else ()
        for k, v in items:
            out.append((node, k))
            if isinstance(v, (dict, list)):
                stack.append(v)
    return out


OPS = st.sampled_from(("delete", "retype", "huge", "deepen", "surrogate", "unicode", "nasty", "rename", "many",
                       "raw", "null"))
DEPTHS = st.sampled_from([20, 63, 64, 65, 100, 999, 1000, 3000])
SURROGATES = st.sampled_from(["\ud800", "\udfff", "\udc00\ud800"])
ODD_UNICODE = st.sampled_from(NASTY[:26])
RENAMES = st.sampled_from(NASTY[:40] + ["UPPER", "lower", "space"])
REPEATS = st.sampled_from([50, 3000])
MANY = st.sampled_from([101, 1000, 5000])


@st.composite
def mutate(draw: st.DrawFn, doc: Any, rounds: int = 4) -> Any:
    """`doc` with 1..rounds mutations at paths chosen anywhere inside it."""
    for _ in range(draw(st.integers(1, rounds))):
        places = slots(doc)
        if not places:
            break
        parent, key = places[draw(st.integers(0, len(places) - 1))]
        op = draw(OPS)
        old = parent[key]
        if op == "delete":
            del parent[key]
        elif op == "retype":
            parent[key] = draw(VALUES)
        elif op == "huge":
            parent[key] = draw(BIG_STRINGS) if not isinstance(old, list) else old * draw(REPEATS)
        elif op == "deepen":
            depth = draw(DEPTHS)
            parent[key] = Raw("[" * depth + json.dumps(old if isinstance(old, str) else 1) + "]" * depth)
        elif op == "surrogate":
            if isinstance(parent, dict) and draw(st.booleans()):
                parent[str(key) + "\ud800"] = parent.pop(key)
            else:
                parent[key] = (old if isinstance(old, str) else "x") + draw(SURROGATES)
        elif op == "unicode":
            parent[key] = (old if isinstance(old, str) else "") + draw(ODD_UNICODE)
        elif op == "nasty":
            parent[key] = draw(NASTY_STRINGS)
        elif op == "rename" and isinstance(parent, dict):
            new = draw(RENAMES)
            new = {"UPPER": str(key).upper(), "lower": str(key).lower(), "space": f"{key} "}.get(new, new)
            parent[new] = parent.pop(key)
        elif op == "many":
            parent[key] = [draw(NASTY_STRINGS)] * draw(MANY)
        elif op == "raw":
            parent[key] = draw(RAWS)
        elif op == "null":
            parent[key] = None
    return doc


WHOLE_BODY = [
    b"", b" ", b"null", b"[]", b"0", b'"x"', b"true", b"{", b"}", b"\xff\xfe{}", b"\xef\xbb\xbf{}", b"{}{}",
    b'{"a":1}garbage', b"\xc3\x28", b"\xed\xa0\x80", b'{"a":"\xed\xa0\x80"}', b"NaN", b"-Infinity",
    b"[" * 1000 + b"]" * 1000, b'{"a":' * 1000 + b"1" + b"}" * 1000, b"[" * 100_000, b"9" * 4301,
    b'{"schemaId":"azureMonitorCommonAlertSchema","data":' + b"[" * 2000 + b"]" * 2000 + b"}",
    b'{"\\ud800":1}', b'"\\ud800"', b'{"a":"\\udfff"}', b"{" + b" " * (1024 * 1024) + b"}",
]
WHOLE_BODIES = st.sampled_from(WHOLE_BODY)
EVENT_DOCS = st.sampled_from(EVENTS)
IDENTITY_FIELDS = st.sampled_from(["alertId", "alertRule", "alertTargetIDs", "alertRuleID", "alertRuleId",
                                   "originAlertId", "configurationItems", "monitorCondition", "firedDateTime",
                                   "monitoringService"])
IDENTITY_VALUES = st.one_of(VALUES, st.builds(lambda v: [v], VALUES))
ARM_PREFIXES = st.sampled_from(["/subscriptions/s/resourceGroups/r/providers/Microsoft.Web/sites/",
                                "/subscriptions/", ""])


# ---- alert bodies ----------------------------------------------------------------------------

@st.composite
def alert_bodies(draw: st.DrawFn) -> bytes:
    """A mutated Azure Monitor payload (fresh alert id unless the mutation is about it), as bytes."""
    kind = draw(st.integers(0, 19))
    if kind == 0:
        return draw(WHOLE_BODIES)
    name, doc = draw(EVENT_DOCS)
    doc = copy.deepcopy(doc)
    ess = doc.get("data", {}).get("essentials") if isinstance(doc.get("data"), dict) else None
    if isinstance(ess, dict) and isinstance(ess.get("alertId"), str):
        ess["alertId"] += f"-{draw(st.integers(0, 10 ** 9))}"  # a new alert, so the whole intake path runs
        if kind in (1, 2, 3):  # aim at the fields that identify the alert
            field_name = draw(IDENTITY_FIELDS)
            value = draw(IDENTITY_VALUES)
            if field_name == "alertTargetIDs" and draw(st.booleans()):
                value = [draw(ARM_PREFIXES) + draw(BIG_STRINGS)]
            ess[field_name] = value
            return dumps(doc) if draw(st.booleans()) else escaped(doc)
        if kind in (4, 5, 6):  # one string made big, the rest intact: cut, refused, or a store limit hit?
            places = [(parent, key) for parent, key in slots(doc) if isinstance(parent[key], str)]
            parent, key = places[draw(st.integers(0, len(places) - 1))]
            parent[key] = draw(BIG_CLEAN)
            return escaped(doc)
    doc = draw(mutate(doc))
    return dumps(doc) if draw(st.booleans()) else escaped(doc)


# ---- operator routes --------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    name: str
    method: str
    body: dict[str, Any] | None           # a plausible body (None: the route takes none)
    params: tuple[str, ...] = ()          # route parameters
    query: dict[str, str] = field(default_factory=dict)


ROUTES = [
    Route("declare_incident", "POST", {"title": "Checkout failing", "impact": "core", "scope": "some",
                                       "tenants": ["acme"], "security": False, "actor": "carol"}),
    Route("acknowledge_incident", "POST", {"message": "mine", "actor": "alice"}, ("id",)),
    Route("resolve_incident", "POST", {"message": "fixed", "actor": "alice"}, ("id",)),
    Route("set_severity", "POST", {"severity": "SEV-2", "reason": "one region", "actor": "dan"}, ("id",)),
    Route("set_status", "POST", {"phase": "identified", "message": "bad deploy", "actor": "alice"}, ("id",)),
    Route("add_note", "POST", {"text": "rolled back", "actor": "alice"}, ("id",)),
    Route("approve_remediation", "POST", {"decision": "approve", "reason": "go", "actor": "cto"}, ("id", "rid")),
    Route("add_override", "POST", {"role": "primary", "person": "zoe", "start": "2026-11-27T00:00:00Z",
                                   "end": "2026-11-28T00:00:00Z", "reason": "swap", "actor": "alice"}),
    Route("remove_override", "DELETE", None, ("oid",)),
    Route("create_silence", "POST", {"match": {"alert_rule": "api-5xx", "tenant": "acme"},
                                     "start": "2026-11-27T02:00:00Z", "end": "2026-11-28T00:00:00Z",
                                     "reason": "deploy", "actor": "ops"}),
    Route("delete_silence", "DELETE", {"actor": "ops"}, ("sid",)),
    Route("list_incidents", "GET", None, query={"status": "triggered", "severity": "SEV-2",
                                                "since": "2026-11-27T00:00:00Z", "limit": "10",
                                                "continuation": "inc|73738872999998"}),
    Route("get_incident", "GET", None, ("id",), query={"timeline_limit": "50", "timeline_continuation": "0"}),
    Route("get_oncall", "GET", None),
    Route("list_silences", "GET", None),
    Route("get_communication", "GET", None, ("id", "template")),
    Route("get_postmortem", "GET", None, ("id",), query={"format": "json"}),
    Route("record_review", "POST", {"meeting": {"at": "2026-11-28T10:00:00Z", "attendees": ["ana", "bo"]},
                                    "root_cause": "a bad deploy", "action_items": [
                                        {"text": "add a canary", "owner": "ana", "due": "2026-12-10"}],
                                    "actor": "ana"}, ("id",)),
    Route("record_breach", "POST", {"personal_data": True, "aware_at": "2026-11-27T01:00:00Z", "actor": "sec"},
          ("id",)),
    Route("get_status", "GET", None),
    Route("get_status_html", "GET", None),
    Route("get_status_atom", "GET", None),
    Route("get_metrics", "GET", None, query={"since": "2026-10-01T00:00:00Z", "until": "2026-11-27T00:00:00Z",
                                            "format": "prometheus"}),
]
PARAM_TEXT = NASTY + ["INC-20261127-0001", "INC-20261127-0002", "INC-20261127-0003", "x" * 70_000,
                      "INC-" + "9" * 5000 + "-1", "INC-２０２６１１２７-0001", "INC-20261127-0001/../0002"]


@dataclass(frozen=True)
class Case:
    route: Route
    raw: bytes
    params: dict[str, str]
    query: dict[str, str]


# Route and query parameters arrive as URL text: odd, long, key-like, but never a lone surrogate
# (the host decodes the URL as UTF-8); st.text() draws none.
PARAM_VALUES = st.one_of(st.sampled_from(PARAM_TEXT), st.text(max_size=20))
ROUTE_CHOICE = st.sampled_from(ROUTES)


@st.composite
def operator_cases(draw: st.DrawFn, routes: list[Route] | None = None, known: dict[str, list[str]] | None = None
                   ) -> Case:
    """A hostile request for one of `routes`: body, route parameters and query parameters.

    `known` maps a route parameter (id, rid, oid, sid) to real ids, so damage also reaches live records."""
    known = known or {}
    route = draw(ROUTE_CHOICE if routes is None else st.sampled_from(routes))
    params = {}
    for p in route.params:
        real = known.get(p) or ["INC-20261127-0001"]
        params[p] = real[draw(st.integers(0, len(real) - 1))] if draw(st.booleans()) else draw(PARAM_VALUES)
    query = dict(route.query)
    for k in list(query):
        choice = draw(st.integers(0, 3))
        if choice == 0:
            del query[k]
        elif choice == 1:
            query[k] = draw(PARAM_VALUES)
    kind = draw(st.integers(0, 9))
    if kind == 0:
        raw = draw(WHOLE_BODIES)
    elif kind == 1 or route.body is None:
        raw = dumps(draw(VALUES)) if kind == 1 else (b"" if draw(st.booleans()) else dumps(draw(VALUES)))
    else:
        body = copy.deepcopy(route.body)
        for _ in range(draw(st.integers(1, 3))):
            names = [*body, "actor", "unknown\ud800", "match"]
            target = names[draw(st.integers(0, len(names) - 1))]
            action = draw(st.integers(0, 5))
            if action == 0:
                body.pop(target, None)
            elif action == 1 and isinstance(body.get(target), dict):
                body[target] = draw(mutate(body[target], rounds=2)) if body[target] else {}
            else:
                body[target] = draw(VALUES)
        raw = dumps(body) if draw(st.booleans()) else escaped(body)
    return Case(route, raw, params, query)
