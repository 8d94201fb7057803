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

from goimage.core import build_queue, history, naming, source, status
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


def build_jobs_only(jobs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The build Jobs among a GoImageBuild's Jobs (a resolve Job is none)."""
    return [
        job
        for job in jobs
        if (job["metadata"].get("labels") or {}).get(naming.LABEL_COMPONENT, naming.COMPONENT_BUILD)
        == naming.COMPONENT_BUILD
    ]


def _build_id(job: Mapping[str, Any]) -> str:
    return str((job["metadata"].get("labels") or {}).get(naming.LABEL_BUILD_ID) or "")


def family(plan: BuildPlan, jobs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The Jobs that build what `plan` asks for: its own, and those a poll started for a
    newer commit of it; oldest first."""
    ours = [j for j in jobs if naming.in_build_family(_build_id(j), plan.build_id)]
    return sorted(
        ours,
        key=lambda j: (j["metadata"].get("creationTimestamp") or "", j["metadata"]["name"]),
    )


def decide(
    plan: BuildPlan,
    jobs: Iterable[Mapping[str, Any]],
    *,
    current_status: Mapping[str, Any],
    history_limit: int,
    now: str,
) -> Decision:
    """What to do for `plan`, given the GoImageBuild's Jobs and its status.

    A build already started is found by its Job's name, never started twice;
    a build a poll started for a newer commit of the same spec stands for it
    (it is the current build then, and is kept).
    """
    jobs = build_jobs_only(jobs)
    started = family(plan, jobs)
    start = not started
    current = plan.object_name if start else started[-1]["metadata"]["name"]
    new_status = None
    # A build that waited for a slot starts with the status of a build just started.
    if start and (
        current_status.get("buildId") != plan.build_id or build_queue.is_queued(current_status)
    ):
        new_status = status.status_for_new_build(plan, previous=current_status, now=now)
    remove = history.builds_to_remove(
        history.records_from_jobs(jobs), current=current, keep=history_limit
    )
    return Decision(start=start, status=new_status, remove=tuple(remove))


def decide_poll(
    plan: BuildPlan,
    jobs: Iterable[Mapping[str, Any]],
    head: source.Resolved,
    *,
    current_status: Mapping[str, Any],
    history_limit: int,
    now: str,
) -> tuple[BuildPlan, Decision] | None:
    """What a poll that found `head` does: None when it starts nothing (no new commit,
    or no build of this generation records one), else the new commit's build (named
    after it, so the same commit never makes two) and the decision to carry out.

    The new build supersedes the generation's running one, as a new spec does.
    """
    jobs = build_jobs_only(jobs)
    latest = source.latest_build_commit(family(plan, jobs), plan.generation)
    if not source.builds_new_commit(latest, head.commit):
        return None
    polled = plan.for_poll(head)
    if any(job["metadata"]["name"] == polled.object_name for job in jobs):
        # Built already (a branch moved back to it): it is history, not news.
        return None
    new_status = None
    if current_status.get("buildId") != polled.build_id or build_queue.is_queued(current_status):
        new_status = status.status_for_new_build(polled, previous=current_status, now=now)
    remove = history.builds_to_remove(
        history.records_from_jobs(jobs), current=polled.object_name, keep=history_limit
    )
    return polled, Decision(start=True, status=new_status, remove=tuple(remove))
