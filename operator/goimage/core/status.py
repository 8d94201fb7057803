"""Observed Job and Pod to the GoImageBuild's status.

Pure: given what the API server shows of a build (its Job and the Job's
Pod), the status it had, and the time, return the status it should have. The
result is a merge patch: fields set to None are removed.

A build always ends in a definite status: a finished Job whose pod is gone
(deleted while the operator was away) ends `ResultLost`, never Pending for
ever; a pod stopped from outside says how (`failures.disruption`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from goimage.core import failures, naming, results
from goimage.core.conditions import Phase, Reason, conditions_for
from goimage.core.plan import BuildPlan
from goimage.core.settings import DEFAULT_FINISHED_POD_RETENTION

# Waiting reasons that mean the pod cannot start without someone's help.
_STUCK = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
}


@dataclass(frozen=True)
class Observation:
    """Where a build stands, before it is written as status fields."""

    phase: Phase
    reason: Reason
    message: str
    result: results.BuildResult | None = None
    failure: failures.Failure | None = None


# What a build without a pod says while its Job has not finished.
WAITING_FOR_POD = "waiting for the build pod"
RESULT_LOST = (
    "the build finished but its pod was deleted before the operator read its result; "
    "a rebuild (annotation goimage.dev/rebuild) will fix it"
)


def _container(pod: Mapping[str, Any], key: str, name: str) -> Mapping[str, Any]:
    for status in pod.get("status", {}).get(key) or []:
        if status.get("name") == name:
            return status  # type: ignore[no-any-return]
    return {}


def _is_build(name: str) -> bool:
    """Kaniko's step: `build`, or a platform's `build-<os>-<arch>[-<variant>]`."""
    return name == naming.CONTAINER_BUILD or name.startswith(f"{naming.CONTAINER_BUILD}-")


def _failed_init(pod: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """The first init container (Kaniko's, or publish) that exited non-zero."""
    for status in pod.get("status", {}).get("initContainerStatuses") or []:
        terminated = status.get("state", {}).get("terminated") or {}
        if terminated and terminated.get("exitCode", 0) != 0:
            return str(status.get("name", "")), terminated
    return None


def _running_init(pod: Mapping[str, Any]) -> str:
    """The init container that runs now (or ran last), for the Building message."""
    last = ""
    for status in pod.get("status", {}).get("initContainerStatuses") or []:
        state = status.get("state", {})
        if state.get("running"):
            return str(status.get("name", ""))
        if state.get("terminated"):
            last = str(status.get("name", ""))
    return last


def _building_message(step: str, pod: Mapping[str, Any]) -> str:
    if step == naming.CONTAINER_PUBLISH:
        steps = pod.get("status", {}).get("initContainerStatuses") or []
        if any(str(s.get("name", "")).startswith(f"{naming.CONTAINER_BUILD}-") for s in steps):
            return "pushing the platform images and the image index, the SBOMs and the provenance"
        return "attaching the SBOM and the provenance to the pushed image"
    if step == naming.CONTAINER_PIN_BUILDER:
        return "resolving the builder image for the build node's platform"
    if step.startswith(f"{naming.CONTAINER_BUILD}-"):
        platform = step.removeprefix(f"{naming.CONTAINER_BUILD}-").replace("-", "/")
        return f"Kaniko is building the image for {platform}"
    return "Kaniko is building the image"


def _job_condition(job: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for cond in job.get("status", {}).get("conditions") or []:
        if cond.get("type") == type_ and cond.get("status") == "True":
            return cond  # type: ignore[no-any-return]
    return None


def _job_failure(job: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The Job's failure: `FailureTarget` comes first (the Job controller sets it
    before it kills the pod, so a pod killed at the deadline is known as a
    timeout at once), `Failed` once the pod is gone."""
    return _job_condition(job, "FailureTarget") or _job_condition(job, "Failed")


def _timeout_message(job: Mapping[str, Any]) -> str:
    seconds = job.get("spec", {}).get("activeDeadlineSeconds")
    return (
        f"the build ran longer than spec.builder.timeout ({seconds}s) and was stopped; "
        "raise the timeout, or warm the layer cache"
    )


def _succeeded(job: Mapping[str, Any], report: Mapping[str, Any]) -> Observation:
    terminated = report.get("state", {}).get("terminated") or {}
    try:
        result = results.parse_result(terminated.get("message") or "")
    except results.ResultError as error:
        failure = failures.Failure(Reason.PUSH_FAILED, f"the image was pushed, but {error}")
        return Observation(Phase.FAILED, failure.reason, failure.message, failure=failure)
    annotations = job.get("metadata", {}).get("annotations") or {}
    image = result.image(annotations.get(naming.ANNOTATION_IMAGE, ""))
    size = results.human_size(result.size)
    budget = annotations.get(naming.ANNOTATION_MAX_SIZE)
    if budget is not None and result.size > int(budget):
        # Several platforms: maxSize holds for each image; size is the largest.
        over = result.over(int(budget))
        what = f"the {', '.join(over)} image of {image}" if over else image
        failure = failures.Failure(
            Reason.IMAGE_TOO_LARGE,
            f"{what} is {size} ({result.size} bytes), over spec.output.maxSize "
            f"({results.human_size(int(budget))}, {budget} bytes); the image stays pushed",
        )
        return Observation(
            Phase.FAILED, failure.reason, failure.message, result=result, failure=failure
        )
    return Observation(Phase.SUCCEEDED, Reason.SUCCEEDED, f"pushed {image} ({size})", result)


def logs_hint(job: Mapping[str, Any], container: str, retention: str) -> str:
    """The command that shows the build's whole log (by its GoImageBuild's name and build id)."""
    meta = job.get("metadata", {})
    labels = meta.get("labels") or {}
    owner = next(
        (r for r in meta.get("ownerReferences") or () if r.get("controller")),
        {"name": labels.get(naming.LABEL_BUILD_NAME, "")},
    )
    return failures.logs_hint(
        meta.get("namespace", ""),
        str(owner.get("name") or ""),
        str(labels.get(naming.LABEL_BUILD_ID) or ""),
        container,
        retention=retention,
    )


def _failed_container(
    pod: Mapping[str, Any],
    container: str,
    terminated: Mapping[str, Any],
    hint_for: Callable[[str], str],
) -> failures.Failure:
    hint = hint_for(container)
    log_tail = terminated.get("message") or ""
    if terminated.get("reason") == "OOMKilled":
        return failures.Failure(
            Reason.OUT_OF_MEMORY,
            f"the {container} step ran out of memory; raise "
            f"spec.builder.resources.limits.memory\n{hint}",
        )
    if failures.out_of_disk(log_tail):
        return failures.disk_full(log_tail, hint=hint)
    if _is_build(container):
        reason = failures.classify_build_log(log_tail)
    elif container == naming.CONTAINER_PIN_BUILDER:
        # No builder image for the node's platform (or the registry refused the lookup).
        reason = Reason.BUILD_FAILED
    else:
        # publish could not push, or report could not read back what was pushed.
        reason = Reason.PUSH_FAILED
    code = terminated.get("exitCode")
    text = (
        failures.summarize(log_tail, hint=hint) if log_tail.strip() else f"exit code {code}\n{hint}"
    )
    return failures.Failure(reason, text)


def _time(stamp: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(stamp))
    except ValueError:
        return None


def _deleted_at_deadline(job: Mapping[str, Any], pod: Mapping[str, Any] | None) -> bool:
    """The pod was deleted at (or after) the Job's deadline: the Job controller stopped it.

    Seen before the Job's own FailureTarget when the pod's watch event comes
    first. A deletion's time is its deletionTimestamp less the grace period.
    """
    meta = (pod or {}).get("metadata", {})
    deleted = _time(meta.get("deletionTimestamp"))
    started = _time(job.get("status", {}).get("startTime"))
    deadline = job.get("spec", {}).get("activeDeadlineSeconds")
    if deleted is None or started is None or deadline is None:
        return False
    grace = timedelta(seconds=int(meta.get("deletionGracePeriodSeconds") or 0))
    return deleted - grace >= started + timedelta(seconds=int(deadline))


def _failed(
    job: Mapping[str, Any], pod: Mapping[str, Any] | None, hint_for: Callable[[str], str]
) -> failures.Failure:
    job_failed = _job_failure(job)
    pod_status = (pod or {}).get("status", {})
    if (
        (job_failed and job_failed.get("reason") == "DeadlineExceeded")
        or pod_status.get("reason") == "DeadlineExceeded"
        or _deleted_at_deadline(job, pod)
    ):
        return failures.Failure(Reason.TIMEOUT, _timeout_message(job))
    if pod is None:
        # The Job failed, and its pod went before anyone read why.
        said = (job_failed or {}).get("message") or "the build pod failed"
        return failures.Failure(
            Reason.RESULT_LOST,
            f"the build failed ({said}), but its pod was deleted before the operator read why; "
            "a rebuild (annotation goimage.dev/rebuild) will run it again and tell",
        )
    disrupted = failures.disruption(pod)
    if disrupted is not None:
        return disrupted
    if pod is not None:
        failed_init = _failed_init(pod)
        if failed_init is not None:
            return _failed_container(pod, *failed_init, hint_for)
        report = _container(pod, "containerStatuses", naming.CONTAINER_REPORT)
        terminated = report.get("state", {}).get("terminated") or {}
        if terminated and terminated.get("exitCode", 0) != 0:
            return _failed_container(pod, naming.CONTAINER_REPORT, terminated, hint_for)
        if pod_status.get("message"):
            return failures.Failure(Reason.BUILD_FAILED, str(pod_status["message"]))
    detail = (job_failed or {}).get("message") or "the build pod failed"
    return failures.Failure(Reason.BUILD_FAILED, str(detail))


def _waiting(pod: Mapping[str, Any]) -> str:
    statuses = [
        *(pod.get("status", {}).get("initContainerStatuses") or []),
        _container(pod, "containerStatuses", naming.CONTAINER_REPORT),
    ]
    for status in statuses:
        name = status.get("name", naming.CONTAINER_REPORT)
        waiting = status.get("state", {}).get("waiting") or {}
        if waiting.get("reason") in _STUCK:
            return f"{name} step cannot start: {waiting['reason']}: {waiting.get('message', '')}"
    return ""


def _unscheduled(pod: Mapping[str, Any]) -> str:
    """The scheduler's words when it found no node for the pod; empty if it did not say so."""
    for cond in pod.get("status", {}).get("conditions") or []:
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
        ):
            return str(cond.get("message") or "no node fits it yet")
    return ""


