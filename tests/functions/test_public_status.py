"""The public status page through the registered functions on Azurite: GET status (JSON), status.html
and status.atom are anonymous, read only the published pub| rows, escape hostile text, survive a
malformed row, and never show an incident's internal fields."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import azure.functions as func

from shared import bootstrap
from shared.ports import Op
from shared.storage.repository import inverted, public_key
from tests.functions.make_status_screenshot import pub_row
from tests.payloads import metric_alert

ROUTES = {"get_status": "status", "get_status_html": "status.html", "get_status_atom": "status.atom"}
A = "{http://www.w3.org/2005/Atom}"
HOSTILE = "<script>alert(\"pwned\")</script> & 'quoted' \"title\""
HOSTILE_TEXT = "<img src=x onerror=alert(1)> </p><h1>fake</h1>"

OPEN = pub_row("Checkout is slow", "identified", "2026-11-27T02:10:00Z", services=["Checkout", "Payments API"],
               updates=[("2026-11-27T02:10:00Z", "investigating", "We are investigating slow checkouts."),
                        ("2026-11-27T02:40:00Z", "identified", "A bad configuration change was found.")])
RECENT = pub_row("Login errors", "resolved", "2026-11-20T04:00:00Z", resolved_at="2026-11-20T05:00:00Z",
                 impact="minor", services=["Sign-in"],
                 updates=[("2026-11-20T04:00:00Z", "investigating", "Some users cannot sign in."),
                          ("2026-11-20T05:00:00Z", "resolved", "Sign-in works again.")])
OLD = pub_row("Ancient outage", "resolved", "2026-11-01T03:00:00Z", resolved_at="2026-11-01T04:00:00Z",
              updates=[("2026-11-01T04:00:00Z", "resolved", "Long over.")])
ROWS = {"INC-20261127-0001": OPEN, "INC-20261120-0003": RECENT, "INC-20261101-0002": OLD}


def write(store, rows):
    store.commit(ops=[Op("upsert", public_key(inc), row) for inc, row in rows.items()])


def get(app, name: str) -> func.HttpResponse:
    req = func.HttpRequest(method="GET", url=f"http://127.0.0.1/api/{ROUTES[name]}", body=b"", headers={})
    return app.functions[name](req)


def answers(app) -> dict[str, func.HttpResponse]:
    return {name: get(app, name) for name in ROUTES}


class Page(HTMLParser):
    """Tags with attributes, and the text inside each tag of interest."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.open: list[str] = []
        self.text: dict[str, list[str]] = {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "link", "br"):
            self.open.append(tag)

    def handle_endtag(self, tag):
        if tag in self.open:
            while self.open.pop() != tag:
                pass

    def handle_data(self, data):
        for tag in set(self.open):
            self.text.setdefault(tag, []).append(data)

    def all(self, tag):
        return [a for t, a in self.tags if t == tag]

    def joined(self, tag) -> str:
        return "".join(self.text.get(tag, []))


def test_the_three_routes_are_anonymous_in_the_registry():
    import function_app
    function_app.app.functions_bindings = None  # get_functions() rejects names it has seen
    triggers = {f.get_function_name(): f.get_trigger() for f in function_app.app.get_functions()}
    for name, route in ROUTES.items():
        trigger = triggers[name]
        assert trigger.route == route and [str(getattr(m, "value", m)) for m in trigger.methods] == ["GET"]
        assert str(getattr(trigger.auth_level, "value", trigger.auth_level)).lower() == "anonymous"


def test_json_shows_open_and_recently_resolved_newest_first(app, table_store):
    write(table_store, ROWS)
    resp = get(app, "get_status")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    assert resp.headers["Cache-Control"] == "public, max-age=30"
    body = json.loads(resp.get_body())
    assert body["status"] == "degraded" and body["updated_at"] == "2026-11-27T02:40:00.000000Z"
    assert [i["title"] for i in body["incidents"]] == ["Checkout is slow", "Login errors"]
    current, recent = body["incidents"]
    assert set(current) == {"id", "title", "phase", "impact", "services", "started_at", "resolved_at",
                            "updated_at", "updates"}
    assert current["phase"] == "identified" and current["resolved_at"] is None
    assert current["services"] == ["Checkout", "Payments API"]
    assert [u["phase"] for u in current["updates"]] == ["identified", "investigating"]  # newest first
    assert recent["resolved_at"] == "2026-11-20T05:00:00.000000Z"
    assert len(current["id"]) == 12 and current["id"] != recent["id"]
    assert "INC-" not in resp.get_body().decode() and inverted("INC-20261127-0001") not in resp.get_body().decode()


