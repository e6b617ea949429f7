"""The public status page in a real browser: Debian's headless Chromium, JavaScript blocked, loads
GET /api/status.html from the real app on the local host (loopback, Azurite, no function key) and
shows every incident, phase and update; its screenshot is a 1000x900 PNG.

Chromium is required, never skipped: .ci/run installs it (apt-get install chromium)."""
from __future__ import annotations

import struct
from html.parser import HTMLParser

import pytest
import requests

from tests.functions.make_status_screenshot import NOW, SAMPLE, chromium, run_chromium, screenshot, write_sample


def browser() -> str:
    binary = chromium()
    if binary is None:
        pytest.fail("headless Chromium is required and was not found on PATH (chromium or chromium-browser): "
                    "install Debian's package with `apt-get install chromium` (.ci/run does)", pytrace=False)
    return binary


class Text(HTMLParser):
    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.words: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.words.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.words).split())


@pytest.fixture
def served(app, table_store):
    import function_app
    from devhost.server import serve
    from shared.adapters.clock import FixedClock
    write_sample(table_store)
    host = serve(function_app.app, port=0, timers=False, key="k-not-sent", clock=FixedClock(NOW))
    try:
        assert host.url.startswith("http://127.0.0.1:")
        yield f"{host.url}/api/status.html"
    finally:
        host.stop()


def test_chromium_shows_the_page_with_javascript_blocked(served, tmp_path):
    binary = browser()
    resp = requests.get(served, timeout=10)  # no key: the route is anonymous on the host too
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert resp.headers["Cache-Control"] == "public, max-age=30"

    canary = run_chromium(binary, tmp_path / "profile-canary", "--dump-dom",
                          "data:text/html,<p>page</p><script>document.write('JS-RAN')</script>")
    assert canary.returncode == 0 and "<p>page</p>" in canary.stdout, canary.stderr[-2000:]
    assert "JS-RAN" not in canary.stdout.replace("document.write('JS-RAN')", "")  # the profile blocks scripts

    dumped = run_chromium(binary, tmp_path / "profile-dom", "--dump-dom", served)
    assert dumped.returncode == 0 and dumped.stdout.strip(), dumped.stderr[-2000:]
    dom = Text(dumped.stdout)
    assert "script" not in dom.tags and dom.tags.count("h1") == 1 and dom.tags.count("article") == 3
    for title in (row["title"] for row in SAMPLE.values()):
        assert title in dom.text
    for words in ("Current incidents", "Recent incidents", "Investigating", "Identified", "Monitoring",
                  "Resolved", "Checkout, Payments API", "A faulty configuration change was identified."):
        assert words in dom.text, words
    assert dom.text.index("Card payments failing") < dom.text.index("Sign-in errors")  # current before recent

    shot = tmp_path / "status-page.png"
    done = screenshot(binary, served, shot, tmp_path)
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (1000, 900)
    assert len(png) > 20_000  # a rendered page, not a blank frame
