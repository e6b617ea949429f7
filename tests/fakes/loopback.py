"""A loopback HTTP server for the fakes of outside services: 127.0.0.1, a free port, a thread of its
own, started and stopped as a context manager. Subclasses set `handler` (a BaseHTTPRequestHandler
subclass); the handler reaches the fake as `self.fake`."""
from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):   # a client dropping its connection is normal
            super().handle_error(request, client_address)


class LoopbackFake:
    handler: ClassVar[type[BaseHTTPRequestHandler]]
    _server: QuietServer | None = None

    def __enter__(self) -> Any:
        handler = type("Handler", (self.handler,), {"fake": self})
        self._server = QuietServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None, f"use {type(self).__name__} as a context manager"
        return f"http://127.0.0.1:{self._server.server_address[1]}"
