"""What a Job or Pod event does to its GoImageBuild's status: the patch to write, if any,
and the transition to announce.

Pure: from the objects as the indexes hold them and the status as last known
(`status_cache`). `status.status_from_build` says what the status should be;
this module says whether that is a write at all, and which event tells users
of it. The handler (handlers/children.py) finds the objects, writes, and posts.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from goimage.core import failures, naming, status
from goimage.core.conditions import Phase, Reason
from goimage.core.settings import DEFAULT_FINISHED_POD_RETENTION

_FINISHED = (str(Phase.SUCCEEDED), str(Phase.FAILED))
# The key under which the pods index keeps each pod's `pod_fingerprint`.
FINGERPRINT = "fingerprint"
# kopf cuts an Event's message over 1 KiB in its middle; a failure's message
# leads with what went wrong, so its head is what the Event keeps.
EVENT_MESSAGE_LIMIT = 1024


@dataclass(frozen=True)
class BuildEvent:
    """A Kubernetes Event on the GoImageBuild."""

    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass(frozen=True)
class Transition:
    """A build that has just changed phase: logged, and told by `event` if it has one."""

    build_id: str | None
    phase: str
    message: str
    event: BuildEvent | None


def pod_fingerprint(pod_spec: Mapping[str, Any]) -> str:
    """What makes a pod this build: each container's image, command, args, env and
    mounts, and the pod's volumes.

    The Job controller adopts any orphan pod that carries its selector's labels,
    so a pod someone else made can become the Job's own. Its result is read only
    if it runs what the Job's template says; a pod that runs exactly that is the
    same build, whoever made it.
    """

    def container(spec: Mapping[str, Any]) -> dict[str, Any]:
        return {key: spec.get(key) for key in ("name", "image", "command", "args", "env")} | {
            "volumeMounts": spec.get("volumeMounts")
        }

    essence = {
        kind: [container(c) for c in pod_spec.get(kind) or ()]
        for kind in ("initContainers", "containers")
    } | {"volumes": pod_spec.get("volumes")}
    return hashlib.sha256(json.dumps(essence, sort_keys=True).encode()).hexdigest()


def fingerprint_of_pod(pod: Mapping[str, Any]) -> str:
    """A pod's fingerprint: the one its kept view carries (`core.kept`), else its spec's."""
    return str(pod.get(FINGERPRINT) or pod_fingerprint(pod.get("spec") or {}))


def fingerprint_of_template(job: Mapping[str, Any]) -> str:
    """A Job's pod template's fingerprint: the one its kept view carries, else its own."""
    kept = job.get(FINGERPRINT)
    if kept:
        return str(kept)
    return pod_fingerprint(((job.get("spec") or {}).get("template") or {}).get("spec") or {})


def runs_template(pod: Mapping[str, Any], job: Mapping[str, Any]) -> bool:
    """Whether `pod` (as indexed, with its fingerprint) runs the Job's pod template."""
    return bool(pod.get(FINGERPRINT) == fingerprint_of_template(job))


def newest(objects: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The most recently created object (a Job's pods: the one that ran last), if any."""
    ordered = sorted(objects, key=lambda o: o["metadata"].get("creationTimestamp") or "")
    return ordered[-1] if ordered else None


def current_build_id(owner: Mapping[str, Any]) -> str:
    """The build the GoImageBuild asks for now: its generation, and its rebuild token."""
    meta = owner["metadata"]
    return naming.build_id(
        int(meta.get("generation") or 1), naming.rebuild_token(meta.get("annotations"))
    )


def runs_current_build(
    job: Mapping[str, Any],
    owner: Mapping[str, Any],
    jobs: Iterable[Mapping[str, Any]] = (),
) -> bool:
    """True when `job` runs the owner's current build: only that one writes the status.

    Labels say which build a Job claims to run; its controller reference says
    whose it is. Both must hold: a Job that merely carries the labels (anyone
    who can create Jobs in the namespace can copy them) writes nothing.

    A poll may have started newer builds of the same generation (`<build id>-c<commit>`):
    the newest of them, among the owner's `jobs`, is the current one. A poll
    build the status names but whose Job is not indexed yet (its status is
    written before its Job is made) is newer than every indexed one.
    """
    labels = job["metadata"].get("labels") or {}
    owned = naming.controller_uid(job["metadata"]) == owner["metadata"].get("uid")
    build, base = labels.get(naming.LABEL_BUILD_ID) or "", current_build_id(owner)
    if not owned or not naming.in_build_family(build, base):
        return False
    family = [j for j in jobs if naming.in_build_family(_build_id(j), base)]
    if any(_created(j) > _created(job) for j in family):
        return False
    named = str((owner.get("status") or {}).get("buildId") or "")
    named_indexed = any(_build_id(j) == named for j in family)
    return not (named != build and naming.is_poll_build_of(named, base) and not named_indexed)


def _build_id(job: Mapping[str, Any]) -> str:
    return str((job["metadata"].get("labels") or {}).get(naming.LABEL_BUILD_ID) or "")


def _created(job: Mapping[str, Any]) -> tuple[str, str]:
    meta = job["metadata"]
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("name") or ""))


