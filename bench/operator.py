"""The operator as users run it, in its own process; its footprint read from /proc."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from bench.cluster import REPO_ROOT

READY_TIMEOUT_S = 60
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def operator_env(base: dict[str, str]) -> dict[str, str]:
    """The integration tier's settings (tests/integration/operator_process.py)."""
    env = dict(base)
    env.update(
        {
            # Never pulled (no kubelet); named so that a leak would be obvious.
            "GOIMAGE_KANIKO_IMAGE": "kaniko.invalid/executor:bench",
            "GOIMAGE_REPORTER_IMAGE": "reporter.invalid/goimage-operator:bench",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("GOIMAGE_REGISTRY_MIRRORS", None)
    return env


@dataclasses.dataclass(frozen=True)
class Footprint:
    peak_rss_kib: int
    """VmHWM: the resident set's high-water mark since the process started."""
    rss_kib: int
    cpu_s: float
    """utime + stime of every thread, since the process started."""


def footprint(pid: int) -> Footprint:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    # /proc/PID/stat: the command may hold spaces, so count from its closing parenthesis.
    stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    utime, stime = int(stat[11]), int(stat[12])
    return Footprint(
        peak_rss_kib=int(fields["VmHWM"].split()[0]),
        rss_kib=int(fields["VmRSS"].split()[0]),
        cpu_s=(utime + stime) / _CLOCK_TICKS,
    )


class Operator:
    """`python -m goimage.cli run --log-level warning --metrics-port N`, as the tests run it."""

    def __init__(self, *, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.metrics_port = 0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        live = free_port()
        self.metrics_port = free_port()
        self._log = self.log_path.open("ab")
        command = [
            sys.executable, "-m", "goimage.cli", "run", "--log-level", "warning",
            f"--metrics-port={self.metrics_port}", f"--liveness=http://127.0.0.1:{live}/healthz",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            env=self.env,
            cwd=REPO_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the operator exited {self.process.returncode}:\n{self.log()}")
            try:
                url = f"http://127.0.0.1:{live}/healthz"
                with urllib.request.urlopen(url, timeout=2):  # loopback http
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise RuntimeError(f"the operator was not live after {READY_TIMEOUT_S}s:\n{self.log()}")

    def footprint(self) -> Footprint:
        return footprint(self.pid)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-5000:]
