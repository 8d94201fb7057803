"""Prometheus metrics of the builds this operator runs, served at /metrics.

Counted at phase transitions of a GoImageBuild's status, which are written
once each: an operator restart re-reads the status and counts nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import prometheus_client

_MIB = 1024 * 1024

BUILDS_STARTED = prometheus_client.Counter(
    "goimage_builds_started_total", "Builds started (Kaniko Jobs created).", ["namespace"]
)
BUILDS_SUCCEEDED = prometheus_client.Counter(
    "goimage_builds_succeeded_total", "Builds that pushed an image within budget.", ["namespace"]
)
BUILDS_FAILED = prometheus_client.Counter(
    "goimage_builds_failed_total", "Builds that failed, by failure reason.", ["namespace", "reason"]
)
BUILD_DURATION = prometheus_client.Histogram(
    "goimage_build_duration_seconds",
    "From the build's start to its end, by result.",
    ["result"],
    buckets=(10, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
IMAGE_SIZE = prometheus_client.Histogram(
    "goimage_image_size_bytes",
    "Size of pushed images: config blob plus compressed layers.",
    buckets=tuple(n * _MIB for n in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)),
)


def serve(port: int) -> None:
    """Serve /metrics on all addresses (a thread of its own)."""
    prometheus_client.start_http_server(port)


def build_started(namespace: str) -> None:
    BUILDS_STARTED.labels(namespace=namespace).inc()


def _seconds(start: Any, end: Any) -> float | None:
    try:
        began = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        ended = datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        return None
    return max((ended - began).total_seconds(), 0.0)


def build_finished(namespace: str, status: Mapping[str, Any]) -> None:
    """Count a status that has just become Succeeded or Failed."""
    phase = status.get("phase")
    duration = _seconds(status.get("startTime"), status.get("completionTime"))
    if isinstance(status.get("size"), int):
        IMAGE_SIZE.observe(status["size"])
    if phase == "Succeeded":
        BUILDS_SUCCEEDED.labels(namespace=namespace).inc()
        result = "succeeded"
    elif phase == "Failed":
        reason = (status.get("failure") or {}).get("reason", "Unknown")
        BUILDS_FAILED.labels(namespace=namespace, reason=reason).inc()
        result = "failed"
    else:
        return
    if duration is not None:
        BUILD_DURATION.labels(result=result).observe(duration)
