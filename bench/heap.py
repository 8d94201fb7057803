"""Where the operator's memory is: tracemalloc snapshots of a traced run, summarized.

    .venv/bin/python -m bench.heap SNAPSHOT [--top N] [--at kopf,goimage]

`python -m bench --heap DIR` and `python -m bench.scale --heap DIR` start the operator
with bench/heaphook on its PYTHONPATH, which writes the snapshots into DIR (one each
time the traced memory passes another 32 MiB: the last is the peak's). This groups a
snapshot's allocations by the newest frame in the named packages: what in the
operator or kopf asked for the memory, rather than which library line made it.
A diagnosis aid: a traced operator runs about twice as slow, so its figures never
go in a results table.
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from collections import Counter
from pathlib import Path

HOOK = Path(__file__).parent / "heaphook"
DEFAULT_AT = ("/goimage/", "/kopf/")


def traced_env(env: dict[str, str], directory: Path) -> dict[str, str]:
    """`env` for an operator whose allocations are traced into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = f"{HOOK}:{env['PYTHONPATH']}" if env.get("PYTHONPATH") else str(HOOK)
    return env | {"PYTHONPATH": path, "BENCH_HEAP_DIR": str(directory)}


def _where(frame: tracemalloc.Frame) -> str:
    name = frame.filename
    for marker in ("site-packages/", "operator/"):
        name = name.rpartition(marker)[2] or name
    return f"{name}:{frame.lineno}"


def group(snapshot: tracemalloc.Snapshot, at: tuple[str, ...]) -> tuple[int, Counter[str]]:
    """Total traced bytes, and bytes by the newest frame whose file is under one of `at`
    (the newest frame of all when none is)."""
    sizes: Counter[str] = Counter()
    total = 0
    for stat in snapshot.statistics("traceback"):
        total += stat.size
        frames = list(stat.traceback)  # oldest first
        chosen = next((f for f in reversed(frames) if any(m in f.filename for m in at)), None)
        sizes[_where(chosen or frames[-1])] += stat.size
    return total, sizes


def summarize(path: Path, *, top: int = 30, at: tuple[str, ...] = DEFAULT_AT) -> str:
    total, sizes = group(tracemalloc.Snapshot.load(str(path)), at)
    lines = [f"{total / 2**20:.1f} MiB traced in {path.name}, by the newest frame in {at}:"]
    lines += [f"  {size / 2**20:8.2f} MiB  {where}" for where, size in sizes.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.heap", description=__doc__)
    parser.add_argument("snapshot", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--at", default=",".join(DEFAULT_AT), help="path parts, comma-separated")
    args = parser.parse_args(argv)
    at = tuple(part for part in args.at.split(",") if part)
    print(summarize(args.snapshot, top=args.top, at=at))
    return 0


if __name__ == "__main__":
    sys.exit(main())