def _being_deleted(pod: Mapping[str, Any]) -> bool:
    """A pod that is being deleted before it succeeded: its build will not finish."""
    if not pod.get("metadata", {}).get("deletionTimestamp"):
        return False
    report = _container(pod, "containerStatuses", naming.CONTAINER_REPORT)
    done = report.get("state", {}).get("terminated") or {}
    return not done or done.get("exitCode", 0) != 0


def _failure(failure: failures.Failure) -> Observation:
    return Observation(Phase.FAILED, failure.reason, failure.message, failure=failure)


def observe(
    job: Mapping[str, Any],
    pod: Mapping[str, Any] | None,
    *,
    pod_refused: str = "",
    retention: str = DEFAULT_FINISHED_POD_RETENTION,
) -> Observation:
    """Where the build of `job` stands.

    `pod_refused`: the API server's words when it refused the Job's pod (a
    ResourceQuota on pods or memory: the Job controller's FailedCreate event).
    `retention`: how long a finished build's pod is kept (the operator's
    finishedPodRetention), which a failure's hint to the log tells.
    """

    def hint_for(container: str) -> str:
        return logs_hint(job, container, retention)

    if _job_failure(job) or (pod or {}).get("status", {}).get("phase") == "Failed":
        return _failure(_failed(job, pod, hint_for))
    if pod is not None and _being_deleted(pod):
        # Decided at the first sign: the pod (and with it what it knew) may be gone
        # from the index by the time the Job controller marks the Job failed.
        return _failure(_failed(job, pod, hint_for))
    if pod is None:
        if _job_condition(job, "Complete") or _job_condition(job, "SuccessCriteriaMet"):
            return _failure(failures.Failure(Reason.RESULT_LOST, RESULT_LOST))
        if pod_refused:
            return Observation(
                Phase.PENDING,
                Reason.WAITING_FOR_QUOTA,
                f"waiting for quota: the API server refused the build pod: {pod_refused}; "
                "the build starts by itself once the quota allows",
            )
        return Observation(Phase.PENDING, Reason.PENDING, WAITING_FOR_POD)
    report = _container(pod, "containerStatuses", naming.CONTAINER_REPORT)
    failed_init = _failed_init(pod)
    if failed_init is not None:
        disrupted = failures.disruption(pod)
        return _failure(disrupted or _failed_container(pod, *failed_init, hint_for))
    report_terminated = report.get("state", {}).get("terminated") or {}
    if report_terminated:
        if report_terminated.get("exitCode", 0) == 0:
            return _succeeded(job, report)
        failure = _failed_container(pod, naming.CONTAINER_REPORT, report_terminated, hint_for)
        return Observation(Phase.FAILED, failure.reason, failure.message, failure=failure)
    # Checked before "building": a report step that cannot pull its image after
    # Kaniko finished must say so, not look like a build that runs on.
    stuck = _waiting(pod)
    step = _running_init(pod)
    if step:
        return Observation(Phase.BUILDING, Reason.BUILDING, stuck or _building_message(step, pod))
    if stuck:
        return Observation(Phase.PENDING, Reason.PENDING, stuck)
    unscheduled = _unscheduled(pod)
    if unscheduled:
        return Observation(Phase.PENDING, Reason.PENDING, f"waiting to be scheduled: {unscheduled}")
    return Observation(Phase.PENDING, Reason.PENDING, "the build pod is starting")


