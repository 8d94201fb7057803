"""Which build, Job, pod and containers a `kubectl gib logs` means: pure choices over the
objects as the API server shows them (JSON shapes).

A build is known by its Job (`<name>-<buildId>`, labels `goimage.dev/goimagebuild`,
`goimage.dev/build-id`, `goimage.dev/goimagebuild-uid`); its pod is the one that Job
controls (by uid). The log of a build is its steps' logs in order: the Kaniko step(s)
(`build`, or `build-<os>-<arch>` per platform), `publish` when present, then `report`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from goimage.core import naming

PUBLISH = "publish"
_FINISHED_PHASES = ("Succeeded", "Failed")


class NoSuchBuild(LookupError):
    """The asked build is not among the kept ones; `kept` names those that are."""

    def __init__(self, asked: str, kept: Sequence[str]) -> None:
        super().__init__(asked)
        self.asked = asked
        self.kept = list(kept)


@dataclass(frozen=True)
class Step:
    """One container of the build pod whose log is part of the build's log."""

    container: str
    init: bool


def build_id_of(job: Mapping[str, Any]) -> str:
    labels = job.get("metadata", {}).get("labels") or {}
    return str(labels.get(naming.LABEL_BUILD_ID, ""))


def _created(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata", {})
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("name") or ""))


def builds_of(
    resource: Mapping[str, Any], jobs: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The resource's build Jobs (those labelled with its uid), oldest first."""
    uid = resource["metadata"].get("uid")
    mine = [
        dict(job)
        for job in jobs
        if (job.get("metadata", {}).get("labels") or {}).get(naming.LABEL_BUILD_UID) == uid
    ]
    return sorted(mine, key=_created)


def choose_job(
    resource: Mapping[str, Any], jobs: Iterable[Mapping[str, Any]], build: str | None
) -> dict[str, Any] | None:
    """The Job of `build` (a build id such as `3` or `3-1a2b3c`, or a Job name), or of the
    current build (`status.jobName`) when `build` is None.

    A bare generation (`3`) that has several builds (rebuilds) means the newest of them.
    None: the current build has no Job yet (or no more). Raises NoSuchBuild when an asked
    build is not kept.
    """
    mine = builds_of(resource, jobs)
    if build is None:
        current = (resource.get("status") or {}).get("jobName")
        return next((j for j in mine if j["metadata"]["name"] == current), None)
    name = resource["metadata"]["name"]
    exact = [
        j
        for j in mine
        if build in (build_id_of(j), j["metadata"]["name"])
        or j["metadata"]["name"] == naming.build_object_name(name, build)
    ]
    if exact:
        return exact[-1]
    of_generation = [
        j for j in mine if (j["metadata"].get("labels") or {}).get(naming.LABEL_GENERATION) == build
    ]
    if of_generation:
        return of_generation[-1]
    raise NoSuchBuild(build, [build_id_of(j) for j in mine])


def choose_pod(job: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The newest pod that `job` controls (by uid); None when it has none (yet, or any more)."""
    uid = job["metadata"].get("uid")
    owned = [dict(p) for p in pods if naming.controller_uid(p.get("metadata", {})) == uid]
    return max(owned, key=_created, default=None)


def steps(pod: Mapping[str, Any]) -> list[Step]:
    """The build's steps in the order they run: the init containers whose names start with
    `build` (one per platform in multi-platform builds), `publish` if present, then
    `report`."""
    spec = pod.get("spec") or {}
    init = [c["name"] for c in spec.get("initContainers") or []]
    kaniko = [Step(n, init=True) for n in init if n.startswith(naming.CONTAINER_BUILD)]
    publish = [Step(n, init=True) for n in init if n == PUBLISH]
    report = [
        Step(c["name"], init=False)
        for c in spec.get("containers") or []
        if c["name"] == naming.CONTAINER_REPORT
    ]
    return kaniko + publish + report


def container_state(pod: Mapping[str, Any], step: Step) -> dict[str, Any]:
    """The step's current state (`{"running": ...}`, `{"terminated": ...}`, `{"waiting": ...}`
    or `{}` when the kubelet has not reported it)."""
    status = pod.get("status") or {}
    key = "initContainerStatuses" if step.init else "containerStatuses"
    for entry in status.get(key) or []:
        if entry.get("name") == step.container:
            return dict(entry.get("state") or {})
    return {}


def has_started(pod: Mapping[str, Any], step: Step) -> bool:
    """Whether the step has a log to read: it runs or has run."""
    state = container_state(pod, step)
    return "running" in state or "terminated" in state


def has_ended(pod: Mapping[str, Any], step: Step) -> bool:
    return "terminated" in container_state(pod, step)


def pod_finished(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in _FINISHED_PHASES


def waiting_reason(pod: Mapping[str, Any], step: Step) -> str:
    """Why a step has not started, as the kubelet or the scheduler says it; or the phase."""
    waiting = container_state(pod, step).get("waiting") or {}
    if waiting:
        reason = str(waiting.get("reason") or "Waiting")
        message = waiting.get("message")
        return f"{reason}: {message}" if message else reason
    status = pod.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return f"{condition.get('reason')}: {condition.get('message', '')}".rstrip(": ")
    return f"pod is {status.get('phase') or 'Pending'}"


def status_summary(resource: Mapping[str, Any]) -> str:
    """What the status says about the current build, on one line."""
    status = resource.get("status") or {}
    parts = [f"phase {status.get('phase') or 'Pending'}"]
    failure = status.get("failure") or {}
    if failure.get("reason"):
        parts.append(f"reason {failure['reason']}: {failure.get('message', '')}".rstrip(": "))
    else:
        ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
        if ready and ready.get("reason"):
            parts.append(f"{ready['reason']}: {ready.get('message', '')}".rstrip(": "))
    return ", ".join(parts)


def job_summary(job: Mapping[str, Any]) -> str:
    """How a (past) build's Job ended, from its final condition; or that it has not."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            detail = condition.get("reason") or ""
            message = condition.get("message") or ""
            words = ": ".join(w for w in (detail, message) if w)
            return f"Job {condition['type']}" + (f" ({words})" if words else "")
    return "Job has not finished"
