"""Sample public status rows, and headless Chromium over the local host: the status page's picture.

    .venv/bin/python -m tests.functions.make_status_screenshot [OUT]   # default docs/status-page.png

serves the real app (devhost, loopback, in-memory store, a fixed clock) with the sample rows and has
Debian's Chromium take a 1000x900 screenshot of GET /api/status.html with JavaScript disabled.
tests/functions/test_status_page_chromium.py uses the same pieces.

JavaScript is disabled through the profile's content setting (javascript: 2 = block) rather than
`--blink-settings=scriptEnabled=false`: with that switch Chromium's headless mode (150) writes no
DOM for --dump-dom and no file for --screenshot, and still exits 0.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pub_row(title: str, phase: str, started_at: str, *, resolved_at: str = "", impact: str = "major",
            services: list[str] | None = None, updates: list[tuple[str, str, str]] = ()) -> dict[str, Any]:
    """A pub|<inv> row as shared/services/repository.py lays it out; updates as (at, phase, text), oldest first."""
    return {"title": title, "phase": phase, "impact": impact, "services": json.dumps(services or []),
            "started_at": started_at, "resolved_at": resolved_at,
            "updated_at": max([started_at, resolved_at, *(u[0] for u in updates)]),
            "updates": json.dumps([{"at": a, "phase": p, "title": title, "text": t} for a, p, t in updates])}


# incident id -> its public row: two open incidents and one resolved three days ago.
SAMPLE = {
    "INC-20261127-0002": pub_row(
        "Card payments failing at checkout", "identified", at(50), services=["Checkout", "Payments API"],
        updates=[(at(50), "investigating", "We are investigating reports of failed card payments at checkout."),
                 (at(20), "identified", "A faulty configuration change was identified. A fix is being rolled out.")]),
    "INC-20261127-0003": pub_row(
        "Delayed email notifications", "investigating", at(12), impact="minor", services=["Notifications"],
        updates=[(at(12), "investigating", "Some notification emails are arriving late. We are looking into it.")]),
    "INC-20261124-0001": pub_row(
        "Sign-in errors for some users", "resolved", at(3 * 1440 + 90), resolved_at=at(3 * 1440),
        services=["Sign-in"],
        updates=[(at(3 * 1440 + 90), "investigating", "Some users see an error when signing in."),
                 (at(3 * 1440 + 40), "monitoring", "A fix has been deployed; we are monitoring the results."),
                 (at(3 * 1440), "resolved", "Sign-in works normally again for all users.")]),
}


def write_sample(store: Any) -> None:
    from shared.ports import Op
    from shared.storage.repository import public_key
    store.commit(ops=[Op("upsert", public_key(inc), row) for inc, row in SAMPLE.items()])


def chromium() -> str | None:
    """Debian's Chromium (`apt-get install chromium`), or Ubuntu's name for it; None when absent."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def run_chromium(binary: str, profile: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    """One headless Chromium run on a fresh profile with JavaScript blocked (see the module docstring)."""
    (profile / "Default").mkdir(parents=True, exist_ok=True)
    (profile / "Default" / "Preferences").write_text(
        json.dumps({"profile": {"default_content_setting_values": {"javascript": 2}}}))
    return subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", *args], check=False,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def screenshot(binary: str, url: str, out: Path, workdir: Path) -> subprocess.CompletedProcess:
    return run_chromium(binary, workdir / "profile-shot", f"--screenshot={out}", "--window-size=1000,900",
                        "--hide-scrollbars", url)


def main(argv: list[str]) -> int:
    import function_app
    from devhost.server import serve
    from shared import bootstrap
    from shared.adapters.clock import FixedClock
    from shared.adapters.memory import InMemoryRecordStore
    from shared.config import Settings
    binary = chromium()
    if binary is None:
        print("chromium not found: apt-get install chromium", file=sys.stderr)
        return 1
    out = Path(argv[0]) if argv else ROOT / "docs" / "status-page.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    store = InMemoryRecordStore()
    write_sample(store)
    bootstrap.override(store=store, settings=Settings.from_env({}))
    host = serve(function_app.app, port=0, timers=False, key="screenshot-only", clock=FixedClock(NOW))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            done = screenshot(binary, f"{host.url}/api/status.html", out, Path(tmp))
    finally:
        host.stop()
        bootstrap.reset()
    if done.returncode != 0 or not out.exists():
        print(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