def _tags(job: Mapping[str, Any]) -> list[str]:
    raw = (job.get("metadata", {}).get("annotations") or {}).get(naming.ANNOTATION_TAGS, "[]")
    tags = json.loads(raw)
    return [str(tag) for tag in tags] if isinstance(tags, list) else []


def _completion_time(
    job: Mapping[str, Any], phase: Phase, previous: Mapping[str, Any], now: str
) -> str:
    # Once written, a build's end stays put: the Job controller marks the Job
    # complete a moment after the pod ends, and following its time would cost
    # one more status write (and watch event) per build, or two.
    name = job.get("metadata", {}).get("name")
    if (
        previous.get("completionTime")
        and previous.get("jobName") == name
        and previous.get("phase") == str(phase)
    ):
        return str(previous["completionTime"])
    status = job.get("status", {})
    if status.get("completionTime"):
        return str(status["completionTime"])
    failed = _job_failure(job)
    return str((failed or {}).get("lastTransitionTime") or now)


SHORT_COMMIT = 12


def source_status(url: str, revision: str, commit: str, ref: str = "") -> dict[str, Any]:
    """status.source: the repository (no credentials: the spec refuses them), the revision
    as asked, the full commit built with a short form for `kubectl get -o wide` (a
    printer column's JSONPath cannot cut a string), and the ref it was read from."""
    return {
        "url": url,
        "revision": revision,
        "commit": commit or None,
        "shortCommit": commit[:SHORT_COMMIT] or None,
        "ref": ref or None,
    }


