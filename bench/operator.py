"""The operator in its own process (the integration tier's), its footprint read from /proc."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from tests.integration.operator_process import OperatorProcess, operator_env

__all__ = ["Footprint", "Operator", "footprint", "operator_env"]

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


class Operator(OperatorProcess):
    """The integration tier's operator process, logging warnings only, with its footprint."""

    def __init__(self, *, env: dict[str, str], log_path: Path) -> None:
        super().__init__(env=env, log_path=log_path, log_args=("--log-level=warning",))

    def footprint(self) -> Footprint:
        return footprint(self.pid)
