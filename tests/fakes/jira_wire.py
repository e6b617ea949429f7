"""FakeJira's wire: the request shapes it checks (the ADF subset JiraTickets writes, the JQL it sends), its
error bodies, and the HTTP handler that applies the injected faults before handing a request to the fake.

Sources as in tests/fakes/jira.py (apis/document/structure/, apis/document/nodes/text/, api-group-issue-search/).
"""
from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

NOT_ADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
_ONE = r'(project|labels)\s*=\s*("(?:[^"\\]|\\.)*"|[A-Za-z0-9_.]+)'   # field = "string literal" | word
_CLAUSE = re.compile(_ONE, re.I | re.S)
_JQL = re.compile(rf"\s*(?P<where>{_ONE}(?:\s+AND\s+{_ONE})*)"
                  r"(?:\s+ORDER\s+BY\s+(?P<field>\w+)(?:\s+(?P<dir>ASC|DESC))?)?\s*", re.I | re.S)
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t"}


def named(value: Any, attr: str) -> Any:
    return value.get(attr) if isinstance(value, dict) else None


def errors(messages: list[str] | None = None, fields: dict[str, str] | None = None) -> dict[str, Any]:
    """Jira's error body: {"errorMessages": [...], "errors": {field: message}}."""
    return {"errorMessages": messages or [], "errors": fields or {}}


def not_adf(doc: Any) -> bool:
    """True when `doc` is not the ADF subset JiraTickets writes: a doc of paragraphs holding non-empty
    text nodes and hardBreaks ("text must not be empty": apis/document/nodes/text/)."""
    def inline_ok(n: Any) -> bool:
        return isinstance(n, dict) and (n.get("type") == "hardBreak" or (
            n.get("type") == "text" and isinstance(n.get("text"), str) and n["text"] != ""))

    def block_ok(b: Any) -> bool:
        return isinstance(b, dict) and b.get("type") == "paragraph" and isinstance(b.get("content", []), list) \
            and all(inline_ok(n) for n in b.get("content", []))
    return not (isinstance(doc, dict) and doc.get("type") == "doc" and doc.get("version") == 1
                and isinstance(doc.get("content"), list) and all(block_ok(b) for b in doc["content"]))


def parse_jql(jql: str) -> tuple[list[tuple[str, str]], tuple[str, str] | None]:
    """The `project|labels = value [AND ...] [ORDER BY field [ASC|DESC]]` form JiraTickets sends: its clauses
    (string literals unescaped) and its ORDER BY. ValueError for anything else, an unbounded query included."""
    m = _JQL.fullmatch(jql)
    if m is None:
        raise ValueError("Error in the JQL Query: this fake takes only 'project|labels = value [AND ...] "
                         "[ORDER BY field [ASC|DESC]]'; unbounded queries are refused.")
    clauses = [(field.lower(), re.sub(r"\\(.)", lambda e: _UNESCAPE.get(e[1], e[1]), value[1:-1], flags=re.S)
                if value.startswith('"') else value) for field, value in _CLAUSE.findall(m["where"])]
    return clauses, (m["field"].lower(), (m["dir"] or "ASC").upper()) if m["field"] else None


class JiraHandler(BaseHTTPRequestHandler):
    fake: Any                        # the FakeJira (tests/fakes/jira.py)
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True   # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def log_message(self, *args: Any) -> None:
        pass

    def _any(self) -> None:
        fake, split = self.fake, urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        fault = fake.fault()
        headers: dict[str, str] = {}
        if fault and fault[0] == "fail":
            status, payload = fault[1], fault[3] if fault[3] is not None else errors([f"injected {fault[1]}"])
            if fault[2] is not None:
                headers["Retry-After"] = f"{fault[2]:g}"
        elif not fake.authorized(self.headers.get("Authorization", "")):
            status, payload = 401, "Client must be authenticated to access this resource."
        else:
            try:
                body = json.loads(raw) if raw else None
            except (UnicodeDecodeError, json.JSONDecodeError):
                status, payload = 400, errors(["Unexpected character in the request body: not JSON"])
            else:
                status, payload = fake.handle(self.command, split.path, query, body)
        with fake.lock:
            fake.answers.append((self.command, split.path, 0 if fault and fault[0] == "lose" else status))
        if fault and fault[0] == "lose":
            self.close_connection = True
            self.connection.close()
            return
        data = b"" if status == 204 or payload is None else (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", "text/plain" if isinstance(payload, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _any
