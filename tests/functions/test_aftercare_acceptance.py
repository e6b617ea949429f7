"""The acceptance of "Post-incident review, GDPR breach clock, metrics and noise control" on the local host:
the real function_app served by devhost over HTTP on a real Azurite, its clock 120 times faster than real
time, PagerDuty configured to a loopback fake (chat, tickets and the status page unconfigured). A SEV-1 on
the API container app is acknowledged, annotated, said to be identified and resolved over HTTP. Then the
review is pending with its meeting due 48 hours after the resolution; the post-mortem draft is the
runbook's report template (section 6) filled with the incident's real timeline, and `incidentctl
postmortem` prints the same Markdown; the metrics count the incident with its MTTA and MTTR in app-clock
seconds, as JSON, in the Prometheus text format and in `incidentctl metrics`.

The host's clock is scaled wall-clock time, so the test waits for conditions with deadlines in real
seconds. `WRITE_SAMPLE=1` also writes the report this run rendered to docs/postmortem-sample.md.
"""
from __future__ import annotations

import io
import json
import os
import re
import time
from datetime import timedelta
from pathlib import Path

import requests

from devhost.server import serve
from shared import bootstrap
from shared.config import Settings
from shared.domain.timeutil import parse_iso
from tests.fakes.pagerduty import FakePagerDuty
from tests.harness import KEYS
from tests.payloads import CORE_SETTINGS, metric_alert

SCALE = 120
MARGIN_S = 3.0          # real seconds added to every wait (6 app-minutes at 120x)
FUNCTION_KEY = "fk-Aftercare+Accept/=0042"
LEAD, SCRIBE = "zoe", "yan"   # not on the rotation: the lead is whoever acknowledged, not the primary paged
NOTE = "Error rate on ca-procgenie-api jumped to 40% right after revision v42 went live"
IDENTIFIED = "A bad deployment of the API (revision v42); rolling back to v41"
SECTIONS = ["Summary", "Timeline", "Root Cause", "Impact", "What Went Well", "What Needs Improvement",
            "Action Items", "Lessons Learned"]     # the runbook's Post-Incident Report Template, in order
SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "postmortem-sample.md"


class LocalHost:
    """The local host at SCALE on a table of its own, PagerDuty pointed at the fake."""

    def __init__(self, azurite, pd: FakePagerDuty):
        import function_app
        env = {**CORE_SETTINGS, "TABLES_CONNECTION_STRING": azurite.connection_string,
               "TABLE_NAME": f"aftercare{os.getpid()}", "ESCALATION_SCHEDULE": "*/10 * * * * *",
               "PAGERDUTY_EVENTS_URL": pd.url, "PAGERDUTY_ROUTING_KEYS": json.dumps(KEYS)}
        bootstrap.override(settings=Settings.from_env(env))
        self.host = serve(function_app.app, port=0, time_scale=SCALE, key=FUNCTION_KEY,
                          environ={"ESCALATION_SCHEDULE": env["ESCALATION_SCHEDULE"]})
        self.api = f"{self.host.url}/api"

    def call(self, method: str, route: str, body: dict | None = None, **params: str) -> requests.Response:
        r = requests.request(method, f"{self.api}/{route}", json=body, params=params, timeout=10,
                             headers={"x-functions-key": FUNCTION_KEY})
        assert r.status_code in (200, 201, 202), (method, route, r.status_code, r.text[:500])
        return r

    def ctl(self, *argv: str) -> str:
        """What `python -m incidentctl ARGV` prints against this host; its `now` is the app's clock (as in
        test_incidentctl_e2e), so that `--since 1d` means the same instant to both."""
        from incidentctl.__main__ import main
        out, err = io.StringIO(), io.StringIO()
        env = {"INCIDENT_API_URL": self.api, "FUNCTIONS_KEY": FUNCTION_KEY, "INCIDENT_ACTOR": "erin"}
        code = main(list(argv), env=env, stdout=out, stderr=err, now=self.host.clock.now)
        assert code == 0, (argv, code, err.getvalue())
        return out.getvalue()


def wait(what: str, check, *, app_minutes: float):
    """Poll check() until it holds and return its value; give up after `app_minutes` at SCALE plus MARGIN_S."""
    deadline = time.monotonic() + app_minutes * 60 / SCALE + MARGIN_S
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not seen within {app_minutes:g} app-minutes (+{MARGIN_S:g} real seconds)")


