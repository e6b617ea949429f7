"""incidentctl end to end: each command against the real function_app served by the local host over
HTTP, on Azurite, with the fixture's FixedClock as the app's clock (and as the CLI's `now`, so that
relative times such as `+1h` mean the same instant to both). Incident ids come from API answers."""
from __future__ import annotations

import io
import json
import re
from datetime import datetime

import pytest

from shared import bootstrap
from shared.config import Settings
from tests.functions.conftest import App
from tests.payloads import CORE_SETTINGS, metric_alert

KEY = "k-ctl-e2e-0123456789"


class Ctl:
    def __init__(self, url: str, clock, key: str = KEY):
        self.env = {"INCIDENT_API_URL": url, "FUNCTIONS_KEY": key, "INCIDENT_ACTOR": "erin"}
        self.clock = clock

    def __call__(self, *argv: str, **env: str) -> tuple[int, str, str]:
        from incidentctl.__main__ import main
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), env={**self.env, **env}, stdout=out, stderr=err, now=self.clock.now)
        assert KEY not in out.getvalue() + err.getvalue()
        return code, out.getvalue(), err.getvalue()

    def json(self, *argv: str) -> dict:
        code, out, err = self(*argv, "--json")
        assert code == 0, err
        return json.loads(out)


def _serve(clock):
    import function_app
    from devhost.server import serve
    return serve(function_app.app, port=0, timers=False, key=KEY, clock=clock)


@pytest.fixture
def ctl(app, clock):
    host = _serve(clock)
    try:
        yield Ctl(f"{host.url}/api", clock)
    finally:
        host.stop()


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def field(out: str, name: str) -> str:
    """The value of one `Name: value` line of `show`."""
    m = re.search(rf"^{re.escape(name)}:\s+(.*)$", out, re.MULTILINE)
    assert m, f"no {name!r} line in:\n{out}"
    return m.group(1)


# ---- list, ack, note, severity, resolve, oncall (the commands there were before) ----------------

def test_the_responder_commands_on_an_alerted_incident(ctl, app):
    inc_id = app.call("post_alert", body=metric_alert("a1", severity="Sev0"))[1]["incident_id"]
    code, out, _ = ctl("list", "--status", "triggered")
    assert code == 0 and out.splitlines()[1].split()[:4] == [inc_id, "SEV-1", "triggered", "investigating"]
    assert ctl("ack", inc_id, "-m", "looking") == (
        0, f"{inc_id} acknowledged: state acknowledged, severity SEV-1, phase investigating\n", "")
    assert ctl("list", "--status", "triggered") == (0, "no incidents\n", "")
    assert ctl("note", inc_id, "rolled", "back") == (0, f"note added to {inc_id}\n", "")
    assert ctl("severity", inc_id, "2", "--reason", "one region")[1].startswith(
        f"{inc_id} reclassified as SEV-2: state acknowledged, severity SEV-2")
    assert ctl("resolve", inc_id)[1].startswith(f"{inc_id} resolved: state resolved")
    code, _, err = ctl("ack", inc_id)
    assert code == 1 and err.strip() == f"409 Conflict: incident {inc_id} is resolved"
    timeline = ctl.json("show", inc_id)["timeline"]
    assert {e["kind"]: e["actor"] for e in timeline if e["actor"] == "erin"}.keys() >= {
        "acknowledged", "note", "severity", "resolved"}
    assert any(e["kind"] == "note" and e["text"] == "rolled back" for e in timeline)
    roles = [line.split()[0] for line in ctl("oncall")[1].splitlines()[1:-1]]
    assert roles == ["primary", "secondary", "engineering_lead", "vp_engineering", "security_lead",
                     "customer_success_lead", "cto"]


# ---- declare -------------------------------------------------------------------------------------

def test_declare_by_impact_and_scope_with_tenants(ctl):
    code, out, err = ctl("declare", "Checkout", "failing", "--impact", "core", "--scope", "some",
                         "--tenant", "fabrikam", "--tenant", "contoso")
    assert code == 0, err
    first = out.splitlines()[0]
    inc_id = first.split()[0]
    assert first == f"{inc_id} declared: state triggered, severity SEV-2, phase investigating"
    assert "core feature broken × some users → SEV-2" in out
    shown = ctl.json("show", inc_id)
    assert shown["title"] == "Checkout failing" and shown["source"] == "manual"
    assert shown["tenants"] == ["contoso", "fabrikam"] and shown["security"] is False
    assert [e["actor"] for e in shown["timeline"] if e["kind"] == "created"] == ["erin"]


