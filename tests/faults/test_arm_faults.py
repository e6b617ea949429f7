"""Azure Resource Manager answering 429 (with Retry-After) and 500 to a remediation's write, through the
real azure-mgmt clients against the loopback FakeArm: the SDK retries a bounded number of times
(honouring Retry-After), then the remediation is marked failed and the incident escalates at once
(its next ladder step brought forward and fired by the next sweep). A fault that clears within the
retries costs nothing: the action runs once."""
from __future__ import annotations

import time

import pytest

from shared.domain.timeutil import parse_iso
from tests.fakes.arm import FakeArm
from tests.faults.conftest import FAULTS
from tests.faults.remediation_env import RETRIES, Env


@pytest.fixture
def env(memory_store, clock):
    with FakeArm(now=clock.now) as arm:
        yield Env(memory_store, clock, arm)


@pytest.mark.parametrize("status,retry_after", [(429, "0.2"), (500, None)])
def test_arm_refusing_the_write_fails_the_remediation_after_bounded_retries_and_escalates(env, status, retry_after):
    env.arm.fail("POST", r"/forceReboot$", status=status, times=100, retry_after=retry_after)
    inc = env.redis_alert()
    env.tick()                                          # diagnostics and the plan (auto: approved)
    assert env.remediation(inc)["status"] == "approved"
    nxt = env.show(inc)["escalation"]["next"]
    started = time.monotonic()
    env.tick(10)                                        # execute: ARM refuses every attempt
    elapsed = time.monotonic() - started
    FAULTS[f"Resource Manager {status} answers"] += len(env.reboots())
    assert [r.status for r in env.reboots()] == [status] * (1 + RETRIES)        # bounded
    if retry_after:
        assert elapsed >= RETRIES * float(retry_after)                          # and each Retry-After waited
    rem = env.remediation(inc)
    assert rem["status"] == "failed" and str(status) in rem["execution"]["detail"]
    timeline = env.show(inc)["timeline"]
    assert any(e["text"].startswith(f"Escalating at once to {nxt['step']}") for e in timeline)
    env.tick(10)                                        # the next sweep fires the step brought forward
    done = {d["step"]: d["at"] for d in env.show(inc)["escalation"]["done"]}
    assert parse_iso(done[nxt["step"]]) < parse_iso(nxt["due_at"])
    for _ in range(5):
        env.tick(30)
    assert len(env.reboots()) == 1 + RETRIES                                    # never tried again


def test_arm_throttling_that_clears_within_the_retries_acts_once(env):
    env.arm.fail("POST", r"/forceReboot$", status=429, times=2, retry_after="0.1")
    FAULTS["Resource Manager 429 answers"] += 2
    inc = env.redis_alert()
    env.tick()
    env.tick(10)
    assert [r.status for r in env.reboots()] == [429, 429, 200]
    assert env.remediation(inc)["status"] in ("verifying", "succeeded")
    assert env.arm.redis["reboots"] == 1
