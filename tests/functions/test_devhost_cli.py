"""`python -m devhost`, `python -m devhost.local` and `make run` as a developer runs them: real child
processes on 127.0.0.1, their banners, their exit codes, their log lines, their key file."""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A connection string that names a store; nothing listens there (tests that never touch the store).
NAMED_STORE = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
               "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;")
SAMPLE = "tests.functions.sample_app:app"


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without the settings these tests set, plus `extra`."""
    drop = {"FUNCTIONS_KEY", "TABLES_CONNECTION_STRING", "TABLES_ENDPOINT", "ESCALATION_SCHEDULE",
            "SAMPLE_SCHEDULE", "TABLE_NAME", "PORT", "REMEDIATION_MODE", "PAGERDUTY_ROUTING_KEYS"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


class Child:
    """A devhost process: stdout read line by line as it comes, stderr kept whole."""

    def __init__(self, module: str, *args: str, cwd: Path, env: dict[str, str]):
        self.proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=cwd, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.err: list[str] = []
        self._readers = [threading.Thread(target=self._read_out, daemon=True),
                         threading.Thread(target=lambda: self.err.extend(self.proc.stderr), daemon=True)]
        for t in self._readers:
            t.start()

    def _read_out(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def banner(self, timeout: float = 90) -> list[str]:
        """stdout up to `ready`, or up to the end of output when the process stops without it."""
        out = []
        while (line := self.lines.get(timeout=timeout)) is not None:
            out.append(line)
            if line == "ready":
                break
        return out

    def url(self, banner: list[str]) -> str:
        return next(re.search(r"(http://127\.0\.0\.1:\d+)/api/", line).group(1)
                    for line in banner if line.startswith("Local host: "))

    def stop(self, signum: int = signal.SIGINT, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        return self.wait(timeout)

    def wait(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout)
        for t in self._readers:
            t.join(timeout)
        return code

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait()


def get(url: str, key: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"x-functions-key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def key_of(banner: list[str]) -> tuple[str, str]:
    """(key, where it comes from) from the banner's `Function key (...)` line."""
    line = next(line for line in banner if line.startswith("Function key"))
    m = re.match(r"Function key \((.*)\): (\S+)", line)
    return m.group(2), m.group(1)


# A (8.6): it serves on the documented defaults, or refuses in one line

def test_a_fresh_checkout_serves_on_the_documented_defaults(azurite, tmp_path):
    host = Child("devhost", "--port", "0", "--no-timers", cwd=tmp_path,
                 env=clean_env(TABLES_CONNECTION_STRING=azurite.connection_string, TABLE_NAME="freshcheckout"))
    try:
        banner = host.banner()
        text = "\n".join(banner)
        assert banner[-1] == "ready", host.stderr
        assert "escalation_sweep: %ESCALATION_SCHEDULE% = */10 * * * * *" in text and "ERROR" not in text
        url, (key, _) = host.url(banner), key_of(banner)
        assert get(f"{url}/api/incidents", key)[0] == 200
        assert get(f"{url}/api/health")[0] in (200, 503)  # stale until the first sweep; never 500
        assert host.stop() == 0
    finally:
        host.kill()


@pytest.mark.parametrize("app, env, named", [
    ("function_app:app", {}, "TABLES_CONNECTION_STRING"),
    (SAMPLE, {"TABLES_CONNECTION_STRING": NAMED_STORE}, "schedule setting SAMPLE_SCHEDULE is not set"),
    ("function_app:app", {"TABLES_CONNECTION_STRING": NAMED_STORE, "ESCALATION_SCHEDULE": "*/10 * *"},
     "function escalation_sweep is in error"),
    ("function_app:app", {"TABLES_CONNECTION_STRING": NAMED_STORE, "REMEDIATION_MODE": "yolo"},
     "REMEDIATION_MODE"),
])
def test_a_host_that_cannot_serve_says_why_in_one_line_and_exits_non_zero(tmp_path, app, env, named):
    host = Child("devhost", "--port", "0", "--app", app, cwd=tmp_path, env=clean_env(**env))
    try:
        banner = host.banner()
        assert "ready" not in banner
        assert host.wait() != 0
        lines = host.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("devhost: cannot serve: ") and named in lines[0], lines
    finally:
        host.kill()


