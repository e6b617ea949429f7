"""HTTP for the local host: one request in, one function invoked, one answer out, one access line.

Answers the host itself makes (401, 404, 405, 408, 413, 500, malformed requests) have a JSON body
`{"error", "message"}`, like the app's own errors."""
from __future__ import annotations

import json
import logging
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Sequence
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from devhost import keys

if TYPE_CHECKING:
    from devhost.server import Host

log = logging.getLogger("devhost.server")
access_log = logging.getLogger("devhost.access")
PREFIX = "/api/"
MAX_BODY = 100 * 1024 * 1024  # the app enforces its own, smaller limit
READ_TIMEOUT = 10.0  # seconds a read from a client may take before the request is dropped (408)
UNAUTHORIZED = ("this function needs the function key: send it in the x-functions-key header "
                "or as ?code=<key>")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    devhost: Host  # set by the Host that owns this server, before it serves
    request_queue_size = 1024  # the listen backlog: bursts of connections wait, none is reset (default 5)

    def handle_error(self, request, client_address) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):  # the client went away: nothing to fix
            log.debug("connection from %s: %s", client_address[0], error)
        else:
            log.exception("connection from %s failed", client_address[0])


def _content_type(mimetype: str, charset: str) -> str:
    textual = mimetype.startswith("text/") or mimetype.endswith(("json", "xml", "javascript"))
    return f"{mimetype}; charset={charset}" if textual and "charset" not in mimetype else mimetype


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    _consumed = False
    server: Server  # the handler only ever serves a devhost Server

    def setup(self) -> None:
        # typeshed declares `timeout` a ClassVar; StreamRequestHandler.setup reads it per instance
        self.timeout = self.server.devhost.read_timeout  # type: ignore[misc]  # applies to every read on this connection
        super().setup()

    def _handle(self) -> None:
        started, self._consumed = time.perf_counter(), False
        status = self._dispatch()
        access_log.info("%s %s %d %.1fms", self.command, keys.redact(self.path, self.server.devhost.key), status,
                        (time.perf_counter() - started) * 1000)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def log_request(self, code="-", size="-") -> None:  # _handle writes the access log
        pass

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s", keys.redact(format % args, self.server.devhost.key))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests (bad request line, headers too large, unknown method): JSON, then close."""
        self.log_error("code %d, message %s", code, message)
        self.close_connection = True
        self._error(code, "bad_request" if code < 500 else "not_implemented",
                    keys.redact(message or self.responses.get(code, ("",))[0], self.server.devhost.key))

    def _dispatch(self) -> int:
        host = self.server.devhost
        url = urlsplit(self.path)
        if not url.path.startswith(PREFIX):
            return self._error(404, "not_found", f"the local host serves functions under {PREFIX}")
        path = url.path[len(PREFIX):].rstrip("/")
        matches = [(r, p) for r in host.routes if (p := r.match(path)) is not None]
        chosen = next(((r, p) for r, p in matches if not r.methods or self.command in r.methods), None)
        if chosen is None and matches:
            allowed = ", ".join(sorted(set().union(*(r.methods for r, _ in matches if r.methods))))
            return self._error(405, "method_not_allowed", f"{PREFIX}{path} takes {allowed}",
                               [("Allow", allowed)])
        if chosen is None:
            return self._error(404, "not_found", f"no function is served at {PREFIX}{path}")
        route, route_params = chosen
        query = parse_qsl(url.query, keep_blank_values=True)  # decoded once, here
        if route.auth != "anonymous" and not keys.valid(keys.presented(self.headers, query), host.key):
            return self._error(401, "unauthorized", UNAUTHORIZED)
        try:
            body = self._read_body()
        except ValueError:
            return self._error(400, "bad_request", "malformed request body framing")
        except TimeoutError:
            self.close_connection = True
            return self._error(408, "request_timeout",
                               f"the request body did not arrive within {host.read_timeout:g} s")
        if body is None:
            return self._error(413, "payload_too_large", "request body over 100 MiB")
        headers = {k: ", ".join(self.headers.get_all(k, [])) for k in self.headers.keys()}
        request = func.HttpRequest(self.command, f"http://{self.headers.get('Host', host.address)}{self.path}",
                                   headers=headers, params=dict(query), route_params=route_params, body=body)
        try:
            response = route.call(request)
            if isinstance(response, (str, bytes)):
                response = func.HttpResponse(response)
            if not isinstance(response, func.HttpResponse):
                raise TypeError(f"returned {type(response).__name__}, not func.HttpResponse")
        except Exception:  # the host's answer to a failed invocation; the traceback goes to the log
            log.exception("Executed 'Functions.%s' (Failed)", route.name)
            return self._error(500, "function_failed", f"the function {route.name} failed; see the host's log")
        out = [(k, v) for k, v in response.headers.items()
               if k.lower() not in ("content-length", "transfer-encoding", "connection")]
        if not any(k.lower() == "content-type" for k, _ in out):
            out.append(("Content-Type", _content_type(response.mimetype, response.charset)))
        return self._send(response.status_code, response.get_body(), out)

    def _read_body(self) -> bytes | None:
        """The request body; None when it is over MAX_BODY (left unread). TimeoutError: a slow client."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, size = [], 0
            while (n := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                size += n
                if size > MAX_BODY:
                    return None
                chunks.append(self._read_exactly(n))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
            self._consumed = True
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_BODY:
            return None
        body, self._consumed = self._read_exactly(length), True
        return body

    def _read_exactly(self, n: int) -> bytes:
        data = self.rfile.read(n)
        if len(data) < n:  # the client closed before sending what it announced
            raise ValueError("body shorter than announced")
        return data

    def _error(self, status: int, code: str, message: str, headers: Sequence[tuple[str, str]] = ()) -> int:
        body = json.dumps({"error": code, "message": message}).encode()
        return self._send(status, body, [("Content-Type", "application/json; charset=utf-8"), *headers])

    def _send(self, status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> int:
        """Write a whole response; close the connection when the request body was left unread."""
        framing = getattr(self, "headers", None) or {}  # none yet when the request line was malformed
        unread = not self._consumed and (framing.get("Content-Length", "0") != "0"
                                         or "Transfer-Encoding" in framing)
        self.send_response(status)
        for k, v in headers or ():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if unread or self.close_connection:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return status
