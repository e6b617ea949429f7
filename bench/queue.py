"""A page behind a queue: 300 SEV-3 incidents whose tickets and chat notices wait in the outbox, then
a SEV-1 alert. The escalation timer's sequence (the esc sweep, then delivery of every lane but Azure
alert states, as functions/timers.py runs it) runs on real 10-second ticks, never overlapping itself
(a tick that overruns makes the next one run late, as the Functions host does), against loopback
Slack (webhook), Jira and PagerDuty. Measured in real time: from the SEV-1's alert to its page
reaching PagerDuty, and which tick carried it.

The SEV-1 arrives at the worst moment: just after a tick has looked at the page lanes and is busy
with the queue, so the page waits for the next tick. The runbook is the shipped one, noise-control
pause included: the SEV-3 alerts are ingested at T0 and the injected clock then moves past the
5-minute pause, where a sweep fires their ticket steps and queues 2 x 300 messages.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta

from bench.common import Check, KEYS, Results, ShiftedClock, T0, Wire, new_store, runbook, say
from bench.recording import CountingStore
from bench.sweep import paging_for
from shared.adapters.clock import FixedClock
from shared.adapters.notify.jira import JiraTickets
from shared.adapters.notify.pagerduty import PagerDutyPager
from shared.adapters.notify.slack import SlackWebhookChat
from shared.services.comms_delivery import Receivers
from shared.services.intake import ingest_alert
from shared.services.outbox import NOT_ARM_LANES, deliver
from shared.services.sweep import ESC, sweep
from tests.fakes.jira import PROJECT, TOKEN, USER, FakeJira
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.payloads import CORE, OTHER_ID, metric_alert

N_QUEUED = 300
TICK_S = 10.0
TARGET_S = 12.0
TABLE = "benchqueue"


class TimedPagerDuty(FakePagerDuty):
    """FakePagerDuty noting when (perf_counter) each event it accepts arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: dict[tuple[str, str], float] = {}

    def _accept(self, event):
        self.arrived.setdefault((event["event_action"], event.get("dedup_key") or ""), time.perf_counter())
        return super()._accept(event)