def section(report: str, name: str) -> list[str]:
    """The non-blank lines of one `## name` section of the report."""
    body = report.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in body.splitlines() if line.strip()]


def first(timeline: list[dict], kind: str, text: str = "") -> dict:
    found = [e for e in timeline if e["kind"] == kind and e["text"].startswith(text)]
    assert found, f"no {kind} event starting {text!r} in the incident's timeline"
    return found[0]


def clock_text(seconds: int) -> str:
    """A duration as incidentctl shows one under an hour: `48s`, `3m 08s`."""
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def test_a_resolved_sev1_has_its_review_report_and_metrics_on_the_local_host_at_120x(azurite):
    with FakePagerDuty() as pd:
        local = LocalHost(azurite, pd)
        try:
            fired = local.host.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
            inc = local.call("POST", "alerts", metric_alert("pir1", severity="Sev0", fired=fired, custom={
                "impact": "core", "scope": "all", "tenants": "contoso,fabrikam"})).json()["incident_id"]
            wait("the primary paged", lambda: pd.count("trigger", f"{inc}.primary"), app_minutes=2)
            local.call("POST", f"incidents/{inc}/acknowledge", {"actor": LEAD})
            local.call("POST", f"incidents/{inc}/notes", {"actor": SCRIBE, "text": NOTE})
            opened = parse_iso(local.call("GET", f"incidents/{inc}").json()["created_at"])
            wait("the acknowledgment sent to PagerDuty", lambda: pd.count("acknowledge", f"{inc}.primary"),
                 app_minutes=2)
            wait("three app-minutes of sweeps", lambda: local.host.clock.now() - opened > timedelta(minutes=3),
                 app_minutes=3)
            local.call("POST", f"incidents/{inc}/status", {"actor": LEAD, "phase": "identified", "message": IDENTIFIED})
            local.call("POST", f"incidents/{inc}/resolve", {"actor": LEAD})
            wait("the resolution sent to PagerDuty", lambda: pd.count("resolve", f"{inc}.primary"), app_minutes=2)
            shown = local.call("GET", f"incidents/{inc}").json()
            answer = local.call("GET", f"incidents/{inc}/postmortem")
            printed = local.ctl("postmortem", inc)
            since = (opened - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            metrics = local.call("GET", "metrics", since=since).json()
            prom = local.call("GET", "metrics", since=since, format="prometheus")
            table = local.ctl("metrics", "--since", "1d")
        finally:
            local.host.stop()
    created, acked, resolved = (parse_iso(shown[k]) for k in ("created_at", "acknowledged_at", "resolved_at"))
    assert created == opened and created < acked < resolved

    # pages delivered: the primary triggered, then told of the acknowledgment and the resolution; nobody else
    assert [(e["event_action"], e["dedup_key"]) for e in pd.events] == [
        ("trigger", f"{inc}.primary"), ("acknowledge", f"{inc}.primary"), ("resolve", f"{inc}.primary")]

    # the review clock: a SEV-1's meeting is due 48 hours after the resolution (both kept to the second)
    pir = shown["pir"]
    assert (pir["status"], pir["required"], pir["meeting"]) == ("pending", True, None)
    assert parse_iso(pir["due_at"]) == resolved.replace(microsecond=0) + timedelta(hours=48), (pir, resolved)
    assert timedelta(0) <= resolved + timedelta(hours=48) - parse_iso(pir["due_at"]) < timedelta(seconds=1)

    # the post-mortem: Markdown, the runbook's template, and incidentctl prints it byte for byte
    report = answer.text
    assert answer.headers["Content-Type"].startswith("text/markdown")
    assert printed == report and report.endswith("\n")
    multi_day = created.date() != resolved.date()     # the report then dates its timeline lines
    hhmm = (lambda t: t.strftime("%m-%d %H:%M")) if multi_day else (lambda t: t.strftime("%H:%M"))
    stamp = "%Y-%m-%d %H:%M UTC"
    minutes = int((resolved - created).total_seconds() // 60)
    assert report.splitlines()[:6] == [
        f"# Post-Incident Report: {shown['title']}", "",
        f"**Date:** {created:%Y-%m-%d}",
        f"**Duration:** {created.strftime(stamp)} to {resolved.strftime(stamp)} ({minutes} min)",
        "**Severity:** SEV-1", f"**Lead:** {LEAD}"]                          # the lead: who acknowledged
    assert [line[3:] for line in report.splitlines() if line.startswith("## ")] == SECTIONS
    [summary] = section(report, "Summary")
    assert f"{shown['title']} was a SEV-1 incident that lasted {minutes} min" in summary
    assert "contoso, fabrikam" in summary and "ca-procgenie-api" in summary
    assert {"- Tenants affected: contoso, fabrikam", "- Services affected: ca-procgenie-api"} <= set(
        section(report, "Impact"))
    assert section(report, "Action Items")[:2] == ["| # | Action | Owner | Deadline | Status |",
                                                   "|---|--------|-------|----------|--------|"]

    # its timeline: the incident's own events as "HH:MM - event" lines, in time order
    timeline = shown["timeline"]
    wanted = [(first(timeline, "created"), ""), (first(timeline, "page", "Paging primary"), ""),
              (first(timeline, "delivery", "PagerDuty trigger for primary"), ""),
              (first(timeline, "acknowledged"), ""), (first(timeline, "note"), "Note: "),
              (first(timeline, "phase", "Status identified"), ""), (first(timeline, "resolved"), "")]
    expected = [f"- {hhmm(parse_iso(e['at']))} - {prefix}{e['text']}" for e, prefix in wanted]
    lines = section(report, "Timeline")
    assert [line for line in lines if line in expected] == expected, "\n".join(lines)
    assert expected[3] == f"- {hhmm(acked)} - Acknowledged by {LEAD}" and expected[4].endswith(f" - Note: {NOTE}")
    assert expected[5].endswith(f" - Status identified: {IDENTIFIED}")
    assert expected[6] == f"- {hhmm(resolved)} - Resolved by {LEAD}"
    assert first(timeline, "acknowledged")["actor"] == LEAD and first(timeline, "note")["actor"] == SCRIBE
    minutes_of = [hhmm(created + timedelta(minutes=m)) for m in range(minutes + 10)]  # in order, also over a year end
    order = [minutes_of.index(line[2:].split(" - ", 1)[0]) for line in lines]
    assert order == sorted(order), lines

    # metrics: one SEV-1, MTTA and MTTR the app-clock seconds from created_at (whole seconds)
    mtta, mttr = ((t - created).total_seconds() for t in (acked, resolved))
    sev1 = metrics["by_severity"]["SEV-1"]
    assert (sev1["count"], sev1["acknowledged"], sev1["resolved"], sev1["transients"]) == (1, 1, 1, 0), sev1
    assert abs(sev1["mtta_p50_s"] - mtta) < 1 and abs(sev1["mttr_p50_s"] - mttr) < 1, (sev1, mtta, mttr)
    assert all(metrics["by_severity"][sev]["count"] == 0 for sev in ("SEV-2", "SEV-3", "SEV-4"))
    row = re.split(r"\s{2,}", next(line for line in table.splitlines() if line.startswith("SEV-1 ")))
    assert row[:4] == ["SEV-1", "1", "1", "1"], table                             # incidents, acked, resolved
    assert (row[4], row[6]) == (clock_text(sev1["mtta_p50_s"]), clock_text(sev1["mttr_p50_s"])), table
    assert prom.headers["Content-Type"].startswith("text/plain")
    samples = prom.text.splitlines()
    assert f'incident_mtta_seconds{{severity="SEV-1",quantile="0.5"}} {sev1["mtta_p50_s"]}' in samples, prom.text
    assert f'incident_mttr_seconds{{severity="SEV-1",quantile="0.5"}} {sev1["mttr_p50_s"]}' in samples, prom.text
    assert 'incident_count{severity="SEV-1"} 1' in samples

    if os.environ.get("WRITE_SAMPLE"):
        SAMPLE.write_text("> Sample: generated by the app (`GET /api/incidents/{id}/postmortem`) from a scripted "
                          "SEV-1 on the local host at 120x (tests/functions/test_aftercare_acceptance.py, "
                          "`WRITE_SAMPLE=1`).\n\n" + report, encoding="utf-8")
    print(f"\nSEV-1 {inc}: MTTA {sev1['mtta_p50_s']} s ({mtta:.2f}), MTTR {sev1['mttr_p50_s']} s ({mttr:.2f}); "
          f"review due {pir['due_at']}; report of {len(report.splitlines())} lines, {len(lines)} timeline lines")
