"""FakeJira: a loopback stand-in for the Jira Cloud platform REST API v3, enough for JiraTickets.

    POST /rest/api/3/issue                       201 {"id", "key", "self"}
    GET  /rest/api/3/search/jql                  200 {"issues": [...], "isLast", ("nextPageToken")}
    POST /rest/api/3/issue/{key}/comment         201
    GET  /rest/api/3/issue/{key}/transitions     200 {"transitions": [{"id", "name", "to"}]}
    POST /rest/api/3/issue/{key}/transitions     204
    POST /rest/api/3/issueLink                   201 (also for a link that exists already: nothing is added)
    GET  /rest/api/3/issue/{key}?fields=status   200 {"id", "key", "fields": {"status": {"name", "statusCategory"}}}

Sources (developer.atlassian.com/cloud/jira/platform/...): rest/v3/api-group-issues/ (create: 201,
"400 ... missing required fields, contains invalid field values", "401 ... authentication credentials are
incorrect or missing"; transitions: GET lists the transitions the issue offers in its current status,
POST answers 204), rest/v3/api-group-issue-search/ (search/jql: `jql`, `fields`, `maxResults`, answer
`issues`/`isLast`/`nextPageToken`; unbounded JQL is refused with 400), rest/v3/api-group-issue-comments/,
apis/document/structure/ and apis/document/nodes/text/ (a doc is {"type": "doc", "version": 1,
"content"}; "text must not be empty"), rate-limiting/ (429 with Retry-After seconds). Jira's error body
is {"errorMessages": [...], "errors": {field: message}}; its messages here are Jira's words except where marked.
The 401 body is not documented; this fake answers plain text. Faults as in tests/fakes/pagerduty.py:
`fail_next` and `fault_pattern` answer before anything is processed, `lose_next` processes the request
(creates the issue) and drops the connection without an answer. `search_lag` hides the newest issues
from search, as Jira's eventually consistent search/jql may.

Links (rest/v3/api-group-issue-links/, "Create issue link"): the body is {"type": {"name"}, "inwardIssue":
{"key"}, "outwardIssue": {"key"}}, all three required; "If the link request duplicates a link, the response
indicates that the issue link was created" (201, no second link); link types Blocks and Duplicate as in the
sample of api-group-issue-link-types/, with Cloners and Relates, which Cloud sites also have by default (not
from the reference); the 400 and 404 wordings are assumed. Status
(rest/v3/api-group-issues/, "Get issue": `fields=status` returns that field only; api-group-workflow-status-
categories/ for StatusCategory {"id", "key", "colorName", "name"}): the category keys are those real sites
answer, "new" (To Do), "indeterminate" (In Progress) and "done" (Done), as in the answers quoted in
github.com/raycast/extensions/issues/12276 (the reference's samples show placeholder keys). `set_status` moves
an issue as a person in Jira would.
"""
from __future__ import annotations

import base64
import json
import re
import threading
from typing import Any
from urllib.parse import unquote

from tests.fakes.jira_wire import NOT_ADF, JiraHandler, errors as _errors, named as _named, not_adf, parse_jql
from tests.fakes.loopback import LoopbackFake

__all__ = ["FakeJira", "NOT_ADF", "NOT_FOUND", "PROJECT", "TOKEN", "USER", "not_adf", "parse_jql"]

USER, TOKEN, PROJECT = "ir-bot@example.com", "ATATT3xFakeJiraToken0000", "PROJ"
ISSUE_TYPES = ("Task", "Bug", "Incident")
PRIORITY_NAMES = ("Highest", "High", "Medium", "Low", "Lowest")
SUMMARY_MAX = 255
# status -> the transitions it offers: (id, name, to status)
WORKFLOW = {"To Do": (("21", "In Progress", "In Progress"), ("31", "Done", "Done")),
            "In Progress": (("11", "To Do", "To Do"), ("31", "Done", "Done")),
            "Done": (("41", "Reopen", "To Do"),)}
# status -> its category (id, key, colorName, name)
CATEGORIES = {"To Do": (2, "new", "blue-gray", "To Do"), "In Progress": (4, "indeterminate", "yellow", "In Progress"),
              "Done": (3, "done", "green", "Done")}
LINK_TYPES = ("Blocks", "Cloners", "Duplicate", "Relates")
CREATE_FIELDS = {"project", "summary", "issuetype", "priority", "labels", "description"}
NOT_FOUND = "Issue does not exist or you do not have permission to see it."


