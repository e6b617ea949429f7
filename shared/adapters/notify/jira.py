"""JiraTickets: the Tickets port on the Jira Cloud platform REST API v3, with Basic auth (email:API token).

    POST /rest/api/3/issue                      create          201 {"id", "key", "self"}
    GET  /rest/api/3/search/jql                 find            200 {"issues": [{"key", ...}], "isLast"}
    POST /rest/api/3/issue/{key}/comment        comment         201
    GET  /rest/api/3/issue/{key}/transitions    transition      200 {"transitions": [{"id", "name", "to"}]}
    POST /rest/api/3/issue/{key}/transitions    transition      204
    POST /rest/api/3/issueLink                  link            201 (a link that exists already: 201, nothing added)
    GET  /rest/api/3/issue/{key}?fields=status  status          200 {"fields": {"status": {"name", "statusCategory"}}}

Every call makes ONE attempt and never sleeps (the outbox owns the retry schedule); the only second
request is a create sent again without `priority` when Jira refused that field (it is not on the
project's create screen). HTTP failures and network errors come back in the Delivery, never raised:
status None when no answer came (a lost create answer: call `find` before creating again), the
Retry-After seconds of a 429 (or of a 5xx that carries one). `attempts` counts writes sent;
`history` has the status of every request. The API token and the Basic auth header never reach a
log line or a detail; Jira's own words (`errorMessages`, `errors`) are scrubbed of them anyway.

Search is eventually consistent since the 2025 move to /search/jql: "Recent updates might not be
immediately visible in the returned search results" (developer.atlassian.com/cloud/jira/platform/
rest/v3/api-group-issue-search/). A `find` seconds after a lost create may miss the new issue, so
the caller should give a lost create time before it concludes there is no ticket.
"""
from __future__ import annotations

import base64
import json
import logging
import re
from typing import Any
from urllib.parse import quote

import requests

from shared.adapters.notify.wire import retry_after as read_retry_after
from shared.ports import Delivery, Sent, Ticket

log = logging.getLogger(__name__)

SUMMARY_MAX = 255             # Jira: "Summary must be less than 255 characters."
LABEL_MAX = 255
TEXT_MAX = 32767              # Jira's default limit for a text field (description, comment body)
PRIORITIES = {"SEV-1": "Highest", "SEV-2": "High", "SEV-3": "Medium", "SEV-4": "Low"}
_DETAIL_MAX = 500
_JQL_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})


