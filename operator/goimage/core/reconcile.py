"""What reconciling a GoImageBuild does: start its current build or not, and which older
builds to remove.

Pure: from the build's plan, its Jobs as the jobs index holds them and its
status. The handler (handlers/builds.py) carries the decision out: the status,
the ConfigMap and the Job of a build to start, then the removals. Whatever
else decides whether a build may start belongs in `decide`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from goimage.core import build_queue, history, status
from goimage.core.plan import BuildPlan


@dataclass(frozen=True)
class Decision:
    # The current build's Job does not exist yet: make it.
    start: bool
    # The status to write before the Job is made (None: it says this build already).
    # Written first, so that a pod event of the new Job is never overwritten by Pending.
    status: dict[str, Any] | None
    # Older builds to delete (Job and ConfigMap), oldest first.
    remove: tuple[str, ...]


def decide(
    plan: BuildPlan,
    jobs: Iterable[Mapping[str, Any]],
    *,
    current_status: Mapping[str, Any],
    history_limit: int,
    now: str,
) -> Decision:
    """What to do for `plan`, given the GoImageBuild's Jobs and its status."""
    jobs = list(jobs)
    # A Job's name is its build's: a build already started is found by name, never started twice.
    start = not any(job["metadata"]["name"] == plan.object_name for job in jobs)
    new_status = None
    # A build that waited for a slot starts with the status of a build just started.
    if start and (
        current_status.get("buildId") != plan.build_id or build_queue.is_queued(current_status)
    ):
        new_status = status.status_for_new_build(plan, previous=current_status, now=now)
    remove = history.builds_to_remove(
        history.records_from_jobs(jobs), current=plan.object_name, keep=history_limit
    )
    return Decision(start=start, status=new_status, remove=tuple(remove))
