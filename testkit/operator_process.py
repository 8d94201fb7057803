"""The operator as a user runs it: `goimage-operator run`, in its own process.

The integration tier starts it against its control plane, and kills it
(SIGKILL, no goodbye) to prove that a restart loses nothing and duplicates
nothing; the benchmarks read its memory and CPU from /proc while it works.
"""

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

READY_TIMEOUT_S = 60
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass(frozen=True)
class Footprint:
    peak_rss_kib: int
    """VmHWM: the resident set's high-water mark since the process started."""
    rss_kib: int
    cpu_s: float
    """utime + stime of every thread, since the process started."""


def footprint(pid: int) -> Footprint:
    """Process `pid`'s memory and CPU so far, from /proc."""
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OperatorProcess:
    """`python -m goimage.cli run` with `log_args` (default: debug, JSON lines)."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        log_path: Path,
        log_args: tuple[str, ...] = ("--log-level=debug", "--log-format=json"),
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.log_args = log_args
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.metrics_port = 0

    def start(self) -> None:
        port = _free_port()
        self.metrics_port = _free_port()
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "goimage.cli", "run", *self.log_args,
             f"--liveness=http://127.0.0.1:{port}/healthz", f"--metrics-port={self.metrics_port}"],
            env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the operator exited {self.process.returncode}:\n{self.log()}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        raise AssertionError(f"the operator was not live after {READY_TIMEOUT_S}s:\n{self.log()}")

    @property
    def pid(self) -> int:
        if self.process is None:
            raise AssertionError("the operator is not running")
        return self.process.pid

    def stop(self, *, kill: bool = False) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def footprint(self) -> Footprint:
        return footprint(self.pid)

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def log(self) -> str:
        """The log's end, whole lines only (for failure messages)."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text if len(text) < 20000 else text[-20000:].partition("\n")[2]

    def full_log(self) -> str:
        return self.log_path.read_text(errors="replace")


def operator_env(base: dict[str, str]) -> dict[str, str]:
    """`base` with the operator's settings for a cluster without a kubelet: images that are
    never pulled, a short history, no registry mirrors."""
    env = dict(base)
    env.update(
        {
            # Never pulled in this tier (no kubelet); named so a leak would be obvious.
            "GOIMAGE_KANIKO_IMAGE": "kaniko.invalid/executor:test",
            "GOIMAGE_REPORTER_IMAGE": "reporter.invalid/goimage-operator:test",
            "GOIMAGE_HISTORY_LIMIT": "2",
            # The kubelet stand-in's containers all end at one fixed past time, so the
            # default retention (5m) would delete each finished pod as soon as its result is
            # written; the tests that look at finished pods keep them (test_pod_release
            # sets its own).
            "GOIMAGE_FINISHED_POD_RETENTION": "1h",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("GOIMAGE_REGISTRY_MIRRORS", None)
    return env