def test_overall_status_is_outage_for_a_critical_open_incident_and_operational_without(app, table_store):
    assert json.loads(get(app, "get_status").get_body())["status"] == "operational"
    write(table_store, {"INC-20261120-0003": RECENT})
    assert json.loads(get(app, "get_status").get_body())["status"] == "operational"
    write(table_store, {"INC-20261127-0004": pub_row("Down", "investigating", "2026-11-27T02:55:00Z",
                                                      impact="critical")})
    assert json.loads(get(app, "get_status").get_body())["status"] == "outage"


def test_html_is_accessible_without_script(app, table_store):
    write(table_store, ROWS)
    resp = get(app, "get_status_html")
    assert resp.status_code == 200 and resp.mimetype == "text/html" and resp.charset == "utf-8"
    assert resp.headers["Cache-Control"] == "public, max-age=30"
    assert "script-src" not in resp.headers["Content-Security-Policy"]  # default-src 'none' covers scripts
    page = Page(resp.get_body().decode("utf-8"))
    assert page.all("html") == [{"lang": "en"}] and page.joined("title").strip()
    assert len(page.all("h1")) == 1 and not page.all("script")
    assert [a for a in page.all("link") if a.get("rel") == "alternate"] == [
        {"rel": "alternate", "type": "application/atom+xml", "title": "Service status (Atom feed)",
         "href": "http://127.0.0.1/api/status.atom"}]
    h2 = [t.strip() for t in page.text["h2"]]
    assert h2 == ["Current incidents", "Recent incidents"]
    assert len(page.all("article")) == 2
    assert "Checkout is slow" in page.joined("h3") and "Login errors" in page.joined("h3")
    assert "Ancient outage" not in resp.get_body().decode()
    words = page.joined("article")
    for text in ("Identified", "Investigating", "Resolved", "Checkout, Payments API", "Sign-in",
                 "A bad configuration change was found."):
        assert text in words
    assert words.index("A bad configuration change") < words.index("We are investigating")  # newest first
    times = [a["datetime"] for a in page.all("time")]
    assert "2026-11-27T02:10:00.000000Z" in times and "2026-11-20T05:00:00.000000Z" in times


def test_html_says_all_systems_operational_when_nothing_is_open(app, table_store):
    write(table_store, {"INC-20261120-0003": RECENT})
    page = Page(get(app, "get_status_html").get_body().decode())
    assert [t.strip() for t in page.text["h2"]] == ["All systems operational", "Recent incidents"]


def test_hostile_text_is_escaped_everywhere(app, table_store):
    write(table_store, {"INC-20261127-0005": pub_row(HOSTILE, "investigating", "2026-11-27T02:50:00Z",
                                                      services=["<b>API</b>"],
                                                      updates=[("2026-11-27T02:50:00Z", "investigating",
                                                                HOSTILE_TEXT + "\x01\x0b")])})
    out = answers(app)
    html = out["get_status_html"].get_body().decode()
    page = Page(html)
    assert not page.all("script") and not page.all("img") and not page.all("b") and len(page.all("h1")) == 1
    assert HOSTILE in page.joined("h3") and HOSTILE_TEXT in page.joined("article")  # shown as text
    assert "<script>" not in html and "<img" not in html
    feed = ET.fromstring(out["get_status_atom"].get_body())  # well-formed despite the control characters
    [entry] = feed.findall(f"{A}entry")
    assert entry.findtext(f"{A}title") == f"{HOSTILE} — Investigating"
    assert entry.findtext(f"{A}content") == HOSTILE_TEXT
    assert json.loads(out["get_status"].get_body())["incidents"][0]["title"] == HOSTILE


def test_atom_feed_has_one_entry_per_update(app, table_store):
    write(table_store, ROWS)
    resp = get(app, "get_status_atom")
    assert resp.status_code == 200 and resp.mimetype == "application/atom+xml"
    assert resp.headers["Cache-Control"] == "public, max-age=30"
    feed = ET.fromstring(resp.get_body())
    assert feed.tag == f"{A}feed" and feed.findtext(f"{A}id").startswith("urn:uuid:")
    assert feed.findtext(f"{A}title") and feed.findtext(f"{A}updated") == "2026-11-27T02:40:00.000000Z"
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{A}link")}
    assert links == {"self": "http://127.0.0.1/api/status.atom", "alternate": "http://127.0.0.1/api/status.html"}
    entries = feed.findall(f"{A}entry")
    assert [e.findtext(f"{A}title") for e in entries] == [
        "Checkout is slow — Identified", "Checkout is slow — Investigating",
        "Login errors — Resolved", "Login errors — Investigating"]
    for e in entries:
        assert e.findtext(f"{A}id").startswith("urn:uuid:") and e.findtext(f"{A}updated")
        assert e.find(f"{A}content").get("type") == "text" and e.findtext(f"{A}content")
        assert e.find(f"{A}link").get("href").startswith("http://127.0.0.1/api/status.html#incident-")
    ids = [e.findtext(f"{A}id") for e in entries]
    again = [e.findtext(f"{A}id") for e in ET.fromstring(get(app, "get_status_atom").get_body()).findall(f"{A}entry")]
    assert len(set(ids)) == 4 and again == ids  # deterministic: readers do not see duplicates