def test_declare_by_severity_and_as_security(ctl):
    by_hand = ctl.json("declare", "Reports slow", "--severity", "sev3")
    assert by_hand["severity"] == "SEV-3" and "set by hand" in by_hand["classification"]["reason"]
    security = ctl.json("declare", "Leaked token", "--security")
    assert security["severity"] == "SEV-1" and security["security"] is True
    assert security["id"] != by_hand["id"]
    listed = [i["id"] for i in ctl.json("list")["incidents"]]
    assert set(listed) == {by_hand["id"], security["id"]}


# ---- status --------------------------------------------------------------------------------------

def test_status_sets_the_public_phase_then_resolves(ctl):
    inc_id = ctl.json("declare", "Checkout failing", "--severity", "SEV-2")["id"]
    code, out, err = ctl("status", inc_id, "identified", "-m", "bad deploy r42")
    assert code == 0, err
    assert out == f"{inc_id} status identified: state triggered, severity SEV-2, phase identified\n"
    shown = ctl.json("show", inc_id)
    assert shown["phase"] == "identified"
    assert any("bad deploy r42" in e["text"] and e["actor"] == "erin" for e in shown["timeline"])
    resolved = ctl.json("status", inc_id, "resolved", "-m", "rolled back")
    assert (resolved["state"], resolved["phase"]) == ("resolved", "resolved") and resolved["resolved_at"]
    code, _, err = ctl("status", inc_id + "9", "monitoring")
    assert code == 1 and err.startswith("404 Not Found: ") and inc_id + "9" in err


# ---- silences ------------------------------------------------------------------------------------

def test_silences_add_list_show_and_end(ctl, app):
    code, out, err = ctl("silences", "add", "--match-rule", "api-5xx", "--end", "+1h", "--reason", "deploy window")
    assert code == 0, err
    sid = re.fullmatch(r"silence (SIL-\w+) created: rule=api-5xx from 2026-11-27 03:00:00Z "
                       r"until 2026-11-27 04:00:00Z \(deploy window\)\n", out).group(1)
    code, out, _ = ctl("silences")
    rows = out.splitlines()
    assert code == 0 and rows[0].split() == ["ID", "MATCH", "START", "END", "REASON", "BY"]
    assert rows[1].startswith(f"{sid}  rule=api-5xx  2026-11-27 03:00:00Z  2026-11-27 04:00:00Z  deploy window")
    assert rows[1].endswith("erin")
    assert [s["id"] for s in ctl.json("silences", "list")["silences"]] == [sid]

    inc_id = app.call("post_alert", body=metric_alert("s1", rule="api-5xx"))[1]["incident_id"]
    code, out, _ = ctl("show", inc_id)
    assert code == 0 and field(out, "Silence") == f"{sid} until 2026-11-27 04:00:00Z: deploy window"

    code, out, err = ctl("silences", "end", sid)
    assert (code, out) == (0, f"silence {sid} ended; ladders started for {inc_id}\n"), err
    assert ctl("silences") == (0, "no silences\n", "")
    code, _, err = ctl("silences", "end", sid)
    assert code == 1 and err.strip() == f"404 Not Found: no silence '{sid}'"


def test_silence_errors_show_the_apis_message(ctl):
    code, out, err = ctl("silences", "add", "--match-tenant", "contoso", "--end", "2026-11-27T02:00:00Z",
                         "--reason", "too late")
    assert (code, out) == (1, "")
    assert err.strip() == "400 Bad Request: $.end: must be after start"
    code, _, err = ctl("silences", "add", "--match-tenant", "contoso", "--start=-2h", "--end=-1h", "--reason", "x")
    assert code == 1 and err.strip() == "400 Bad Request: $.end: is in the past"


# ---- overrides -----------------------------------------------------------------------------------