class JiraTickets:
    def __init__(self, *, base_url: str, user: str, api_token: str, project_key: str, issue_type: str = "Task",
                 session: requests.Session | None = None, timeout_s: float = 5.0):
        self._base = base_url.rstrip("/")
        # Built here, UTF-8: requests would encode (user, token) as latin-1 and raise on anything else.
        self._authorization = "Basic " + base64.b64encode(f"{user}:{api_token}".encode()).decode()
        self._secrets = _secret_forms(user, api_token)
        self._project = project_key
        self._issue_type = issue_type
        self._session = session
        self._timeout_s = timeout_s
        self._transitions: dict[tuple[str, str], tuple[str, str]] = {}   # (key, name) -> (id, name) found

    def __repr__(self) -> str:   # never the token
        return f"JiraTickets(base_url={self._base!r}, project_key={self._project!r})"

    # ---- the port -------------------------------------------------------------------------------

    def find(self, *, incident_id: str) -> Sent:
        """The oldest issue of the project labelled with the incident id; ref "" (and ok) when none."""
        label = issue_label(incident_id)
        if not label:
            return Sent(Delivery(ok=False, attempts=0, status=None, detail="incident_id is required"))
        params = {"jql": find_jql(self._project, label), "fields": "key", "maxResults": "1"}
        got = self._call("GET", "/rest/api/3/search/jql", params=params)
        issues = got.json.get("issues") if got.ok and isinstance(got.json, dict) else None
        first = issues[0] if isinstance(issues, list) and issues and isinstance(issues[0], dict) else {}
        key = str(first.get("key") or "")
        detail = (key or "no ticket") if got.ok else None
        return Sent(self._done("find", [got], attempts=1, detail=detail, extra={"incident_id": incident_id}), ref=key)

    def create(self, *, ticket: Ticket) -> Sent:
        """POST the issue. A 400 naming `priority` (not on the create screen, unknown name) is sent again
        once without it, and the detail says so. ref: the new key."""
        fields = issue_fields(ticket, project_key=self._project, issue_type=self._issue_type)
        got = self._call("POST", "/rest/api/3/issue", body={"fields": fields})
        answers, note = [got], ""
        if got.status == 400 and "priority" in fields and "priority" in _field_errors(got.json):
            refused = fields.pop("priority")["name"]
            note = f"priority {refused} refused ({_field_errors(got.json)['priority']}): sent without it"
            got = self._call("POST", "/rest/api/3/issue", body={"fields": fields})
            answers.append(got)
        key = str(got.json.get("key") or "") if got.ok and isinstance(got.json, dict) else ""
        detail = "; ".join(d for d in (note, key if got.ok else got.text) if d)
        return Sent(self._done("create", answers, attempts=len(answers), detail=detail,
                               extra={"incident_id": ticket.incident_id}), ref=key)

    def comment(self, *, key: str, text: str) -> Delivery:
        if not text.strip():   # Jira refuses an empty comment body; not worth a request
            return Delivery(ok=False, attempts=0, status=None, detail="empty comment")
        got = self._call("POST", f"/rest/api/3/issue/{_path(key)}/comment", body={"body": adf(text)})
        return self._done("comment", [got], attempts=1, extra={"ticket": key})

    def transition(self, *, key: str, name: str) -> Delivery:
        """Apply the transition named `name` (case-insensitive; or the one leading to a status of that
        name) that the issue offers now; 404 naming the offered ones when there is none. The id found is
        kept, so a retry after a failed POST is one request, not a GET and a POST again."""
        path = f"/rest/api/3/issue/{_path(key)}/transitions"
        extra = {"ticket": key}
        known = self._transitions.get((key, name.strip().casefold()))
        if known is not None:
            done = self._call("POST", path, body={"transition": {"id": known[0]}})
            if done.ok:
                self._transitions.pop((key, name.strip().casefold()), None)
            if done.status != 400:           # 400: the workflow moved on; look the transitions up again
                return self._done("transition", [done], attempts=1, extra=extra,
                                  detail=f"{known[1]} (id {known[0]})" if done.ok else None)
            self._transitions.pop((key, name.strip().casefold()), None)
        offered = self._call("GET", path)
        if not offered.ok:
            return self._done("transition", [offered], attempts=0, extra=extra)
        listed = offered.json.get("transitions") if isinstance(offered.json, dict) else None
        choices = [t for t in listed or [] if isinstance(t, dict) and t.get("id") and isinstance(t.get("name"), str)]
        wanted = name.strip().casefold()
        match = next((t for t in choices if t["name"].casefold() == wanted), None) or next(
            (t for t in choices if str((t.get("to") or {}).get("name", "")).casefold() == wanted), None)
        if match is None:
            names = ", ".join(t["name"] for t in choices) or "none"
            return self._done("transition", [offered], attempts=0, extra=extra, missing=(
                f"{key} has no transition {name!r} now; it offers: {names}"))
        done = self._call("POST", path, body={"transition": {"id": str(match["id"])}})
        if not done.ok:                      # kept for the retry only: a later call lists them afresh
            self._transitions[(key, wanted)] = (str(match["id"]), match["name"])
        return self._done("transition", [offered, done], attempts=1, extra=extra,
                          detail=f"{match['name']} (id {match['id']})" if done.ok else None)

    def link(self, *, inward: str, outward: str, kind: str = "Relates") -> Delivery:
        """Link the two issues with the link type named `kind`. Jira answers a duplicate link as created and adds
        nothing (api-group-issue-links), so a retry after a lost answer is harmless."""
        body = {"type": {"name": kind}, "inwardIssue": {"key": inward.strip()}, "outwardIssue": {"key": outward.strip()}}
        got = self._call("POST", "/rest/api/3/issueLink", body=body)
        return self._done("link", [got], attempts=1, extra={"ticket": inward},
                          detail=f"{inward} {kind.lower()} {outward}" if got.ok else None)

    def status(self, *, key: str) -> Sent:
        """The issue's status: ref its category key ("new", "indeterminate", "done"; the status name when the
        answer has none), the detail its name."""
        got = self._call("GET", f"/rest/api/3/issue/{_path(key)}", params={"fields": "status"})
        fields = got.json.get("fields") if got.ok and isinstance(got.json, dict) else None
        status = fields.get("status") if isinstance(fields, dict) else None
        name = str(status.get("name") or "") if isinstance(status, dict) else ""
        category = status.get("statusCategory") if isinstance(status, dict) else None
        ref = (str(category.get("key") or "") if isinstance(category, dict) else "") or name
        detail = (name or "no status in the answer") if got.ok else None
        return Sent(self._done("status", [got], attempts=1, detail=detail, extra={"ticket": key}), ref=ref)

    # ---- HTTP ---------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, params: dict[str, str] | None = None,
              body: dict[str, Any] | None = None) -> "_Answer":
        headers = {"Accept": "application/json", "Authorization": self._authorization}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        try:
            resp = self._http().request(method, self._base + path, params=params, data=data, headers=headers,
                                        timeout=self._timeout_s, allow_redirects=False)
        except (requests.ConnectionError, requests.Timeout) as e:
            return _Answer(None, None, f"network error: {type(e).__name__}", None, type(e).__name__)
        except requests.RequestException as e:   # a bad URL and the like
            return _Answer(None, None, f"request failed: {type(e).__name__}", None, type(e).__name__)
        try:
            parsed: Any = resp.json()
        except ValueError:
            parsed = None
        retry_after = read_retry_after(resp) if resp.status_code == 429 or resp.status_code >= 500 else None
        return _Answer(resp.status_code, parsed, _answer_text(resp, parsed), retry_after)

    def _http(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
        return self._session

    def _done(self, op: str, answers: list["_Answer"], *, attempts: int, extra: dict[str, str],
              detail: str | None = None, missing: str = "") -> Delivery:
        """The Delivery for the last answer; `missing` turns it into a 404 of ours (no such transition)."""
        last = answers[-1]
        ok, status = (False, 404) if missing else (last.ok, last.status)
        text = self._scrub(missing or (detail if detail is not None else last.text))[:_DETAIL_MAX]
        log.log(logging.INFO if ok else logging.WARNING, "jira %s %s: %s, status %s", op,
                next(iter(extra.values())), "done" if ok else "failed", status, extra=extra)
        return Delivery(ok=ok, attempts=attempts, status=status, detail=text,
                        history=tuple(a.label for a in answers), retry_after=None if ok else last.retry_after)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[secret]")
        return text


class _Answer:
    """One request's outcome: status None when no answer came (then `label` names the exception)."""
    __slots__ = ("status", "json", "text", "retry_after", "label")

    def __init__(self, status: int | None, parsed: Any, text: str, retry_after: float | None, label: str = ""):
        self.status, self.json, self.text, self.retry_after = status, parsed, text, retry_after
        self.label = label or str(status)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


# ---- the request bodies, pure ------------------------------------------------------------------

def issue_fields(ticket: Ticket, *, project_key: str, issue_type: str) -> dict[str, Any]:
    """The `fields` of POST /rest/api/3/issue. The summary is one line of at most 255 characters (Jira
    refuses newlines in it); the incident id is always among the labels, which Jira wants without spaces."""
    summary = " ".join(ticket.summary.split()) or ticket.incident_id
    if len(summary) > SUMMARY_MAX:
        summary = summary[:SUMMARY_MAX - 1] + "…"
    labels = list(dict.fromkeys(label for label in map(issue_label, (ticket.incident_id, *ticket.labels)) if label))
    fields: dict[str, Any] = {"project": {"key": project_key}, "summary": summary,
                              "issuetype": {"name": issue_type}, "labels": labels}
    if ticket.severity in PRIORITIES:
        fields["priority"] = {"name": PRIORITIES[ticket.severity]}
    if ticket.description.strip():
        fields["description"] = adf(ticket.description)
    return fields


def issue_label(value: str) -> str:
    """A Jira label for `value`: whitespace becomes "_" (labels cannot contain spaces), at most 255 characters."""
    return re.sub(r"\s", "_", value.strip())[:LABEL_MAX]


def find_jql(project_key: str, label: str) -> str:
    """The search `find` sends. Both values are JQL string literals, so no label can widen the query."""
    return f"project = {jql_string(project_key)} AND labels = {jql_string(label)} ORDER BY created ASC"


def jql_string(value: str) -> str:
    return '"' + value.translate(_JQL_ESCAPES) + '"'


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format doc: one paragraph per blank-line-separated block, a
    hardBreak for each single newline. Text nodes are never empty (ADF forbids it)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if len(text) > TEXT_MAX:
        text = text[:TEXT_MAX - 1] + "…"
    paragraphs = []
    for block in re.split(r"\n(?:[ \t]*\n)+", text) if text.strip() else []:
        content: list[dict[str, Any]] = []
        for i, line in enumerate(block.split("\n")):
            if i:
                content.append({"type": "hardBreak"})
            if line:
                content.append({"type": "text", "text": line})
        paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}