def hides_build_error(pod: Mapping[str, Any]) -> bool:
    """True when the build step's termination message shows only Kaniko's usage text.

    Only a build that failed before it started (a source that cannot be
    cloned) shows that; the error is then in the step's log, which the
    handler reads for the few events that follow the failure.
    """
    message = (_build_terminated(pod) or {}).get("message") or ""
    return failures.shows_only_usage(message)


def with_build_error(pod: Mapping[str, Any], log: str) -> Mapping[str, Any]:
    """The pod, its build step's message replaced by the error in the step's `log`.

    The pod unchanged when the log holds no more than the usage text.
    """
    error = failures.without_usage(log).strip()
    if not error or _build_terminated(pod) is None:
        return pod
    fixed = copy.deepcopy(dict(pod))
    for entry in fixed["status"]["initContainerStatuses"]:
        if entry.get("name") == naming.CONTAINER_BUILD:
            entry["state"]["terminated"]["message"] = error
    return fixed


def _build_terminated(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    statuses = (pod.get("status") or {}).get("initContainerStatuses") or []
    build = next((c for c in statuses if c.get("name") == naming.CONTAINER_BUILD), None)
    terminated: Mapping[str, Any] | None = ((build or {}).get("state") or {}).get("terminated")
    return terminated


def status_update(
    *,
    job: Mapping[str, Any],
    pod: Mapping[str, Any] | None,
    known: Mapping[str, Any],
    now: str,
    pod_refused: str = "",
    retention: str = DEFAULT_FINISHED_POD_RETENTION,
) -> dict[str, Any] | None:
    """The status patch the current build's `job` and `pod` call for; None: no write.

    `known` is the status as last written (or as indexed). A pod gone, or being
    deleted, after its build finished changes nothing: its result was read while
    it lived (the operator deletes finished pods itself: `core.pod_release`).
    `retention`: the finishedPodRetention setting, told in a failure's hint.
    `pod_refused`: the API server's words refusing the Job's pod (a quota), read
    from the Job's Events; the refusal, once written, stays until the pod comes
    or the Job ends (a Job event without the words does not undo it).
    """
    same_job = known.get("jobName") == job["metadata"]["name"]
    going = pod is None or bool((pod.get("metadata") or {}).get("deletionTimestamp"))
    if going and same_job and known.get("phase") in _FINISHED:
        return None
    patch = status.status_from_build(
        job=job, pod=pod, previous=known, now=now, pod_refused=pod_refused, retention=retention
    )
    if same_job and known.get("phase") in _FINISHED and patch["phase"] not in _FINISHED:
        # A build's Job never runs again once finished: an older view of its Job or pod
        # (their events race across handler threads) must not undo the result.
        return None
    if (
        pod is None
        and same_job
        and not pod_refused
        and _ready_reason(known) == str(Reason.WAITING_FOR_QUOTA)
        and patch["phase"] == str(Phase.PENDING)
    ):
        return None
    return patch if status.would_change(patch, known) else None


def _ready_reason(known: Mapping[str, Any]) -> str:
    ready: Mapping[str, Any] = next(
        (c for c in known.get("conditions") or () if c.get("type") == "Ready"), {}
    )
    return str(ready.get("reason") or "")


def transition(patch: Mapping[str, Any], previous: Mapping[str, Any]) -> Transition | None:
    """The phase change that writing `patch` over `previous` makes; None if the phase stays."""
    phase = patch["phase"]
    if phase == previous.get("phase"):
        return None
    ready = patch["conditions"][0]
    message = ready["message"]
    event: BuildEvent | None = None
    if phase == str(Phase.FAILED):
        event = BuildEvent("Warning", ready["reason"], message[:EVENT_MESSAGE_LIMIT])
    elif phase == str(Phase.SUCCEEDED):
        event = BuildEvent("Normal", "BuildSucceeded", message)
    elif phase == str(Phase.BUILDING):
        event = BuildEvent("Normal", "Building", message)
    return Transition(build_id=patch.get("buildId"), phase=phase, message=message, event=event)