def test_overrides_add_list_and_end(ctl):
    created = ctl.json("overrides", "add", "--role", "secondary", "--person", "zoe", "--end", "+1d",
                       "--reason", "swap")
    oid = created["id"]
    assert (created["role"], created["person"], created["created_by"]) == ("secondary", "zoe", "erin")
    assert (at(created["start"]), at(created["end"])) == (at("2026-11-27T03:00:00Z"), at("2026-11-28T03:00:00Z"))

    code, out, _ = ctl("overrides")
    assert code == 0 and re.search(rf"^{oid}\s+secondary\s+zoe\b", out, re.MULTILINE), out
    assert [o["id"] for o in ctl.json("overrides", "list")["overrides"]] == [oid]
    secondary = next(o for o in ctl.json("oncall")["oncall"] if o["role"] == "secondary")
    assert (secondary["person"], secondary["source"]) == ("zoe", "override")

    assert ctl("overrides", "end", oid) == (0, f"override {oid} ended\n", "")
    assert ctl("overrides", "list")[1].startswith("no overrides")
    secondary = next(o for o in ctl.json("oncall")["oncall"] if o["role"] == "secondary")
    assert secondary["source"] == "rotation"
    code, _, err = ctl("overrides", "end", oid)
    assert code == 1 and err.strip() == f"404 Not Found: no override '{oid}'"


def test_override_add_text_line(ctl):
    code, out, err = ctl("overrides", "add", "--role", "primary", "--person", "yan", "--start", "2026-11-27T05:00:00Z",
                         "--end", "2026-11-27T09:00:00+01:00")
    assert code == 0, err
    assert re.fullmatch(r"override OVR-\w+: yan is primary from 2026-11-27 05:00:00Z until 2026-11-27 08:00:00Z\n",
                        out), out


# ---- show: who is next, and the silence ----------------------------------------------------------

def test_show_names_the_person_who_holds_the_next_step(ctl, app):
    inc_id = app.call("post_alert", body=metric_alert("n1", severity="Sev0"))[1]["incident_id"]
    holders = {o["role"]: o["person"] for o in ctl.json("oncall")["oncall"]}
    code, out, _ = ctl("show", inc_id)
    assert code == 0
    assert field(out, "Next step") == f"secondary -> secondary ({holders['secondary']}) at 2026-11-27 03:10:00Z"
    assert field(out, "Paged") == f"primary ({holders['primary']})"
    assert field(out, "Silence") == "-"

    ctl("overrides", "add", "--role", "secondary", "--person", "zoe", "--end", "+2h")
    code, out, _ = ctl("show", inc_id)
    assert field(out, "Next step") == "secondary -> secondary (zoe) at 2026-11-27 03:10:00Z"
    assert json.loads(ctl("show", inc_id, "--json")[1])["id"] == inc_id  # --json is the API's answer


# ---- approve / reject ----------------------------------------------------------------------------

@pytest.fixture
def approval_ctl(table_store, clock):
    """The app in REMEDIATION_MODE=approval with a loopback ARM, and a redis alert's remediation
    planned by the remediation sweep (the timer the host would run)."""
    from shared.adapters.arm import ArmResources
    from tests.fakes.arm import FakeArm
    with FakeArm() as arm:
        settings = Settings.from_env({**CORE_SETTINGS, "REDIS_CACHE_ID": arm.cache_id, "PAGERDUTY_ROUTING_KEYS": "{}",
                                      "REMEDIATION_MODE": "approval", "AZURE_SUBSCRIPTION_ID": arm.subscription_id,
                                      "AZURE_ARM_ENDPOINT": arm.url})
        bootstrap.override(store=table_store, clock=clock, settings=settings,
                           resources=ArmResources(endpoint=arm.url, subscription_id=arm.subscription_id,
                                                  poll_interval_s=0.001, retry_backoff_s=0))
        app = App()
        host = _serve(clock)
        try:
            yield Ctl(f"{host.url}/api", clock), app, arm
        finally:
            host.stop()


def _awaiting(ctl: Ctl, app: App, arm, alert_id: str) -> tuple[str, str]:
    body = metric_alert(alert_id, target=arm.cache_id, rule="redis-errors", metric="errors", severity="Sev1")
    inc_id = app.call("post_alert", body=body)[1]["incident_id"]
    app.functions["remediation_sweep"](None)
    [rem] = [r for r in ctl.json("show", inc_id)["remediations"] if r["playbook"]]
    assert rem["status"] == "awaiting-approval"
    return inc_id, rem["id"]


def test_approve_a_waiting_remediation(approval_ctl):
    ctl, app, arm = approval_ctl
    inc_id, rid = _awaiting(ctl, app, arm, "r1")
    code, out, err = ctl("approve", inc_id, rid, "--reason", "cache is wedged")
    assert code == 0, err
    assert out == f"{rid} (redis-reboot) on {inc_id}: approved\n"
    [rem] = [r for r in ctl.json("show", inc_id)["remediations"] if r["id"] == rid]
    assert rem["approval"]["by"] == "erin" and rem["approval"]["reason"] == "cache is wedged"
    code, _, err = ctl("approve", inc_id, rid)
    assert code == 1 and err.strip() == f"409 Conflict: remediation {rid} is approved, not awaiting approval"


