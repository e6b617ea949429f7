"""The store `make run` gives the host: one Azurite per data folder, shared by every host of a checkout.

The first host starts Azurite on the folder and notes its pid and port in `devhost.json` there; a
later host finds it alive and joins it instead of starting a second Azurite on the same files; the
last host to leave stops it. Each host holds a shared lock on `hosts.lock` while it uses the store
(the kernel drops it when a host dies, however it dies); `devhost.lock` makes the start/join and
leave decisions one at a time. A time-scaled run never comes here: it gets an in-memory Azurite
of its own (`scratch`), so its future timestamps never reach the real-time data.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from devhost.azurite import Azurite, answers, connection_string, free_port, running, stop_group

STATE = "devhost.json"


class StoreError(RuntimeError):
    """The folder's Azurite is in a state this host will not touch; the message says what to do."""


class SharedAzurite:
    """`open()` starts or joins the folder's Azurite; `close()` leaves it, stopping it when last out."""

    def __init__(self, folder: str | Path, port: int = 10002):
        self.folder, self.preferred = Path(folder).resolve(), port
        self.port: int | None = None
        self.pid: int | None = None
        self.joined = False
        self._own: Azurite | None = None
        self._users: TextIO | None = None

    @property
    def connection_string(self) -> str:
        assert self.port is not None  # read after open()
        return connection_string(self.port)

    def describe(self) -> str:
        how = f"joined the one pid {self.pid} runs" if self.joined else f"started here, pid {self.pid}"
        return f"Azurite on 127.0.0.1:{self.port}, data in {self.folder} ({how})"

    def open(self) -> SharedAzurite:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._turn():
            self._users = open(self.folder / "hosts.lock", "a")
            fcntl.flock(self._users, fcntl.LOCK_SH)
            state = self._state()
            if state and running(state["pid"]):
                if not answers(state["port"]):
                    self._users.close()
                    self._users = None
                    raise StoreError(f"Azurite pid {state['pid']} holds {self.folder} but does not answer on "
                                     f"127.0.0.1:{state['port']}; stop it (kill {state['pid']}) and start again")
                self.pid, self.port, self.joined = state["pid"], state["port"], True
                return self
            port = self.preferred if self.preferred and _free(self.preferred) else free_port()
            self._own = Azurite(port=port, location=str(self.folder))
            self._own.start()
            assert self._own.proc is not None  # start() launched it
            self.pid, self.port = self._own.proc.pid, port
            tmp = self.folder / f".{STATE}.{os.getpid()}"
            tmp.write_text(json.dumps({"pid": self.pid, "port": port}))
            tmp.replace(self.folder / STATE)
        return self

    def close(self) -> None:
        """Leave the store; the last host out stops Azurite (whichever host started it)."""
        if self._users is None:
            return
        with self._turn():
            try:  # the only user left?
                fcntl.flock(self._users, fcntl.LOCK_EX | fcntl.LOCK_NB)
                last = True
            except BlockingIOError:
                last = False
            self._users.close()
            self._users = None
            if not last:
                return
            if self._own is not None:
                self._own.close()  # stops its process group and reaps it
            elif self.pid and running(self.pid):
                stop_group(self.pid)
            (self.folder / STATE).unlink(missing_ok=True)

    @contextmanager
    def _turn(self):
        with open(self.folder / "devhost.lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def _state(self) -> dict | None:
        try:
            state = json.loads((self.folder / STATE).read_text())
            return {"pid": int(state["pid"]), "port": int(state["port"])}
        except (OSError, ValueError, KeyError, TypeError):
            return None


def scratch() -> Azurite:
    """An in-memory Azurite for this run only (a time-scaled clock writes future timestamps)."""
    return Azurite(port=free_port()).start()


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