class Ticker:
    """Runs `tick` at start + k * TICK_S (real seconds), one at a time: an occurrence that comes while a
    tick runs makes one late run as soon as it ends (several missed make one), as the host does."""

    def __init__(self, tick):
        self.tick, self.log, self.stop = tick, [], threading.Event()
        self.thread = threading.Thread(target=self._run, name="bench-ticker", daemon=True)

    def _run(self) -> None:
        start, k = time.perf_counter(), 0
        while not self.stop.is_set():
            due = start + k * TICK_S
            if self.stop.wait(max(0.0, due - time.perf_counter())):
                return
            entry = {"k": len(self.log) + 1, "start": time.perf_counter(), "late": time.perf_counter() - due}
            self.log.append(entry)
            self.tick(entry)
            entry["end"] = time.perf_counter()
            # the occurrences that came while it ran make one late run, now; else the next one on time
            k = max(k + 1, int((entry["end"] - start) // TICK_S))


def bench_queue(az, res: Results) -> None:
    rb, wire = runbook(), Wire()
    state = {"tick": 0, "past_pages": threading.Event()}

    def on_scan(start: str) -> None:   # the first lane after the page lanes: this tick has looked at p1-p4
        if start == "out|chat|" and state["tick"] == 1:
            state["past_pages"].set()

    store = CountingStore(new_store(az, TABLE, wire), on_scan=on_scan)
    inner, clock = store.inner, FixedClock(T0)
    with TimedPagerDuty() as pd, FakeSlack() as slack, FakeJira() as jira:
        receivers = Receivers(chats=(SlackWebhookChat(webhook_url=slack.webhook_url, timeout_s=4.0),),
                              tickets=JiraTickets(base_url=jira.url, user=USER, api_token=TOKEN, project_key=PROJECT,
                                                  timeout_s=4.0))
        pager = PagerDutyPager(events_url=pd.url, max_attempts=1, timeout_s=4.0)
        for i in range(N_QUEUED):
            out = ingest_alert(metric_alert(f"q-{i:04d}", target=f"{OTHER_ID}-q{i:04d}", rule=f"queue-rule-{i:04d}",
                                            severity="Sev3", custom={"impact": "degraded", "scope": "some"}),
                               store=inner, clock=clock, runbook=rb, core=CORE, paging=paging_for(inner))
            if out.severity != "SEV-3":
                raise AssertionError(out)
        clock.set(T0 + timedelta(minutes=5, seconds=10))   # past the 5-minute noise-control pause
        while sweep(store=inner, clock=clock, runbook=rb, paging=paging_for(inner), lane=ESC).due:
            pass
        queued = {lane: len(inner.scan(start=f"out|{lane}|", end=f"out|{lane}|~").records) for lane in ("ticket", "chat")}
        say(f"queue: {queued}")
        live = ShiftedClock(T0 + timedelta(minutes=5, seconds=20))

        def tick(entry: dict) -> None:
            state["tick"] = entry["k"]
            report = sweep(store=store, clock=live, runbook=rb, paging=paging_for(store), lane=ESC)
            entry["sweep_end"], entry["due"] = time.perf_counter(), report.due
            sent = deliver(store=store, clock=live, pager=pager, routing_keys=KEYS, lanes=NOT_ARM_LANES,
                           receivers=receivers)
            entry.update(sent=sent.sent, failed=sent.failed, skipped=sent.skipped)

        ticker = Ticker(tick)
        ticker.thread.start()
        if not state["past_pages"].wait(30):
            raise AssertionError("the first tick never reached the chat lane")
        t_alert = time.perf_counter()
        sev1 = ingest_alert(metric_alert("q-sev1", target=f"{OTHER_ID}-checkout", rule="checkout-down", severity="Sev0",
                                         custom={"impact": "core", "scope": "all"}),
                            store=inner, clock=live, runbook=rb, core=CORE, paging=paging_for(inner))
        t_ingested = time.perf_counter()
        waiting = {lane: len(inner.scan(start=f"out|{lane}|", end=f"out|{lane}|~").records) for lane in ("ticket", "chat")}
        deadline = time.perf_counter() + 3 * TICK_S + 10
        key = ("trigger", f"{sev1.incident_id}.primary")
        while key not in pd.arrived and time.perf_counter() < deadline:
            time.sleep(0.005)
        ticker.stop.set()
        ticker.thread.join(30)
    t_page = pd.arrived.get(key)
    log = ticker.log
    first = log[0]
    if t_page is None:
        res.checks.append(Check("a SEV-1 page behind 600 queued messages: alert to PagerDuty", "no page within "
                                f"{deadline - t_alert:.0f} s", f"<= {TARGET_S:g} s", False, f"ticks: {log}"))
        return
    carrier = next(e for e in log if e["start"] <= t_page <= e.get("end", t_page))
    ticks = sum(1 for e in log if t_alert < e["start"] <= carrier["start"])
    latency = t_page - t_alert
    res.checks.append(Check(
        f"a SEV-1 page behind {sum(queued.values())} queued tickets and chats: alert to PagerDuty (wall)",
        f"{latency:.2f} s, " + ("by the tick running when it came" if not ticks else
                                 "by the first tick after the alert" if ticks == 1 else f"by tick {ticks} after it"),
        f"<= {TARGET_S:g} s (the first tick)", latency <= TARGET_S and ticks <= 1,
        f"the SEV-1 arrived {t_alert - first['start']:.2f} s into tick 1, after it had looked at the page lanes; "
        f"its intake took {t_ingested - t_alert:.2f} s and wrote the page to lane p1 in its batch. Tick 1 went on with "
        f"the queue ({first.get('sent', 0)} sent, {first.get('skipped', 0)} held, ended {first['end'] - first['start']:.2f} s "
        f"after it started; {waiting['ticket'] + waiting['chat']} messages still queued when the SEV-1 came). The page "
        f"waited {carrier['start'] - t_alert:.2f} s for the next tick (the 10 s schedule; that tick started "
        f"{carrier['late']:.2f} s late), whose sweep took {carrier['sweep_end'] - carrier['start']:.2f} s and whose "
        f"delivery sent the page {t_page - carrier['sweep_end']:.2f} s later: p1 is the first lane, before the queue"))
    res.notes.append("Page behind a queue, ticks (s from the SEV-1's alert: start, end; sent, held): " + "; ".join(
        f"#{e['k']} {e['start'] - t_alert:+.2f}..{e.get('end', e['start']) - t_alert:+.2f} ({e.get('sent', 0)}, "
        f"{e.get('skipped', 0)})" for e in log) + f". Jira issues created: {len(jira.issues)}, Slack messages: "
        f"{len(slack.messages)}. Runbook: the shipped one; the injected clock was moved past the 5-minute "
        "noise-control pause before the ticks, so the 300 ticket steps fired and queued their messages first.")