def test_reject_a_waiting_remediation(approval_ctl):
    ctl, app, arm = approval_ctl
    inc_id, rid = _awaiting(ctl, app, arm, "r2")
    answer = ctl.json("reject", inc_id, rid, "--reason", "customer demo running")
    [rem] = [r for r in answer["remediations"] if r["id"] == rid]
    assert rem["status"] == "rejected" and rem["approval"]["decision"] == "reject"
    assert rem["approval"]["by"] == "erin" and rem["approval"]["reason"] == "customer demo running"
    shown = ctl.json("show", inc_id)
    assert any(f"{rid} (redis-reboot) rejected by erin: customer demo running" in e["text"]
               for e in shown["timeline"])
    code, _, err = ctl("reject", inc_id, "REM-nope", "--reason", "x")
    assert code == 1 and err.strip() == f"404 Not Found: no remediation 'REM-nope' on {inc_id}"


# ---- errors --------------------------------------------------------------------------------------

def test_a_wrong_or_missing_key_says_what_to_set(ctl):
    code, out, err = ctl("list", FUNCTIONS_KEY="wrong-key")
    assert (code, out) == (1, "")
    assert err.startswith("401 Unauthorized: ") and "set FUNCTIONS_KEY to the function key" in err
    assert "make run" in err and "(no message)" not in err
    code, _, err = ctl("oncall", FUNCTIONS_KEY="")
    assert code == 1 and "FUNCTIONS_KEY is not set" in err and "(no message)" not in err


# ---- after the fire: status --external, comms, postmortem, pir, breach, metrics ------------------

def test_status_external_and_comms(ctl):
    inc_id = ctl.json("declare", "Checkout failing", "--severity", "SEV-2", "--tenant", "contoso")["id"]
    answer = ctl.json("status", inc_id, "identified", "-m", "bad deploy r42", "--external")
    assert answer["phase"] == "identified" and answer["communications"]["external"] is True
    code, out, err = ctl("comms", inc_id, "customer-email", "-m", "we rolled back r42", "--estimate", "1 hour")
    assert code == 0, err
    subject, blank, *text = out.splitlines()
    assert subject.startswith("Subject: ") and len(subject) > len("Subject: ") and blank == ""
    assert "we rolled back r42" in out and text
    drafted = ctl.json("comms", inc_id, "status-identified")
    assert drafted["template"] == "status-identified" and drafted["text"]
    code, _, err = ctl("comms", inc_id + "9", "slack-initial")
    assert code == 1 and err.startswith("404 Not Found: ")


def test_postmortem_is_the_markdown_draft_as_served(ctl):
    inc_id = ctl.json("declare", "Checkout failing", "--severity", "SEV-1")["id"]
    ctl("note", inc_id, "rolled", "back", "r42")
    ctl.clock.advance(minutes=40)
    ctl("resolve", inc_id, "-m", "fixed")
    code, out, err = ctl("postmortem", inc_id)
    assert code == 0, err
    structured = ctl.json("postmortem", inc_id)
    assert out == structured["markdown"] and out.endswith("\n")        # as served, byte for byte
    assert out.startswith("# Post-Incident Report: Checkout failing") and "rolled back r42" in out
    assert structured["severity"] == "SEV-1" and structured["duration"]


