"""The process killed between a claim and its effect. The "kill" is an exception that is not an
Exception (like SystemExit or KeyboardInterrupt: no per-record isolation catches it), raised inside
the worker right after the claim committed; the test catches it, as the host would lose the worker,
and runs the next ticks:

- a remediation claimed (`executing`) whose ARM call never happened, or happened with its answer
  lost: never acted on again (one ARM write at most), and failed by the verification step that
  finds it still executing, which escalates the incident at once;
- a page claimed (leased) but never sent: not sent by anyone while the lease lasts, sent exactly
  once after it ends, while the other pages go on being delivered.
"""
from __future__ import annotations

import pytest

from shared.adapters.notify.pagerduty import PagerDutyPager
from shared.services import outbox
from shared.services.remediation import ACTION_TIMEOUT_S
from tests.fakes.arm import FakeArm
from tests.fakes.pagerduty import FakePagerDuty
from tests.faults.conftest import FAULTS
from tests.faults.remediation_env import Env
from tests.harness import Harness
from tests.payloads import OTHER_ID, metric_alert


class ProcessKilled(BaseException):
    """The worker dies here (a BaseException: nothing in the app catches it)."""


@pytest.fixture
def env(table_store, clock):
    with FakeArm(now=clock.now) as arm:
        yield Env(table_store, clock, arm)


@pytest.mark.parametrize("when", ["before the ARM call", "after the ARM call"])
def test_a_remediation_claimed_by_a_worker_that_died_is_never_run_twice_and_fails_over(env, monkeypatch, when):
    real = env.client.reboot_redis

    def dies(**kwargs):
        if when == "after the ARM call":
            real(**kwargs)          # ARM acted; its answer dies with the worker
        raise ProcessKilled()
    monkeypatch.setattr(env.client, "reboot_redis", dies)
    inc = env.redis_alert()
    env.tick()
    nxt = env.show(inc)["escalation"]["next"]
    with pytest.raises(ProcessKilled):
        env.tick(10)                                   # the claim commits, then the worker dies
    FAULTS["workers killed after a claim"] += 1
    monkeypatch.setattr(env.client, "reboot_redis", real)
    writes = 1 if when == "after the ARM call" else 0
    assert env.remediation(inc)["status"] == "executing"
    for _ in range(int(2 * ACTION_TIMEOUT_S // 30)):   # until the verification step comes due
        env.tick(30)
        assert len(env.reboots()) == writes            # nobody acts on the claimed remediation again
    env.tick(30)
    rem = env.remediation(inc)
    assert rem["status"] == "failed", rem
    timeline = env.show(inc)["timeline"]
    assert any("the executor stopped before recording ARM's answer" in e["text"] for e in timeline)
    assert any(e["text"].startswith(f"Escalating at once to {nxt['step']}") for e in timeline)
    assert nxt["step"] in {d["step"] for d in env.show(inc)["escalation"]["done"]}
    assert len(env.reboots()) == writes and env.arm.redis["reboots"] == writes


def test_a_page_claimed_by_a_worker_that_died_is_sent_exactly_once_after_its_lease(table_store, clock, monkeypatch):
    with FakePagerDuty() as pd:
        pager = PagerDutyPager(events_url=pd.url, max_attempts=1, sleep=lambda s: None)
        h = Harness(table_store, clock, pager=pager)
        incidents = [h.alert(metric_alert(f"k{i}", target=f"{OTHER_ID}-{i}", rule=f"k-{i}", severity="Sev0",
                                          custom={"impact": "core", "scope": "all"}))["incident_id"] for i in range(3)]
        real, sent = pager.send, []

        def dies_once(*, event):
            if not sent:
                sent.append(event.dedup_key)
                raise ProcessKilled()  # claimed (leased), never sent
            return real(event=event)
        monkeypatch.setattr(pager, "send", dies_once)
        with pytest.raises(ProcessKilled):
            h.tick()
        FAULTS["workers killed after a claim"] += 1
        [lost] = sent
        for _ in range(int(outbox.LEASE.total_seconds() // 30) - 1):   # 4.5 minutes
            clock.advance(seconds=30)
            h.tick()
            assert pd.count("trigger", lost) == 0      # leased to the dead worker
        assert {e["dedup_key"] for e in pd.triggers()} == {f"{inc}.primary" for inc in incidents} - {lost}
        clock.advance(seconds=31)                       # the lease has ended
        h.tick()
        for inc in incidents:
            assert pd.count("trigger", f"{inc}.primary") == 1
        assert pd.deduplicated == 0