# F (9.5): TIME_SCALE, --help, the app's time in log lines

@pytest.mark.parametrize("make_args, expected", [
    (["TIME_SCALE=60", "PORT=0"], "-m devhost.local --port 0 --time-scale 60"),
    (["PORT=0"], "-m devhost.local --port 0 --time-scale 1"),
])
def test_make_run_takes_time_scale(make_args, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    out = subprocess.run(["make", "--no-print-directory", "-n", "run", *make_args], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True, env=env).stdout
    assert out.splitlines()[-1].endswith(expected), out


def test_devhost_local_documents_its_options():
    out = subprocess.run([sys.executable, "-m", "devhost.local", "--help"], cwd=ROOT, env=clean_env(),
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.startswith("usage: python -m devhost.local ")
    for option, says in (("--port", "7071"), ("--time-scale N", "faster than real time"),
                         ("--no-timers", "timer"), ("--azurite-dir", ".azurite"), ("--azurite-port", "10002")):
        assert option in out and says in out, option
    assert "in-memory Azurite of its own" in out and ".devhost-key" in out


def test_a_scaled_clock_puts_the_apps_time_next_to_the_real_time_in_log_lines(tmp_path):
    host = Child("devhost", "--port", "0", "--time-scale", "3600", "--no-timers", "--app", SAMPLE, cwd=tmp_path,
                 env=clean_env(TABLES_CONNECTION_STRING=NAMED_STORE, SAMPLE_SCHEDULE="0 0 * * * *", TZ="UTC"))
    try:
        banner = host.banner()
        assert banner[-1] == "ready", host.stderr
        assert get(f"{host.url(banner)}/api/health")[0] == 200
        assert host.stop() == 0
    finally:
        host.kill()
    line = next(line for line in host.stderr.splitlines() if "devhost.access: GET /api/health 200" in line)
    m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d{3} \[app (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\] INFO ", line)
    assert m, line
    real = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    app = datetime.strptime(m.group(2), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert app - real > timedelta(minutes=1)  # at x3600 the app's clock left real time behind at once


def test_the_log_formatter_adds_the_scaled_clocks_time_and_masks_the_key():
    import logging

    from devhost.logs import HostFormatter
    from shared.adapters.clock import FixedClock
    clock = FixedClock(datetime(2027, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "posted %s with key %s", ("/a?code=s3cret", "s3cret"),
                               None)
    scaled = HostFormatter(clock=clock, scale=60, secrets=("s3cret",)).format(record)
    assert "[app 2027-01-02T03:04:05Z] INFO app: posted /a?code=*** with key ***" in scaled
    assert "[app" not in HostFormatter(clock=clock, scale=1).format(record)


# H (9.7): the generated key survives a restart

def test_the_generated_key_is_kept_across_restarts_in_an_ignored_file(tmp_path):
    env = clean_env(TABLES_CONNECTION_STRING=NAMED_STORE, SAMPLE_SCHEDULE="0 0 * * * *")
    seen = []
    for _ in range(2):
        host = Child("devhost", "--port", "0", "--no-timers", "--app", SAMPLE, cwd=tmp_path, env=env)
        try:
            banner = host.banner()
            assert banner[-1] == "ready", host.stderr
            key, where = key_of(banner)
            assert get(f"{host.url(banner)}/api/incidents/1", key)[0] == 200
            seen.append((key, where))
            assert host.stop() == 0
        finally:
            host.kill()
    kept = tmp_path / ".devhost-key"
    assert seen[0][0] == seen[1][0] == kept.read_text().strip()
    assert seen[0][1] == f"generated, kept in {kept}" and seen[1][1] == f"kept in {kept}"
    assert kept.stat().st_mode & 0o777 == 0o600
    assert ".devhost-key" in (ROOT / ".gitignore").read_text().splitlines()
    host = Child("devhost", "--port", "0", "--no-timers", "--app", SAMPLE, cwd=tmp_path,
                 env={**env, "FUNCTIONS_KEY": "from-the-environment"})
    try:
        assert key_of(host.banner()) == ("from-the-environment", "from FUNCTIONS_KEY")
        assert host.stop() == 0
    finally:
        host.kill()
    assert kept.read_text().strip() == seen[0][0]
