"""What every receiver's HTTP answer shares: the Retry-After header."""
from __future__ import annotations

import requests


def retry_after(resp: requests.Response, cap: float | None = None) -> float | None:
    """Retry-After in seconds (PagerDuty, Slack, Power Automate, Jira and Statuspage send seconds; the
    HTTP-date form falls back to the caller's backoff), at most `cap`; None when absent or unreadable."""
    try:
        seconds = float(resp.headers.get("Retry-After", "").strip())
    except ValueError:
        return None
    if seconds < 0:
        return None
    return min(seconds, cap) if cap is not None else seconds