class FakeJira(LoopbackFake):
    def __init__(self, *, user: str = USER, token: str = TOKEN, project_key: str = PROJECT,
                 priority_on_screen: bool = True, search_lag: int = 0):
        self.user, self.token, self.project_key = user, token, project_key
        self.priority_on_screen = priority_on_screen   # False: "Field 'priority' cannot be set..."
        self.search_lag = search_lag                   # the newest N issues are not searchable yet
        self.lock = threading.RLock()
        self._issues: dict[str, dict[str, Any]] = {}
        self._faults: list[tuple[str, int, float | None, Any]] = []
        self._pattern: list[int | None] = []
        self._pattern_retry_after: float | None = None
        self.requests = 0
        self.answers: list[tuple[str, str, int]] = []   # (method, path, status); 0 = connection dropped
        self.queries: list[str] = []                     # the jql of every search received
        self._links: list[tuple[str, str, str]] = []     # (type, inward key, outward key)

    # ---- fault injection and inspection ------------------------------------------------------

    def fail_next(self, n: int = 1, *, status: int = 500, retry_after: float | None = None, body: Any = None) -> None:
        """Answer the next `n` requests with `status` (and Retry-After when given), before processing them."""
        with self.lock:
            self._faults += [("fail", status, retry_after, body)] * n

    def lose_next(self, n: int = 1) -> None:
        """Process the next `n` requests, then drop each connection without answering: a lost answer."""
        with self.lock:
            self._faults += [("lose", 0, None, None)] * n

    def fault_pattern(self, pattern: list[int | None], *, retry_after: float | None = None) -> None:
        """After the queued faults, answer requests by cycling through `pattern`: a status fails the request
        (before it is processed, with Retry-After when given); None answers it normally."""
        with self.lock:
            self._pattern, self._pattern_retry_after = list(pattern), retry_after

    @property
    def issues(self) -> list[dict[str, Any]]:
        """Every issue, oldest first: key, summary, issuetype, priority, labels, description, comments, status."""
        with self.lock:
            return json.loads(json.dumps(list(self._issues.values())))

    def issue(self, key: str) -> dict[str, Any]:
        return next(i for i in self.issues if i["key"] == key)

    def count(self, label: str | None = None) -> int:
        return sum(1 for i in self.issues if label is None or label in i["labels"])

    def links(self, key: str | None = None) -> list[tuple[str, str, str]]:
        """Every link (type, inward key, outward key), oldest first; with `key`, those of that issue."""
        with self.lock:
            return [link for link in self._links if key is None or key in link[1:]]

    def set_status(self, key: str, status: str) -> None:
        """Move the issue to `status` (a person working in Jira; no transition needed)."""
        with self.lock:
            assert status in CATEGORIES, status
            self._issues[key]["status"] = status

    def statuses(self, method: str, path_prefix: str = "") -> list[int]:
        with self.lock:
            return [s for m, p, s in self.answers if m == method and p.startswith(path_prefix)]

    # ---- the API -----------------------------------------------------------------------------

    def fault(self) -> tuple[str, int, float | None, Any] | None:
        with self.lock:
            self.requests += 1
            if self._faults:
                return self._faults.pop(0)
            if self._pattern:
                status = self._pattern[(self.requests - 1) % len(self._pattern)]
                return None if status is None else ("fail", status, self._pattern_retry_after, None)
            return None

    def authorized(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        try:
            given = base64.b64decode(encoded, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        return scheme == "Basic" and given == f"{self.user}:{self.token}"

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        with self.lock:
            if method == "POST" and path == "/rest/api/3/issue":
                return self._create(body)
            if method == "GET" and path == "/rest/api/3/search/jql":
                return self._search(query)
            if path == "/rest/api/3/search":   # retired in 2025 for search/jql: 410 Gone (wording not documented)
                return 410, _errors(["The requested API has been removed. Please migrate to /rest/api/3/search/jql."])
            if method == "POST" and path == "/rest/api/3/issueLink":
                return self._link(body)
            m = re.fullmatch(r"/rest/api/3/issue/([^/]+)(?:/(comment|transitions))?", path)
            if m is not None and m.group(2) is None and method == "GET":
                return self._get(m.group(1), query)
            if m is None or m.group(2) is None or method not in ("GET", "POST") or (m.group(2), method) == ("comment", "GET"):
                return 404, _errors(["null for uri: " + path])
            issue = self._issues.get(unquote(m.group(1)))
            if issue is None:
                return 404, _errors([NOT_FOUND])
            if m.group(2) == "comment":
                return self._comment(issue, body)
            return self._transition(issue, body) if method == "POST" else (200, {"transitions": [
                {"id": tid, "name": name, "to": {"name": to}, "hasScreen": False, "isAvailable": True}
                for tid, name, to in WORKFLOW[issue["status"]]]})

    def _create(self, body: Any) -> tuple[int, Any]:
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            return 400, _errors(["Can not deserialize the request: 'fields' is required."])
        errors = {name: f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
                  for name in fields if name not in CREATE_FIELDS or (name == "priority" and not self.priority_on_screen)}
        if _named(fields.get("project"), "key") != self.project_key:
            errors["project"] = "Specify a valid project ID or key"
        if not isinstance(fields.get("issuetype"), dict):
            errors["issuetype"] = "Specify an issue type"
        elif fields["issuetype"].get("name") not in ISSUE_TYPES:
            errors["issuetype"] = "The issue type selected is invalid."
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(summary) > SUMMARY_MAX:
            errors["summary"] = "Summary must be less than 255 characters."
        elif "\n" in summary or "\r" in summary:
            errors["summary"] = "The summary is invalid because it contains newline characters."
        priority = _named(fields.get("priority"), "name")
        if "priority" in fields and "priority" not in errors and priority not in PRIORITY_NAMES:
            errors["priority"] = f"Specify a valid priority name, not '{priority}'"   # wording assumed
        labels = fields.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            errors["labels"] = "Labels must be a list of strings"
        elif bad := [x for x in labels if not x or re.search(r"\s", x)]:
            errors["labels"] = f"The label '{bad[0]}' contains spaces which is invalid."
        if "description" in fields and not_adf(fields["description"]):
            errors["description"] = NOT_ADF
        if errors:
            return 400, _errors(fields=errors)
        number = len(self._issues) + 1
        key = f"{self.project_key}-{number}"
        self._issues[key] = {"id": str(10000 + number), "key": key, "summary": summary,
                             "issuetype": fields["issuetype"]["name"], "priority": priority,
                             "labels": list(dict.fromkeys(labels)), "description": fields.get("description"),
                             "comments": [], "status": "To Do"}
        return 201, {"id": str(10000 + number), "key": key, "self": f"{self.url}/rest/api/3/issue/{10000 + number}"}

    def _search(self, query: dict[str, str]) -> tuple[int, Any]:
        self.queries.append(query.get("jql", ""))
        try:
            clauses, order = parse_jql(query.get("jql", ""))
        except ValueError as e:
            return 400, _errors([str(e)])
        for value in (v for f, v in clauses if f == "project" and v != self.project_key):
            return 400, _errors([f"The value '{value}' does not exist for the field 'project'."])
        if order and order[0] not in ("created", "key"):
            return 400, _errors([f"Not able to sort using field '{order[0]}'."])
        limit = int(query["maxResults"]) if query.get("maxResults", "").isdigit() else 50
        visible = list(self._issues.values())[:max(0, len(self._issues) - self.search_lag)]
        found = [i for i in visible if all(v in i["labels"] for f, v in clauses if f == "labels")]
        if order and order[1] == "DESC":
            found.reverse()
        page = [{"id": i["id"], "key": i["key"], "self": f"{self.url}/rest/api/3/issue/{i['id']}", "fields": {}}
                for i in found[:limit]]
        more = {"nextPageToken": f"page-{limit}"} if len(found) > limit else {}
        return 200, {"issues": page, "isLast": not more, **more}

    def _get(self, key: str, query: dict[str, str]) -> tuple[int, Any]:
        issue = self._issues.get(unquote(key))
        if issue is None:
            return 404, _errors([NOT_FOUND])
        cid, ckey, color, cname = CATEGORIES[issue["status"]]
        fields = {"summary": issue["summary"], "labels": issue["labels"], "status": {
            "name": issue["status"], "statusCategory": {"id": cid, "key": ckey, "colorName": color, "name": cname}}}
        wanted = [f for f in query.get("fields", "*all").split(",") if f]
        return 200, {"id": issue["id"], "key": issue["key"], "self": f"{self.url}/rest/api/3/issue/{issue['id']}",
                     "fields": fields if "*all" in wanted else {f: fields[f] for f in wanted if f in fields}}

    def _link(self, body: Any) -> tuple[int, Any]:
        kind = _named(_named(body, "type"), "name")
        ends = [_named(_named(body, side), "key") for side in ("inwardIssue", "outwardIssue")]
        if kind is None or None in ends:
            return 400, _errors(["The issue link type and both issues (inwardIssue, outwardIssue) are required."])
        if kind not in LINK_TYPES:
            return 404, _errors([f"No issue link type with name '{kind}' found."])
        if any(key not in self._issues for key in ends):
            return 404, _errors([NOT_FOUND])
        if (kind, *ends) not in self._links:
            self._links.append((kind, ends[0], ends[1]))
        return 201, None

    def _comment(self, issue: dict[str, Any], body: Any) -> tuple[int, Any]:
        doc = _named(body, "body")
        if doc is None or (isinstance(doc, dict) and not doc.get("content")):
            return 400, _errors(fields={"comment": "Comment body can not be empty!"})
        if not_adf(doc):
            return 400, _errors(fields={"comment": NOT_ADF})
        issue["comments"].append(doc)
        return 201, {"id": str(len(issue["comments"])), "body": doc}

    def _transition(self, issue: dict[str, Any], body: Any) -> tuple[int, Any]:
        wanted = str(_named(_named(body, "transition"), "id") or "")
        target = next((to for tid, _, to in WORKFLOW[issue["status"]] if tid == wanted), None)
        if target is None:
            return 400, _errors([f"Transition id '{wanted}' is not valid for this issue."])
        issue["status"] = target
        return 204, None


FakeJira.handler = JiraHandler