def test_links_use_public_base_url_when_set(app, table_store, settings):
    from dataclasses import replace
    bootstrap.override(settings=replace(settings, public_base_url="https://status.example.com"))
    feed = ET.fromstring(get(app, "get_status_atom").get_body())
    assert {link.get("rel"): link.get("href") for link in feed.findall(f"{A}link")}["self"] == \
        "https://status.example.com/api/status.atom"


def test_a_malformed_row_is_skipped_and_never_breaks_the_page(app, table_store, caplog):
    broken = {
        "INC-20261127-0007": {"title": "No start", "phase": "investigating"},
        "INC-20261127-0008": {**OPEN, "title": "Bad services", "services": "not json"},
        "INC-20261127-0009": {**OPEN, "title": "Bad phase", "phase": "on fire"},
        "INC-20261127-0010": {**OPEN, "title": 42},
        "INC-20261127-0011": {**OPEN, "title": "One bad update", "updates": json.dumps(
            [{"at": "yesterday", "phase": "identified", "text": "x"},
             {"at": "2026-11-27T02:45:00Z", "phase": "monitoring", "title": "t", "text": "Watching."}])},
    }
    write(table_store, {**ROWS, **broken})
    out = answers(app)
    assert {name: r.status_code for name, r in out.items()} == dict.fromkeys(ROUTES, 200)
    titles = [i["title"] for i in json.loads(out["get_status"].get_body())["incidents"]]
    assert titles == ["One bad update", "Checkout is slow", "Login errors"]
    assert len(ET.fromstring(out["get_status_atom"].get_body()).findall(f"{A}entry")) == 5
    assert "Watching." in out["get_status_html"].get_body().decode()
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("public status row")]
    assert len(logged) == 3 * 5 and len({m.split()[3] for m in logged}) == 5  # each route, each bad row


def test_a_store_outage_is_503_with_retry_after(memory_store, clock, settings):
    from tests.functions.conftest import App
    bootstrap.override(store=memory_store, clock=clock, settings=settings)
    memory_store.available = False
    for name, resp in answers(App()).items():
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "30", name
        assert json.loads(resp.get_body())["error"] == "unavailable"


LEAKS = {
    "arm": "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-leakcheck-zq9/providers/"
           "Microsoft.App/containerApps/ca-leakcheck-zq9",
    "tenant": "tenant-zanzibar-leakcheck-gmbh",
    "person": "priya-leakcheck-oncall",
    "rule": "rule-leakcheck-5xx-zq9",
    "error": "psycopg.OperationalError: leakcheck connection refused on 10.9.8.7",
}


def test_no_internal_field_of_the_incident_leaks(app, table_store):
    status, posted = app.call("post_alert", body=metric_alert("leak-1", target=LEAKS["arm"], rule=LEAKS["rule"],
                                                              custom={"tenants": LEAKS["tenant"]}))
    assert status == 202
    inc = posted["incident_id"]
    assert app.call("acknowledge_incident", body={"actor": LEAKS["person"]}, route={"id": inc})[0] == 200
    assert app.call("add_note", body={"actor": LEAKS["person"], "text": LEAKS["error"]}, route={"id": inc})[0] == 200
    held = json.dumps([dict(r.data) for r in table_store.scan(start="", end="~").records]).lower()
    assert [k for k, v in LEAKS.items() if v.lower() not in held] == []  # the store really holds them all
    write(table_store, {inc: pub_row("Elevated API errors", "investigating", "2026-11-27T03:00:00Z",
                                     services=["API"], updates=[("2026-11-27T03:00:00Z", "investigating",
                                                                 "Some requests fail; we are on it.")])})
    for name, resp in answers(app).items():
        text = resp.get_body().decode().lower()
        assert resp.status_code == 200 and "elevated api errors" in text, name
        leaked = [k for k, v in LEAKS.items() if v.lower() in text or v.lower().rsplit("/", 1)[-1] in text]
        assert leaked == [] and inc.lower() not in text and inverted(inc) not in text, (name, leaked)
        assert "leakcheck" not in text and "zq9" not in text, name
