"""Small helpers around the Azure management SDKs: error words, the write's request id, and a
long-running-operation poller that stops at the caller's deadline.

Nothing here imports azure.* at module import: the SDK is loaded when the first call needs it.
"""
from __future__ import annotations

import time
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from shared.domain.errors import DependencyFailed

_MAX_MESSAGE = 300


class LroDeadline(Exception):
    """The long-running operation was still running when the caller's deadline passed."""


def describe(e: BaseException) -> str:
    """HTTP status, ARM error code and message, and the x-ms-request-id; never a header value else."""
    status = getattr(e, "status_code", None)
    error = getattr(e, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None) or getattr(e, "reason", None)
    if status is None and code is None:
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
    words = []
    if status is not None:
        words.append(f"HTTP {status}")
    if code:
        words.append(str(code))
    if message:
        words.append(str(message)[:_MAX_MESSAGE])
    request_id = response_request_id(getattr(e, "response", None))
    if request_id:
        words.append(f"(x-ms-request-id {request_id})")
    return " ".join(words) or type(e).__name__


def failed(operation: str, resource_id: str, e: BaseException) -> DependencyFailed:
    return DependencyFailed(f"ARM {operation} on {resource_id} failed: {describe(e)}")


def response_request_id(response: Any) -> str | None:
    headers = getattr(response, "headers", None)
    return headers.get("x-ms-request-id") if headers is not None else None


class WriteResponse:
    """A raw_response_hook that keeps the x-ms-request-id of the last non-GET response: the write
    itself (after any retries), not the status polls that follow it; and its HTTP Date, so that
    later answers of ARM (Resource Health's reportedTime) compare with a time on ARM's own clock."""

    def __init__(self) -> None:
        self.request_id: str | None = None
        self.status: int | None = None
        self.answered_at: datetime | None = None

    def __call__(self, pipeline_response: Any) -> None:
        if pipeline_response.http_request.method.upper() != "GET":
            self.request_id = response_request_id(pipeline_response.http_response)
            self.status = pipeline_response.http_response.status_code
            self.answered_at = _http_date(pipeline_response.http_response.headers.get("Date"))


def _http_date(value: str | None) -> datetime | None:
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None


_polling_class: Any = None


def deadline_polling(*, delay_s: float, deadline: float, endpoint: str, **operation_config: Any) -> Any:
    """An ARMPolling that raises LroDeadline instead of sleeping past `deadline` (time.monotonic()).

    The SDK's own LROPoller.result(timeout) returns while its thread keeps polling forever; this
    one stops polling ARM once the caller has given up.
    """
    global _polling_class
    if _polling_class is None:
        from azure.mgmt.core.polling.arm_polling import ARMPolling

        class DeadlinePolling(ARMPolling):
            def __init__(self, *args: Any, deadline: float, **kwargs: Any):
                super().__init__(*args, **kwargs)
                self._deadline = deadline

            def _delay(self) -> None:
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    raise LroDeadline()
                self._sleep(min(self._extract_delay(), remaining))

        _polling_class = DeadlinePolling
    return _polling_class(delay_s, deadline=deadline, path_format_arguments={"endpoint": endpoint},
                          **operation_config)
