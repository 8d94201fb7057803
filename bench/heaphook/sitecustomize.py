"""Loaded by Python at start when this directory is on PYTHONPATH (`bench.scale --heap DIR`):
trace the operator's allocations, and write tracemalloc snapshots into DIR: one on
SIGUSR1, and one each time the traced memory first passes another BENCH_HEAP_STEP_MIB
(default 32; the last of those is the peak's).

A diagnosis aid only: tracing costs the process about twice its CPU and a third
more memory, so the figures of a traced run are never the table's.
"""

import os
import signal
import threading
import time
import tracemalloc

_DIR = os.environ.get("BENCH_HEAP_DIR")
_STEP = int(os.environ.get("BENCH_HEAP_STEP_MIB", "32")) * 2**20


def _dump(name: str) -> None:
    tracemalloc.take_snapshot().dump(os.path.join(_DIR or ".", f"{name}.snapshot"))


def _watch_peak() -> None:
    level = _STEP
    while True:
        time.sleep(0.5)
        current, _ = tracemalloc.get_traced_memory()
        if current >= level:
            _dump(f"peak-{current // 2**20:04d}MiB")
            level = current + _STEP


if _DIR:
    tracemalloc.start(int(os.environ.get("BENCH_HEAP_FRAMES", "12")))
    signal.signal(signal.SIGUSR1, lambda signum, frame: _dump(f"signal-{time.time():.0f}"))
    threading.Thread(target=_watch_peak, name="heap-peaks", daemon=True).start()
