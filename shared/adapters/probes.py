"""RequestsProbe: the HttpProbe port on `requests` (the API's health URL and smoke tests, runbook step 4).

One GET per call, bounded by a connect and a read timeout, redirects not followed (a health URL that
redirects is not answering 200 itself), no credentials sent, the body never read into the answer or
the logs (it may hold internal detail). Never raises: a refused connection or a timeout is an answer
without a status.
"""
from __future__ import annotations

import threading
import time

import requests

from shared.ports import ProbeAnswer

class RequestsProbe:
    def __init__(self, *, session: requests.Session | None = None, connect_timeout_s: float = 3.0,
                 read_timeout_s: float = 5.0):
        self._session = session
        self._timeout = (connect_timeout_s, read_timeout_s)
        self._lock = threading.Lock()

    def get(self, *, url: str) -> ProbeAnswer:
        with self._lock:
            if self._session is None:
                self._session = requests.Session()
        started = time.monotonic()
        try:
            resp = self._session.get(url, timeout=self._timeout, allow_redirects=False, stream=True,
                                     headers={"User-Agent": "incident-response-verification"})
            resp.close()                  # the status is the answer; the body stays unread
        except requests.Timeout:
            return ProbeAnswer(url, None, _ms(started), f"timed out after {self._timeout[1]:g} s")
        except requests.RequestException as e:
            return ProbeAnswer(url, None, _ms(started), _reason(e))
        return ProbeAnswer(url, resp.status_code, _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _reason(e: requests.RequestException) -> str:
    """The error's kind, and the usual cause in words; never its text, which repeats the URL (and a
    query string may hold a key)."""
    text = str(e).lower()
    cause = next((words for marker, words in _CAUSES if marker in text), "")
    return f"{type(e).__name__}: {cause}" if cause else type(e).__name__


_CAUSES = (("refused", "connection refused"), ("name or service not known", "host name not resolved"),
           ("nodename nor servname", "host name not resolved"), ("certificate", "TLS certificate not accepted"),
           ("reset by peer", "connection reset"))