def _job_source(job: Mapping[str, Any]) -> dict[str, Any] | None:
    """status.source from the Job's annotations (None: a Job made before they were kept)."""
    annotations = job.get("metadata", {}).get("annotations") or {}
    url = annotations.get(naming.ANNOTATION_SOURCE_URL)
    if not url:
        return None
    return source_status(
        url,
        annotations.get(naming.ANNOTATION_REVISION, ""),
        annotations.get(naming.ANNOTATION_COMMIT, ""),
        annotations.get(naming.ANNOTATION_REF, ""),
    )


def _plan_source(plan: BuildPlan) -> dict[str, Any]:
    git = plan.spec.source.git
    return source_status(git.url, git.revision, plan.commit, plan.source.ref if plan.source else "")


def status_from_build(
    *,
    job: Mapping[str, Any],
    pod: Mapping[str, Any] | None,
    previous: Mapping[str, Any],
    now: str,
    pod_refused: str = "",
    retention: str = DEFAULT_FINISHED_POD_RETENTION,
) -> dict[str, Any]:
    """The status patch for the build that `job` runs (and `pod`, its pod, if any)."""
    meta = job.get("metadata", {})
    generation = int(meta.get("labels", {}).get(naming.LABEL_GENERATION, 0))
    seen = observe(job, pod, pod_refused=pod_refused, retention=retention)
    repository = (meta.get("annotations") or {}).get(naming.ANNOTATION_IMAGE, "")
    finished = seen.phase in (Phase.SUCCEEDED, Phase.FAILED)
    patch: dict[str, Any] = {
        "phase": str(seen.phase),
        "observedGeneration": generation,
        "buildId": meta.get("labels", {}).get(naming.LABEL_BUILD_ID),
        "jobName": meta.get("name"),
        "configMapName": meta.get("name"),
        "tags": _tags(job),
        "source": _job_source(job),
        "startTime": job.get("status", {}).get("startTime") or meta.get("creationTimestamp"),
        "completionTime": _completion_time(job, seen.phase, previous, now) if finished else None,
        "queuedSince": None,
        "conditions": conditions_for(
            seen.phase,
            seen.reason,
            seen.message,
            generation=generation,
            now=now,
            previous=previous.get("conditions") or (),
        ),
        "failure": seen.failure.as_status() if seen.failure else None,
        "image": seen.result.image(repository) if seen.result else None,
        "digest": seen.result.digest if seen.result else None,
        "size": seen.result.size if seen.result else None,
        "sizeHuman": results.human_size(seen.result.size) if seen.result else None,
        # Several platforms: each platform image; digest and image name the index.
        "platforms": (
            [p.as_status() for p in seen.result.platforms]
            if seen.result and seen.result.platforms
            else None
        ),
        # The artifacts attached to status.digest (the image, or the index).
        "sbom": seen.result.sbom.as_status() if seen.result and seen.result.sbom else None,
        "provenance": (
            {"digest": seen.result.provenance.digest}
            if seen.result and seen.result.provenance
            else None
        ),
    }
    if seen.phase is Phase.SUCCEEDED and seen.result is not None:
        patch["lastSuccessful"] = {
            "image": patch["image"],
            "digest": seen.result.digest,
            "size": seen.result.size,
            "sizeHuman": patch["sizeHuman"],
            "generation": generation,
            "completionTime": patch["completionTime"],
        }
    return patch


