"""The one retry policy for write conflicts (an ETag that moved, an insert that lost a race).

Every use case that reads, decides and writes under an ETag runs its attempt through `retrying`: the
attempt re-reads what it changes each time, so a retry decides again on fresh data. Between attempts
a short random pause (full jitter, growing: 0-5 ms, 0-10 ms, ... capped at 0-320 ms) spreads writers
that collided, so fifty concurrent resolves of one incident do not collide again in lockstep. The
pause is milliseconds: no timer ever waits on a receiver here (those waits are next-attempt times).
"""
from __future__ import annotations

import logging
import random
import time
from typing import Callable, TypeVar

from shared.domain.errors import ConcurrencyConflict

log = logging.getLogger(__name__)
T = TypeVar("T")
ATTEMPTS = 12


def pause(attempt: int) -> float:
    """Seconds to wait after the `attempt`-th conflict (0-based): full jitter, exponential, capped."""
    return random.uniform(0, 0.005 * 2 ** min(attempt, 6))


def retrying(attempt: Callable[[], T], what: str, *, attempts: int = ATTEMPTS, incident: str = "",
             sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `attempt` until it commits without a ConcurrencyConflict, at most `attempts` times. Raises
    ConcurrencyConflict (answered 503: the caller retries) when the contention outlasts them; any other
    error passes through at once."""
    for n in range(attempts):
        try:
            return attempt()
        except ConcurrencyConflict:
            if n + 1 == attempts:
                break
            log.info("%s lost a race (attempt %d); retrying", what, n + 1, extra={"incident_id": incident})
            sleep(pause(n))
    raise ConcurrencyConflict(f"{what}: too much contention, gave up after {attempts} attempts; retry")
