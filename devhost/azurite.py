"""Start and stop a real Azurite Table service on loopback (make run, the tests, the benchmarks)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Azurite's published development account key: not a secret.
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connection_string(port: int) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};"
            f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")


class Azurite:
    """A running azurite-table process; `stop()` and `start()` again on the same port (outage tests)."""

    def __init__(self, port: int | None = None, location: str | None = None,
                 tls: tuple[str, str] | None = None):
        """`location`: a folder to keep the data in across restarts; None keeps it in memory.
        `tls`: (cert PEM path, key PEM path) to serve https with OAuth bearer tokens (identity tests)."""
        self.port = port or free_port()
        self.tls = tls
        self.proc: subprocess.Popen | None = None
        self.location = location
        self._dir = tempfile.mkdtemp(prefix="azurite-")

    @property
    def connection_string(self) -> str:
        return connection_string(self.port)

    def start(self, timeout: float = 30.0) -> "Azurite":
        exe = ROOT / "node_modules" / ".bin" / "azurite-table"
        if not exe.exists():
            raise RuntimeError("Azurite is not installed: run `npm ci` (make run and make test do)")
        storage = ["--location", self.location] if self.location else ["--inMemoryPersistence"]
        if self.tls:
            storage += ["--oauth", "basic", "--cert", self.tls[0], "--key", self.tls[1]]
        self.proc = subprocess.Popen(
            [str(exe), "--tableHost", "127.0.0.1", "--tablePort", str(self.port), *storage,
             "--skipApiVersionCheck", "--disableProductStyleUrl", "--silent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self._dir, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"azurite-table exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)  # process start-up, not a test clock
        self.stop()
        raise RuntimeError("azurite-table did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
