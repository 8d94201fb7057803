"""The results table, printed and written to bench/results.md with the machine it came from."""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import platform
from collections.abc import Sequence
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Row:
    figure: str
    value: str
    floor: str = "—"
    ratio: str = "—"
    note: str = ""


def ratio(value: float, floor: float) -> str:
    if floor <= 0 or math.isnan(value) or math.isnan(floor):
        return "—"
    return f"{value / floor:.1f}x"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s"


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(math.ceil(fraction * len(ordered)), 1)
    return ordered[rank - 1]


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def table(rows: Sequence[Row]) -> str:
    lines = [
        "| figure | operator | floor | ratio | how / note |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        cells = (row.figure, row.value, row.floor, row.ratio, row.note)
        lines.append("| " + " | ".join(_escape(cell) for cell in cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.partition(":")[2].strip()
            break
    memory_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return "\n".join(
        [
            f"- cpus (nproc): {os.cpu_count()}",
            f"- model name: {model}",
            f"- memory: {memory_kib / 1024 / 1024:.1f} GiB",
            f"- kernel: {platform.system()} {platform.release()}",
            f"- python: {platform.python_version()}",
            f"- date: {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- load average at the end (1, 5, 15 min): {load}",
        ]
    )


def write_results(
    output: Path,
    *,
    title: str,
    intro: str,
    rows: Sequence[Row],
    notes: Sequence[str],
    findings: Path,
) -> None:
    """`output`: the title, the machine, the table, the notes and the hand-kept findings."""
    text = "\n\n".join(
        [
            f"# {title}",
            intro,
            "## Machine\n\n" + machine(),
            "## Figures\n\n" + table(rows),
            *notes,
            findings.read_text().strip() if findings.exists() else "",
        ]
    )
    output.write_text(text + "\n")
    print(f"\n{table(rows)}\n\nwritten to {output}")
