"""Start and stop a real Azurite Table service on loopback (make run, the tests, the benchmarks)."""
from __future__ import annotations

import os
import select
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


def answers(port: int, timeout: float = 1.0) -> bool:
    """Something accepts connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def running(pid: int) -> bool:
    """`pid` is a live Azurite process (not a zombie, not a pid reused by something else)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: all we can say is that the pid exists
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and b"azurite" in cmdline


def stop_group(pid: int, timeout: float = 10.0) -> None:
    """Stop the process group that `pid` leads (Azurite runs in a session of its own): INT first (the
    only signal on which Azurite's table service saves its data; on TERM it loses the writes of its
    last seconds), then TERM, then KILL."""
    for sig, wait in ((signal.SIGINT, min(timeout, 1.5)), (signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        if _exited(pid, wait):  # INT: it saves in milliseconds, but may not exit on it
            return


def _exited(pid: int, timeout: float) -> bool:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except (AttributeError, OSError):  # no pidfd (not Linux): ask until the deadline
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not running(pid):
                return True
            time.sleep(0.05)
        return False
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


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
        """Stop its whole process group, and reap it."""
        if self.proc and self.proc.poll() is None:
            stop_group(self.proc.pid)
            self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
