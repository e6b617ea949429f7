"""`make run`'s store (python -m devhost.local, real child processes, real Azurite on 127.0.0.1): two
hosts of one checkout share one Azurite and never fork its data folder; a time-scaled run gets a
store of its own; Azurite stops with the last host, however that host is stopped."""
from __future__ import annotations

import json
import os
import re
import select
import signal
import urllib.request
from pathlib import Path

from tests.functions.test_devhost_cli import ROOT, Child, clean_env, get, key_of

SAMPLE_ALERT = (ROOT / "devhost" / "sample-alert.json").read_bytes()


def local(cwd: Path, data: Path, *args: str) -> Child:
    return Child("devhost.local", "--port", "0", "--azurite-port", "0", "--azurite-dir", str(data), *args,
                 cwd=cwd, env=clean_env())


def store_of(banner: list[str]) -> tuple[int, int, bool]:
    """(port, pid, joined) from the `Azurite on ...` line `make run` prints first."""
    line = next(line for line in banner if line.startswith("Azurite on "))
    m = re.match(r"Azurite on 127\.0\.0\.1:(\d+), .*(?:started here, pid (\d+)|joined the one pid (\d+) runs|"
                 r"in memory \(pid (\d+)\))", line)
    assert m, line
    return int(m.group(1)), int(m.group(2) or m.group(3) or m.group(4)), bool(m.group(3))


def azurites_on(folder: Path) -> list[int]:
    """Live Azurite processes that keep their data in `folder`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and b"--location" in args and args[args.index(b"--location") + 1] == bytes(folder) \
                and any(b"azurite" in a for a in args):
            found.append(int(proc.name))
    return found


def ended(pid: int, timeout: float = 30) -> bool:
    """Wait for `pid` (not a child of this process) to end."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def post_alert(url: str, key: str) -> dict:
    request = urllib.request.Request(f"{url}/api/alerts", data=SAMPLE_ALERT, method="POST",
                                     headers={"x-functions-key": key, "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as r:
        assert r.status == 202
        return json.loads(r.read())


def incident_ids(url: str, key: str) -> list[str]:
    status, body = get(f"{url}/api/incidents", key)
    assert status == 200, body
    return [i["id"] for i in json.loads(body)["incidents"]]


def cleanup(children, *folders: Path) -> None:
    for child in children:
        if child is not None:
            child.kill()
    for folder in folders:  # Azurites a failed test left behind on its own folder
        for pid in azurites_on(folder):
            os.killpg(pid, signal.SIGKILL)


def test_a_second_host_joins_the_running_azurite_and_the_last_one_out_stops_it(tmp_path):
    data = tmp_path / "data"
    first = local(tmp_path, data, "--no-timers")
    second = None
    try:
        one = first.banner()
        assert one[-1] == "ready", first.stderr
        port, pid, joined = store_of(one)
        assert not joined and (data / "devhost.json").exists()
        second = local(tmp_path, data, "--no-timers")
        two = second.banner()
        assert two[-1] == "ready", second.stderr
        assert store_of(two) == (port, pid, True)
        assert azurites_on(data) == [pid]  # one Azurite on the folder: no fork
        key = key_of(one)[0]
        incident = post_alert(first.url(one), key)["incident_id"]
        assert incident in incident_ids(second.url(two), key)  # one store
        assert first.stop(signal.SIGINT) == 0  # the first host leaves; the second still uses Azurite
        assert azurites_on(data) == [pid] and incident in incident_ids(second.url(two), key)
        assert second.stop(signal.SIGHUP) == 0  # the last host out (a closed terminal) stops it
        assert ended(pid) and not (data / "devhost.json").exists()
    finally:
        cleanup((first, second), data)


def test_a_time_scaled_run_has_a_store_of_its_own(tmp_path):
    data = tmp_path / "data"
    real = local(tmp_path, data, "--no-timers")
    scaled = local(tmp_path, data, "--no-timers", "--time-scale", "60")
    try:
        one, fast = real.banner(), scaled.banner()
        assert one[-1] == "ready" and fast[-1] == "ready", real.stderr + scaled.stderr
        port, pid, _ = store_of(one)
        scaled_port, scaled_pid, _ = store_of(fast)
        assert "in memory" in next(line for line in fast if line.startswith("Azurite on "))
        assert scaled_port != port and scaled_pid != pid
        key = key_of(one)[0]
        incident = post_alert(scaled.url(fast), key)["incident_id"]
        assert incident in incident_ids(scaled.url(fast), key)
        assert incident_ids(real.url(one), key) == []  # nothing from the x60 clock in the real-time data
        assert azurites_on(data) == [pid]
        assert scaled.stop(signal.SIGTERM) == 0 and ended(scaled_pid)
        assert real.stop(signal.SIGINT) == 0 and ended(pid)
    finally:
        cleanup((real, scaled), data)


def test_closing_the_terminal_stops_the_host_and_the_azurite_it_started(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    # a state file left by a host that died, its pid since taken by another process: not joined
    (data / "devhost.json").write_text(json.dumps({"pid": os.getpid(), "port": 9}))
    host = local(tmp_path, data, "--no-timers")
    try:
        banner = host.banner()
        assert banner[-1] == "ready", host.stderr
        _, pid, joined = store_of(banner)
        assert not joined and azurites_on(data) == [pid]
        assert host.stop(signal.SIGHUP) == 0
        assert ended(pid) and azurites_on(data) == []
    finally:
        cleanup((host,), data)
