"""The local host's log lines: real time, the app's time when its clock is scaled, never a key."""
from __future__ import annotations

import logging
from datetime import timezone

from devhost.keys import redact

PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SCALED = "%(asctime)s [app %(app_time)s] %(levelname)s %(name)s: %(message)s"


class HostFormatter(logging.Formatter):
    """Adds the app's time (`clock.now()`, UTC) when the clock is scaled; masks the function key
    and every `code` query value in the whole line, traceback included."""

    def __init__(self, *, clock=None, scale: float = 1.0, secrets: tuple[str, ...] = ()):
        self.clock = clock if scale != 1 else None
        super().__init__(SCALED if self.clock else PLAIN)
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        if self.clock is not None:
            record.app_time = self.clock.now().astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return redact(super().format(record), *self.secrets)


def configure(*, clock=None, scale: float = 1.0, secrets: tuple[str, ...] = ()) -> None:
    """Log INFO and up to stderr through HostFormatter (azure SDK chatter: warnings only)."""
    logging.basicConfig(level=logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(HostFormatter(clock=clock, scale=scale, secrets=secrets))
    logging.getLogger("azure").setLevel(logging.WARNING)