# ---- Jira's answers ----------------------------------------------------------------------------

def _answer_text(resp: requests.Response, parsed: Any) -> str:
    """Jira's own words: `errorMessages` and `errors` of its JSON answer, else the status line."""
    head = f"{resp.status_code} {resp.reason or ''}".strip()
    if not isinstance(parsed, dict):
        return head
    parts = [str(m) for m in parsed.get("errorMessages") or [] if m]
    parts += [f"{name}: {message}" for name, message in _field_errors(parsed).items()]
    return f"{head}: {'; '.join(parts)}" if parts else head


def _field_errors(parsed: Any) -> dict[str, str]:
    errors = parsed.get("errors") if isinstance(parsed, dict) else None
    return {str(k): str(v) for k, v in errors.items()} if isinstance(errors, dict) else {}


def _path(key: str) -> str:
    return quote(key.strip(), safe="")


def _secret_forms(user: str, token: str) -> tuple[str, ...]:
    """The token as is, URL-encoded and JSON-escaped, and the Basic credentials (longest first)."""
    if not token:
        return ()
    basic = base64.b64encode(f"{user}:{token}".encode()).decode()
    forms = {token, quote(token, safe=""), json.dumps(token)[1:-1], basic, f"Basic {basic}"}
    return tuple(sorted(forms, key=len, reverse=True))