# A build without a result yet (or without one at all): the previous build's is cleared.
_NO_RESULT: dict[str, Any] = {
    "image": None,
    "digest": None,
    "size": None,
    "sizeHuman": None,
    "platforms": None,
    "sbom": None,
    "provenance": None,
}


def _pending(
    plan: BuildPlan,
    reason: Reason,
    message: str,
    *,
    started: str | None,
    queued_since: str | None,
    previous: Mapping[str, Any],
    now: str,
) -> dict[str, Any]:
    """A build of the current generation that has not run yet: its Job made at
    `started`, or not made (queued, waiting for quota); the old result cleared."""
    made = started is not None
    return {
        "phase": str(Phase.PENDING),
        "observedGeneration": plan.generation,
        "buildId": plan.build_id,
        "jobName": plan.object_name if made else None,
        "configMapName": plan.object_name if made else None,
        "tags": list(plan.spec.output.tags),
        "source": _plan_source(plan),
        "startTime": started,
        "completionTime": None,
        "queuedSince": queued_since,
        "conditions": conditions_for(
            Phase.PENDING,
            reason,
            message,
            generation=plan.generation,
            now=now,
            previous=previous.get("conditions") or (),
        ),
        "failure": None,
        **_NO_RESULT,
    }


def status_for_new_build(
    plan: BuildPlan, *, previous: Mapping[str, Any], now: str
) -> dict[str, Any]:
    """The status of a build just started: Pending, the old result cleared."""
    message = f"build {plan.build_id} started: job {plan.object_name}"
    return _pending(
        plan, Reason.PENDING, message, started=now, queued_since=None, previous=previous, now=now
    )