def test_pir_records_the_review_through_to_closed(ctl):
    inc_id = ctl.json("declare", "Checkout failing", "--severity", "SEV-1")["id"]
    code, _, err = ctl("pir", inc_id, "--meeting", "+1d")
    assert code == 1 and err.startswith("409 Conflict: ") and "not resolved" in err
    ctl("resolve", inc_id)
    code, out, err = ctl("pir", inc_id, "--meeting", "+1d", "--attendee", "erin", "--attendee", "bo",
                         "--action", "bo:2026-12-15:canary stage", "--action", "cy::alert on 5xx")
    assert code == 0, err
    assert out.startswith(f"Review of {inc_id}\n  Status:      scheduled\n")
    assert "  Meeting:     2026-11-28 03:00:00Z with erin, bo\n" in out
    assert re.search(r"^A1\s+open\s+2026-12-15\s+bo\s+-\s+canary stage$", out, re.MULTILINE), out
    assert re.search(r"^A2\s+open\s+-\s+cy\s+-\s+alert on 5xx$", out, re.MULTILINE), out
    ctl.clock.advance(days=1, hours=1)
    code, out, err = ctl("pir", inc_id, "--meeting", "2026-11-28T03:00:00Z", "--attendee", "erin", "--attendee", "bo",
                         "--report", "https://wiki.example/pir/1", "--root-cause", "a bad deploy",
                         "--done", "A1", "--wont-fix", "A2", "--close")
    assert code == 0, err
    assert "  Status:      closed\n" in out and "  Report:      https://wiki.example/pir/1\n" in out
    assert "  Closed:      2026-11-28 04:00:00Z\n" in out and "Action items (2, 0 open)" in out
    assert field(ctl("show", inc_id)[1], "PIR") == "closed, 2 action item(s), 0 open"
    code, _, err = ctl("pir", inc_id, "--action", "dee::one more")
    assert code == 1 and err.strip() == "409 Conflict: the review is closed: its action items can no longer change"


def test_breach_clock_from_awareness_to_notification(ctl):
    inc_id = ctl.json("declare", "Leaked token", "--security")["id"]
    code, out, err = ctl("breach", inc_id, "--personal-data", "yes", "--aware-at=-1h")
    assert code == 0, err
    assert out == (f"{inc_id}: personal data breach (GDPR Article 33)\n"
                   "  Aware at:  2026-11-27 02:00:00Z\n"
                   "  Deadline:  2026-11-30 02:00:00Z (72 hours from awareness)\n"
                   "  Notified:  not yet\n")
    code, _, err = ctl("breach", inc_id, "--notified-at", "+1d", "--authority", "CNIL")
    assert code == 1 and err.startswith("400 Bad Request: $.notified_at: must not be in the future")
    ctl.clock.advance(hours=30)
    code, out, err = ctl("breach", inc_id, "--notified-at", "now", "--authority", "CNIL", "--reference", "N-1")
    assert code == 0, err
    assert "  Notified:  2026-11-28 09:00:00Z to CNIL, ref N-1  within 72 hours\n" in out
    code, _, err = ctl("breach", inc_id, "--personal-data", "no")
    assert code == 1 and err.startswith("409 Conflict: the supervisory authority was notified")
    other = ctl.json("declare", "Odd login", "--security")["id"]
    assert ctl("breach", other, "--personal-data", "no")[1] == (
        f"{other}: no personal data involved, so no GDPR notification clock\n")


def _acked_and_resolved(ctl: Ctl, app: App) -> str:
    inc_id = app.call("post_alert", body=metric_alert("m1", severity="Sev0"))[1]["incident_id"]
    ctl.clock.advance(minutes=2)
    ctl("ack", inc_id)
    ctl.clock.advance(minutes=58)
    ctl("resolve", inc_id)
    return inc_id


def test_metrics_over_a_window(ctl, app):
    _acked_and_resolved(ctl, app)
    answer = ctl.json("metrics", "--since", "1d")
    assert (at(answer["since"]), at(answer["until"])) == (at("2026-11-26T04:00:00Z"), at("2026-11-27T04:00:00Z"))
    assert list(answer["by_severity"]) == ["SEV-1", "SEV-2", "SEV-3", "SEV-4"]
    code, out, err = ctl("metrics", "--since", "1d")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["SEV", "INCIDENTS", "ACKED"] and [r.split()[0] for r in lines[1:5]] == [
        "SEV-1", "SEV-2", "SEV-3", "SEV-4"]
    assert lines[-1].startswith("(incidents created from 2026-11-26 04:00:00Z until 2026-11-27 04:00:00Z")
    code, text, err = ctl("metrics", "--since", "1d", "--prometheus")
    assert code == 0, err
    assert text.startswith("# HELP incident_count ") and 'incident_count{severity="SEV-1"} ' in text
    code, _, err = ctl("metrics", "--since", "500d")
    assert code == 1 and err.startswith("400 Bad Request: ") and "400 days" in err


def test_metrics_count_the_incidents_written_through_the_api(ctl, app):
    _acked_and_resolved(ctl, app)
    out = ctl("metrics", "--since", "1d")[1]
    sev1 = next(line for line in out.splitlines() if line.startswith("SEV-1"))
    assert sev1.split()[:8] == ["SEV-1", "1", "1", "1", "2m", "00s", "2m", "00s"], out
    assert "1h 00m" in sev1
