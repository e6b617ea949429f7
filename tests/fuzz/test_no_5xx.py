"""No hostile input gets a 5xx: every answer is a 2xx, or a 4xx with a JSON {"error", "message"} that
wrote nothing. Azure Monitor retries 408, 429, 503 and 504 only, so a 500 loses an alert and a 503 for
a payload that can never succeed is retried for nothing.

Derandomized hypothesis runs (the same cases on every run), most on the in-memory store and a few
hundred on Azurite, where Table Storage's own limits (64 KiB per string property, 1 MiB per entity,
1 KiB keys) apply.
"""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from tests.fuzz.hostile import alert_bodies, operator_cases

FUZZ = dict(derandomize=True, database=None, deadline=None, print_blob=False,
            suppress_health_check=list(HealthCheck))


def test_mutated_alerts_in_memory(memory_world):
    @settings(max_examples=2200, **FUZZ)
    @given(alert_bodies())
    def run(raw):
        memory_world.send("post_alert", "POST", raw)
    run()


def test_hostile_operator_requests_in_memory(memory_world):
    @settings(max_examples=1700, **FUZZ)
    @given(operator_cases(known=memory_world.known))
    def run(case):
        memory_world.case(case)
    run()


def test_mutated_alerts_on_azurite(azurite_world):
    @settings(max_examples=200, **FUZZ)
    @given(alert_bodies())
    def run(raw):
        azurite_world.send("post_alert", "POST", raw)
    run()


def test_hostile_operator_requests_on_azurite(azurite_world):
    @settings(max_examples=200, **FUZZ)
    @given(operator_cases(known=azurite_world.known))
    def run(case):
        azurite_world.case(case)
    run()
