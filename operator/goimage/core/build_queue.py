"""The per-namespace build queue of GoImageBuildPolicy's maxConcurrentBuilds.

No queue object exists: the queue is the GoImageBuilds whose status says they
wait (Ready False, reason Queued, `queuedSince`), so it survives an operator
restart as it is, and the running builds are the namespace's unfinished Jobs.
A build starts when it is among the first as many waiting builds, oldest
first, as there are free slots.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from goimage.core import conditions, history


@dataclass(frozen=True)
class Waiting:
    name: str
    since: str  # RFC 3339, so it sorts as text


@dataclass(frozen=True)
class Decision:
    start: bool
    position: int  # 1 for the oldest waiting build
    waiting: int


def is_queued(status: Mapping[str, Any]) -> bool:
    """Whether a GoImageBuild's status says it waits for a slot."""
    if not status.get("queuedSince"):
        return False
    return any(
        c.get("type") == conditions.READY and c.get("reason") == str(conditions.Reason.QUEUED)
        for c in status.get("conditions") or ()
    )


def running(jobs: Iterable[Mapping[str, Any]]) -> int:
    """How many of a namespace's build Jobs hold a slot: those not finished."""
    return sum(1 for job in jobs if not history.job_finished(job))


def decide(build: Waiting, others: Iterable[Waiting], *, running: int, limit: int) -> Decision:
    """Whether `build` may start now, and its place among the waiting builds."""
    order = sorted({build, *others}, key=lambda w: (w.since, w.name))
    position = order.index(build) + 1
    return Decision(start=position <= limit - running, position=position, waiting=len(order))
