"""When a finished build's pod may be deleted: the records stay, the pod's disk goes.

A finished pod keeps its dead containers, and with them Kaniko's writable
layer (the unpacked golang image: about 720 MiB and 31,000 inodes) until the
pod itself is deleted; the history keeps each build's Job, so without this
every kept build would hold that disk. What the build produced is in the
GoImageBuild's status (read once from the pod) and in the Job, so the pod is
deleted once both of these hold:

- the pod has finished (Succeeded or Failed) and so has its Job: a pod of a
  running Job is never touched, and the Job controller has counted it;
- its result is on record: the status names the pod's Job in a finished
  phase, or the build is no longer the current one (history, superseded), so
  its pod would never reach the status anyway;

and `finishedPodRetention` has passed since the pod finished (its containers'
last termination time), so that `kubectl gib logs` can still show the log.

Pure: the objects as the indexes hold them, the time as a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from goimage.core import history, naming, status_update
from goimage.core.spec import SpecError, duration_seconds

FINISHED_POD_PHASES = ("Succeeded", "Failed")
_FINISHED_STATUS_PHASES = ("Succeeded", "Failed")
RETENTION_SETTING = "finishedPodRetention"


def retention_seconds(value: str) -> float:
    """Seconds in a retention such as 5m, 90s or 0 (at once); ValueError if it is none."""
    text = value.strip()
    if text == "0":
        return 0.0
    try:
        return duration_seconds(text, field=RETENTION_SETTING)
    except SpecError as error:
        raise ValueError(f"GOIMAGE_FINISHED_POD_RETENTION: {error}") from None


def pod_finished(pod: Mapping[str, Any]) -> bool:
    """Whether the pod has ended for good (its phase is Succeeded or Failed)."""
    return (pod.get("status") or {}).get("phase") in FINISHED_POD_PHASES


def being_deleted(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _time(stamp: Any) -> datetime | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None


def finished_at(pod: Mapping[str, Any]) -> datetime | None:
    """When the pod finished: its containers' last termination, else its conditions' last
    change (a pod that failed before any container ran), else its start; None if unknown."""
    status = pod.get("status") or {}
    ends = [
        _time(((c.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        for kind in ("initContainerStatuses", "containerStatuses")
        for c in status.get(kind) or ()
    ]
    known = [t for t in ends if t is not None]
    if known:
        return max(known)
    changes = [_time(c.get("lastTransitionTime")) for c in status.get("conditions") or ()]
    changed = [t for t in changes if t is not None]
    if changed:
        return max(changed)
    return _time(status.get("startTime")) or _time(
        (pod.get("metadata") or {}).get("creationTimestamp")
    )


def result_recorded(job: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """Whether the status holds the result of `job`'s build (names it, in a finished phase)."""
    return (
        status.get("jobName") == job["metadata"]["name"]
        and status.get("phase") in _FINISHED_STATUS_PHASES
    )


def ours(pod: Mapping[str, Any], job: Mapping[str, Any]) -> bool:
    """The pod's controller is `job`, and the Job's controller is the GoImageBuild its
    labels name: a pod or Job that merely copies a build's labels is nobody's build."""
    job_meta = job["metadata"]
    owner_uid = (job_meta.get("labels") or {}).get(naming.LABEL_BUILD_UID)
    return bool(
        job_meta.get("uid")
        and naming.controller_uid(pod.get("metadata") or {}) == job_meta.get("uid")
        and owner_uid
        and naming.controller_uid(job_meta) == owner_uid
    )


@dataclass(frozen=True)
class Release:
    """What to do with a build's pod: delete it now, at `at`, or (both unset) nothing yet."""

    delete: bool
    at: datetime | None = None


KEEP = Release(delete=False)


def decide(
    *,
    pod: Mapping[str, Any],
    job: Mapping[str, Any],
    owner: Mapping[str, Any] | None,
    status: Mapping[str, Any],
    jobs: Iterable[Mapping[str, Any]] = (),
    retention: timedelta,
    now: datetime,
) -> Release:
    """Whether (or when) to delete `pod`, a pod of the build Job `job`.

    `owner`: the GoImageBuild (metadata at least), None if it is gone; `status`:
    its status as last written; `jobs`: its build Jobs (a poll's newer build
    makes an older Job of the same generation history).
    KEEP until the pod and the Job have finished and the result is recorded (or
    the build is no longer current); then the time the retention ends, or now.
    """
    if not ours(pod, job) or being_deleted(pod):
        return KEEP
    if not pod_finished(pod) or not history.job_finished(job):
        return KEEP
    current = owner is not None and status_update.runs_current_build(job, owner, jobs)
    if current and not result_recorded(job, status):
        return KEEP
    ended = finished_at(pod)
    due = now if ended is None else ended + retention
    if due <= now:
        return Release(delete=True, at=due)
    return Release(delete=False, at=due)