def status_for_quota(
    plan: BuildPlan, *, refused: str, previous: Mapping[str, Any], now: str
) -> dict[str, Any]:
    """Pending/WaitingForQuota: a ResourceQuota refused the build's Job (or ConfigMap).

    No Job exists; the operator tries again with a growing delay, and the build
    starts by itself once the quota allows.
    """
    message = (
        f"build {plan.build_id} is waiting for quota: the API server refused its "
        f"{refused}; it starts by itself once the quota allows"
    )
    return _pending(
        plan,
        Reason.WAITING_FOR_QUOTA,
        message,
        started=None,
        queued_since=None,
        previous=previous,
        now=now,
    )


def status_for_source_unavailable(
    plan: BuildPlan, *, error: str, previous: Mapping[str, Any], now: str
) -> dict[str, Any]:
    """Pending/SourceUnavailable: git could not say which commit to build (down, timed
    out, credentials refused). No Job exists; the operator asks again with a growing
    delay, and the build starts by itself once git answers."""
    git = plan.spec.source.git
    message = (
        f"build {plan.build_id} is waiting for the source: could not resolve "
        f"spec.source.git.revision {git.revision or '(the default branch)'!r} of {git.url}: "
        f"{error}; trying again"
    )
    return _pending(
        plan,
        Reason.SOURCE_UNAVAILABLE,
        message,
        started=None,
        queued_since=None,
        previous=previous,
        now=now,
    )


def status_for_resolving(
    plan: BuildPlan, *, job_name: str, previous: Mapping[str, Any], now: str
) -> dict[str, Any]:
    """Pending: a resolve Job lists a private repository's refs before the build's Job."""
    git = plan.spec.source.git
    message = (
        f"build {plan.build_id} is resolving spec.source.git.revision "
        f"{git.revision or '(the default branch)'!r} in job {job_name}"
    )
    return _pending(
        plan, Reason.PENDING, message, started=None, queued_since=None, previous=previous, now=now
    )


def status_for_source_failed(
    plan: BuildPlan, *, error: str, previous: Mapping[str, Any], now: str
) -> dict[str, Any]:
    """Failed/SourceFailed without a Job: the repository has no such revision."""
    git = plan.spec.source.git
    message = f"spec.source.git.revision {git.revision or '(the default branch)'!r}: {error}"
    patch = status_for_refusal(
        reason=Reason.SOURCE_FAILED,
        generation=plan.generation,
        message=message,
        previous=previous,
        now=now,
    )
    return patch | {"buildId": plan.build_id, "source": _plan_source(plan)}


def _ready(status: Mapping[str, Any]) -> Mapping[str, Any]:
    for cond in status.get("conditions") or ():
        if cond.get("type") == "Ready":
            return cond  # type: ignore[no-any-return]
    return {}


def waits_for_quota(status: Mapping[str, Any]) -> bool:
    """A build whose Job the API server refused for quota: the operator tries it again."""
    return _ready(status).get("reason") == str(Reason.WAITING_FOR_QUOTA) and not status.get(
        "jobName"
    )


def waits_for_source(status: Mapping[str, Any]) -> bool:
    """A build git could not resolve (no Job yet): the operator asks again."""
    return _ready(status).get("reason") == str(Reason.SOURCE_UNAVAILABLE) and not status.get(
        "jobName"
    )


# How long a build waits for an unreachable git server before it ends SourceFailed:
# long enough for a restart or a short outage, short enough that nobody reads
# "waiting" for ever while git is gone.
SOURCE_WAIT_LIMIT_S = 120


def source_wait_over(status: Mapping[str, Any], now: str) -> bool:
    """Git has been unreachable for this build for SOURCE_WAIT_LIMIT_S (since its Ready
    condition turned SourceUnavailable)."""
    if not waits_for_source(status):
        return False
    since, current = _time(_ready(status).get("lastTransitionTime")), _time(now)
    if since is None or current is None:
        return False
    return (current - since).total_seconds() >= SOURCE_WAIT_LIMIT_S


def status_for_source_gone(
    plan: BuildPlan, *, error: str, previous: Mapping[str, Any], now: str
) -> dict[str, Any]:
    """Failed/SourceFailed without a Job: git stayed unreachable past the wait limit."""
    return status_for_source_failed(
        plan,
        error=(
            f"the git server of {plan.spec.source.git.url} could not be asked for "
            f"{SOURCE_WAIT_LIMIT_S} s ({error}); "
            f"a rebuild (annotation {naming.ANNOTATION_REBUILD}) tries again"
        ),
        previous=previous,
        now=now,
    )


