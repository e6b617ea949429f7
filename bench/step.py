"""One due escalation step, applied and its page delivered: the escalation timer's tick (sweep of the
esc lane, then delivery of every lane but Azure alert states, as functions/timers.py runs them) when
exactly one step is due, against the same requests sent raw."""
from __future__ import annotations

import time
from datetime import timedelta

from bench.common import Check, KEYS, Results, Row, T0, Wire, median, ms, new_store, p95, runbook
from bench.intake import median_trips
from bench.recording import CountingStore, RawReplay, RecordingPager
from bench.sweep import paging_for
from shared.adapters.clock import FixedClock
from shared.adapters.notify.pagerduty import PagerDutyPager
from shared.services import commands
from shared.services.comms_delivery import Receivers
from shared.services.intake import ingest_alert
from shared.services.outbox import NOT_ARM_LANES, deliver
from shared.services.sweep import ESC, sweep
from tests.fakes.pagerduty import FakePagerDuty
from tests.payloads import CORE, OTHER_ID, metric_alert

RUNS, WARM = 20, 2
TABLE = "benchstep"


def tick(store, clock, rb, pager) -> tuple:
    """What the escalation_sweep timer does, with the timer's own pager (one attempt per call)."""
    report = sweep(store=store, clock=clock, runbook=rb, paging=paging_for(store), lane=ESC)
    sent = deliver(store=store, clock=clock, pager=pager, routing_keys=KEYS, lanes=NOT_ARM_LANES,
                   receivers=Receivers())
    return report, sent


def bench_step(az, res: Results) -> None:
    wire, rb = Wire(), runbook()
    store = CountingStore(new_store(az, TABLE, wire), wire=wire, keep=True)
    with FakePagerDuty() as pd:
        pager = RecordingPager(PagerDutyPager(events_url=pd.url, max_attempts=1, timeout_s=4.0))
        raw = RawReplay(az.connection_string, TABLE, wire, pd.url)
        clock = FixedClock(T0)
        times, raws, trips, split = [], [], [], []
        for i in range(RUNS + WARM):
            opened = T0 + timedelta(hours=2 * i)   # each incident alone on its stretch of the clock
            clock.set(opened)
            out = ingest_alert(metric_alert(f"step-{i}", target=f"{OTHER_ID}-step{i}", rule=f"step-rule-{i}",
                                            severity="Sev0", custom={"impact": "core", "scope": "all"}),
                               store=store.inner, clock=clock, runbook=rb, core=CORE, paging=paging_for(store.inner))
            tick(store.inner, clock, rb, pager)    # the 0-minute page and the chat and ticket rows go out
            clock.set(opened + timedelta(minutes=10, seconds=1))   # the secondary step is due
            store.reset()
            pager.bodies.clear()
            t, report, sent, sweep_calls = _timed_tick(store, clock, rb, pager)
            snap = store.snapshot()
            if report.applied != [f"{out.incident_id}:esc:secondary"] or sent.sent != 1 or report.due != 1:
                raise AssertionError(f"expected one step and one page, got {report} {sent}")
            if not pd.count("trigger", f"{out.incident_id}.secondary"):
                raise AssertionError("the page did not reach PagerDuty")
            raw.prepare(store.calls)
            r = raw.run(store.calls, pager.bodies)
            raw.cleanup()
            # untimed: resolve it, deliver the resolves, and let a sweep drop what it left on the due index
            commands.resolve(out.incident_id, {}, "bench", store=store.inner, clock=clock, runbook=rb,
                             paging=paging_for(store.inner))
            tick(store.inner, clock, rb, pager)
            clock.set(opened + timedelta(hours=1, minutes=59))
            tick(store.inner, clock, rb, pager)
            if i >= WARM:
                times.append(t), raws.append(r), trips.append(snap), split.append(sweep_calls)
        raw.close()
    res.rows.append(Row(f"one due step: the same requests raw + PagerDuty POST (baseline, N={RUNS})",
                        ms(median(raws)), ms(p95(raws))))
    res.rows.append(Row(f"one due step applied, page delivered: timer tick (N={RUNS})", ms(median(times)),
                        ms(p95(times)), "same requests, raw", ms(median(raws)), 1.3))
    m = median_trips(trips)
    res.trips.append(("one due step + its page (timer tick)", m, "<= 4 + the PagerDuty call"))
    sw = median_trips(split)
    ratio = median(times) / median(raws)
    res.checks.append(Check(
        "one due step, applied and paged: Table HTTP requests", f"{m['wire']:g} + 1 PagerDuty", "<= 4 + 1",
        m["wire"] <= 4,
        f"sweep {sw['requests']:g} ({sw['scans']:g} due-range scan; {sw['get_keys']:g} point reads in "
        f"{sw['get_calls']:g} waits: the incident, then the on-call overrides when the step pages; {sw['commits']:g} "
        f"batch: the step's, carrying the sweep's health row); delivery {m['requests'] - sw['requests']:g}: "
        f"{m['scans'] - sw['scans']:g} scan (every lane of the tick in one range scan while the outbox is quiet; "
        f"{m['empty_scans']:g} empty), the claim batch and the settle batch. 7 is this design's floor: the "
        f"on-call overrides are read only by a step that pages, and two senders must never both hold a message "
        f"(claim under its ETag, then settle). Past it: the step's batch would write its page already leased to "
        f"this worker and send it at once after the commit (then only the settle: 6 with the tick's scan)"))
    res.checks.append(Check(
        "one due step, applied and paged: time vs the same requests raw", f"{ratio:.2f}x ({ms(median(times)):.1f} vs "
        f"{ms(median(raws)):.1f} ms)", "<= 1.3x", ratio <= 1.3,
        f"in store calls {m['ms_get'] + m['ms_scan'] + m['ms_commit']:.1f} ms (get {m['ms_get']:.1f}, scan "
        f"{m['ms_scan']:.1f}, commit {m['ms_commit']:.1f}); the rest, PagerDuty's POST included, "
        f"{ms(median(times)) - m['ms_get'] - m['ms_scan'] - m['ms_commit']:.1f} ms"))


def _timed_tick(store: CountingStore, clock, rb, pager) -> tuple:
    """The tick, timed as a whole; the sweep's share of the calls kept apart."""
    t = time.perf_counter()
    report = sweep(store=store, clock=clock, runbook=rb, paging=paging_for(store), lane=ESC)
    sweep_calls = store.snapshot()
    sent = deliver(store=store, clock=clock, pager=pager, routing_keys=KEYS, lanes=NOT_ARM_LANES,
                   receivers=Receivers())
    return time.perf_counter() - t, report, sent, sweep_calls
