"""Fault injection (issue 14.6): the tally of faults injected, printed in one line at the end of the session.

Each test adds what it injected to FAULTS (kind -> count): requests refused while Table Storage was
stopped, PagerDuty and Resource Manager calls answered with an error, processes "killed" between a
claim and its effect, write conflicts between racing sweepers.
"""
from __future__ import annotations

from collections import Counter

FAULTS: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if FAULTS:
        parts = ", ".join(f"{kind} {n}" for kind, n in FAULTS.items())
        terminalreporter.write_line(f"faults injected: {sum(FAULTS.values())} ({parts})")