def awaits_source(status: Mapping[str, Any]) -> bool:
    """A build whose status was written before its commit was known (resolving, or git
    unavailable): the build's own status is written when its Job is made."""
    ready = _ready(status)
    return not status.get("jobName") and (
        ready.get("reason") == str(Reason.SOURCE_UNAVAILABLE)
        or str(ready.get("message") or "").startswith(f"build {status.get('buildId')} is resolving")
    )


def waits_for_pod(status: Mapping[str, Any]) -> bool:
    """A build whose Job exists but has no pod yet (or whose pod a quota refused)."""
    if status.get("phase") != str(Phase.PENDING) or not status.get("jobName"):
        return False
    ready = _ready(status)
    return ready.get("reason") == str(Reason.WAITING_FOR_QUOTA) or (
        ready.get("reason") == str(Reason.PENDING) and ready.get("message") == WAITING_FOR_POD
    )


def status_for_refusal(
    *, reason: Reason, generation: int, message: str, previous: Mapping[str, Any], now: str
) -> dict[str, Any]:
    """Failed without a Job: a spec the operator will not build (InvalidSpec, PolicyViolation)."""
    failure = {"reason": str(reason), "message": message}
    # The same refusal seen again (a resume, a restart) keeps its time: no new write.
    same = previous.get("failure") == failure and previous.get("observedGeneration") == generation
    return {
        "phase": str(Phase.FAILED),
        "observedGeneration": generation,
        "completionTime": (previous.get("completionTime") if same else None) or now,
        "queuedSince": None,
        "conditions": conditions_for(
            Phase.FAILED,
            reason,
            message,
            generation=generation,
            now=now,
            previous=previous.get("conditions") or (),
        ),
        "failure": failure,
        **_NO_RESULT,
    }


def status_for_invalid_spec(
    *, generation: int, field: str, message: str, previous: Mapping[str, Any], now: str
) -> dict[str, Any]:
    """Failed/InvalidSpec: what only the operator could judge, naming the field."""
    return status_for_refusal(
        reason=Reason.INVALID_SPEC,
        generation=generation,
        message=f"{field}: {message}",
        previous=previous,
        now=now,
    )


def status_for_policy_violation(
    *, generation: int, messages: Sequence[str], previous: Mapping[str, Any], now: str
) -> dict[str, Any]:
    """Failed/PolicyViolation: each broken rule's message names its field and policy."""
    return status_for_refusal(
        reason=Reason.POLICY_VIOLATION,
        generation=generation,
        message="; ".join(messages),
        previous=previous,
        now=now,
    )


def status_for_queued(
    plan: BuildPlan,
    *,
    position: int,
    waiting: int,
    limit: int,
    policy: str,
    previous: Mapping[str, Any],
    now: str,
) -> dict[str, Any]:
    """Pending/Queued: the build waits for one of the namespace's `limit` slots."""
    same = previous.get("buildId") == plan.build_id and previous.get("queuedSince")
    message = (
        f"build {plan.build_id} is queued: number {position} of {waiting} waiting in "
        f"namespace {plan.namespace}, where {limit} may build at once "
        f'(maxConcurrentBuilds of GoImageBuildPolicy "{policy}"); it starts when a slot frees'
    )
    return _pending(
        plan,
        Reason.QUEUED,
        message,
        started=None,
        queued_since=previous["queuedSince"] if same else now,
        previous=previous,
        now=now,
    )


def would_change(patch: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """True when applying `patch` to `current` would change something.

    Conditions' times are compared too, but they only move with their status,
    so an unchanged build yields no patch, and no write.
    """
    return any(_differs(value, current.get(key)) for key, value in patch.items())


def _differs(wanted: Any, have: Any) -> bool:
    if wanted is None:
        return have is not None
    if isinstance(wanted, Mapping) and isinstance(have, Mapping):
        return any(_differs(v, have.get(k)) for k, v in wanted.items())
    if isinstance(wanted, Sequence) and not isinstance(wanted, str):
        return list(wanted) != list(have or [])
    return bool(wanted != have)
