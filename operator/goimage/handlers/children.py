"""Job and Pod handlers: every change of a build's Job or Pod updates its GoImageBuild.

The status is a pure function of the Job, its Pod and the status before
(`core.status_update`); it is written only when it changes. Jobs of builds that
are no longer current (an older generation, stopped or kept as history) never
touch the status.

A Job whose pod does not come (a ResourceQuota on pods or memory refuses it:
the Job controller only posts a FailedCreate Event, and the Job does not
change) is looked at by a timer, which reads the Job's Events and says so.

After each write, a finished build's pod is considered for deletion
(`handlers.pod_release`): once the status holds its result and
finishedPodRetention has passed, the pod and its disk go; the Job stays.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping
from typing import Any

import kopf

from goimage import metrics
from goimage.core import history, naming, source, status_update
from goimage.core.merge_patch import apply_merge_patch
from goimage.core.settings import DEFAULT_FINISHED_POD_RETENTION
from goimage.core.status import waits_for_pod
from goimage.core.status_cache import WrittenStatuses
from goimage.handlers import builds, events, pod_release
from goimage.handlers.clock import now
from goimage.handlers.indexes import BUILD, RESOLVE
from goimage.k8s import api


def write_build_status(
    *,
    namespace: str,
    job: Mapping[str, Any] | None,
    pod: Mapping[str, Any] | None,
    goimagebuilds: kopf.Index[Any, Any],
    written: WrittenStatuses,
    logger: kopf.Logger,
    pod_refused: str = "",
    jobs: Iterable[Mapping[str, Any]] = (),
    retention: str = "",
) -> None:
    """Write the status that the current build's Job and Pod call for, and announce its phase.

    `jobs`: the owner's build Jobs, of which a poll's newer build is the current one.
    `retention`: the finishedPodRetention setting, which a failure's hint tells.
    """
    if job is None:
        return
    uid = (job["metadata"].get("labels") or {}).get(naming.LABEL_BUILD_UID, "")
    owner = next(iter(goimagebuilds.get((namespace, uid), [])), None)
    if owner is None or not status_update.runs_current_build(job, owner, jobs):
        return
    build = (job["metadata"].get("labels") or {}).get(naming.LABEL_BUILD_ID, "")
    if pod is not None and status_update.hides_build_error(pod):
        meta = pod["metadata"]
        log = api.read_log(meta["namespace"], meta["name"], naming.CONTAINER_BUILD, lines=400)
        pod = status_update.with_build_error(pod, log)
    with written.ordered(uid):
        known = written.known(uid, owner.get("status") or {}, build)
        patch = status_update.status_update(
            job=job,
            pod=pod,
            known=known,
            now=now(),
            pod_refused=pod_refused,
            retention=retention or DEFAULT_FINISHED_POD_RETENTION,
        )
        if patch is None:
            return
        api.patch_build_status(namespace, owner["metadata"]["name"], patch)
        written.remember(uid, apply_merge_patch(known, patch))
    change = status_update.transition(patch, known)
    if change is not None:
        _announce(owner, change, logger)
        metrics.build_finished(namespace, patch)


def _template_pods(
    namespace: str, job: Mapping[str, Any], build_pods: kopf.Index[Any, Any]
) -> Mapping[str, Any] | None:
    """The newest of the Job's pods that runs its template, if any."""
    return status_update.newest(
        pod
        for pod in list(build_pods.get((namespace, job["metadata"]["uid"]), []))
        if status_update.runs_template(pod, job)
    )


def _announce(
    owner: Mapping[str, Any], change: status_update.Transition, logger: kopf.Logger
) -> None:
    logger.info("build %s is %s: %s", change.build_id, change.phase, change.message)
    event = change.event
    if event is None:
        return
    events.tell(owner["metadata"], event.type, event.reason, event.message)


# kopf passes each index (build_pods, ...) as a keyword its handler protocols do not list.
@kopf.on.event("batch", "v1", "jobs", labels=BUILD)  # type: ignore[arg-type]
def job_changed(
    *,
    type: str,
    namespace: str | None,
    body: kopf.Body,
    memo: kopf.Memo,
    logger: kopf.Logger,
    build_pods: kopf.Index[Any, Any],
    goimagebuilds: kopf.Index[Any, Any],
    build_jobs: kopf.Index[Any, Any],
    build_policies: kopf.Index[Any, Any],
    namespace_labels: kopf.Index[Any, Any],
    queued_builds: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    namespace = namespace or ""
    metadata = dict(body["metadata"])
    job = {
        "metadata": metadata,
        "spec": body.get("spec"),
        "status": body.get("status"),
        status_update.FINGERPRINT: status_update.fingerprint_of_template(body),
    }
    if type != "DELETED":
        uid = (metadata.get("labels") or {}).get(naming.LABEL_BUILD_UID)
        # Copies: kopf updates its indexes on the event loop while this runs in a thread.
        jobs = list(build_jobs.get((namespace, uid), []))
        pods = list(build_pods.get((namespace, metadata.get("uid")), []))
        write_build_status(
            namespace=namespace,
            job=job,
            pod=status_update.newest(p for p in pods if status_update.runs_template(p, job)),
            goimagebuilds=goimagebuilds,
            written=memo.written_statuses,
            logger=logger,
            jobs=jobs,
            retention=memo.settings.finished_pod_retention,
        )
        # A Job that has finished frees its pods once the status holds its result
        # (those that run its template: a pod it adopted is not the build's).
        for pod in pods:
            if not status_update.runs_template(pod, job):
                continue
            pod_release.consider(
                pod=pod,
                job=job,
                jobs=jobs,
                goimagebuilds=goimagebuilds,
                written=memo.written_statuses,
                memo=memo,
                logger=logger,
            )
    # A build that ends (or a Job that goes) frees a slot for a waiting build.
    if (type == "DELETED" or history.job_finished(job)) and queued_builds.get(namespace):
        builds.start_waiting_builds(
            namespace,
            settings=memo.settings,
            indexes=builds.Indexes(
                build_jobs=build_jobs,
                build_policies=build_policies,
                namespace_labels=namespace_labels,
                queued_builds=queued_builds,
            ),
            locks=memo.namespace_locks,
            logger=logger,
            answers=memo.source_answers,
        )


@kopf.on.event("v1", "pods", labels=BUILD)  # type: ignore[arg-type]
def pod_changed(
    *,
    type: str,
    namespace: str | None,
    labels: kopf.Labels,
    body: kopf.Body,
    memo: kopf.Memo,
    logger: kopf.Logger,
    build_jobs: kopf.Index[Any, Any],
    goimagebuilds: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    if type == "DELETED":
        pod_release.forget(memo, body["metadata"].get("uid", ""))
        return
    # The pod's Job is the one that controls it (by uid), not one its labels name.
    job_uid = naming.controller_uid(body["metadata"])
    jobs: Iterable[Mapping[str, Any]] = list(
        build_jobs.get((namespace, labels.get(naming.LABEL_BUILD_UID)), [])
    )
    job = next((j for j in jobs if job_uid and j["metadata"].get("uid") == job_uid), None)
    pod = {
        "metadata": dict(body["metadata"]),
        "status": body.get("status"),
        status_update.FINGERPRINT: status_update.fingerprint_of_pod(body),
    }
    if job is None or not status_update.runs_template(pod, job):
        return
    write_build_status(
        namespace=namespace or "",
        job=job,
        pod=pod,
        goimagebuilds=goimagebuilds,
        written=memo.written_statuses,
        logger=logger,
        jobs=jobs,
        retention=memo.settings.finished_pod_retention,
    )
    # Read after the write above: a pod whose result is now recorded may go.
    pod_release.consider(
        pod=pod,
        job=job,
        jobs=jobs,
        goimagebuilds=goimagebuilds,
        written=memo.written_statuses,
        memo=memo,
        logger=logger,
    )


# How often a build whose Job has no pod looks for the reason (one Events list).
MISSING_POD_CHECK_S = 10.0


@kopf.timer(  # type: ignore[arg-type]
    naming.GROUP,
    naming.VERSION,
    naming.PLURAL,
    interval=MISSING_POD_CHECK_S,
    initial_delay=MISSING_POD_CHECK_S,
    when=lambda status, **_: waits_for_pod(status),
)
def explain_missing_pod(
    *,
    namespace: str | None,
    uid: str,
    status: kopf.Status,
    memo: kopf.Memo,
    logger: kopf.Logger,
    build_jobs: kopf.Index[Any, Any],
    build_pods: kopf.Index[Any, Any],
    goimagebuilds: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    """A build's Job without a pod: if a quota refuses the pod, the status says so."""
    namespace = namespace or ""
    jobs: Iterable[Mapping[str, Any]] = list(build_jobs.get((namespace, uid), []))
    job = next((j for j in jobs if j["metadata"]["name"] == status.get("jobName")), None)
    if job is None or _template_pods(namespace, job, build_pods) is not None:
        return
    write_build_status(
        namespace=namespace,
        job=job,
        pod=None,
        goimagebuilds=goimagebuilds,
        written=memo.written_statuses,
        logger=logger,
        pod_refused=api.pod_refusal(namespace, job["metadata"]["uid"]),
        jobs=jobs,
        retention=memo.settings.finished_pod_retention,
    )


# --- resolve Jobs: a private repository's commit ---------------------------------------------


def _answered(
    namespace: str,
    job_name: str,
    request: source.ResolveRequest,
    answer: source.Resolved | source.ResolveError,
    *,
    memo: kopf.Memo,
    logger: kopf.Logger,
    indexes: builds.Indexes,
    goimagebuilds: kopf.Index[Any, Any],
) -> None:
    """A resolve Job has answered: its Job goes, and the build or the poll that asked goes on."""
    api.delete_build_objects(namespace, job_name, owner_uid=request.uid, configmap=False)
    owner = next(iter(goimagebuilds.get((namespace, request.uid), [])), None)
    if owner is None:
        return
    body = api.get_build(namespace, owner["metadata"]["name"])
    if body is None or int(body["metadata"].get("generation") or 1) != request.generation:
        return  # the spec moved on: its own reconcile asks again
    logger.info("resolve job %s answered: %s", job_name, answer)
    step = builds.poll_body if request.request == source.POLL_REQUEST else builds.reconcile_body
    step(
        body,
        settings=memo.settings,
        indexes=indexes,
        locks=memo.namespace_locks,
        logger=logger,
        answers=memo.source_answers,
    )


def _controller_name(meta: Mapping[str, Any]) -> str:
    for reference in meta.get("ownerReferences") or ():
        if reference.get("controller"):
            return str(reference.get("name") or "")
    return ""


@kopf.on.event("v1", "pods", labels=RESOLVE)  # type: ignore[arg-type]
def resolve_pod_changed(
    *,
    type: str,
    namespace: str | None,
    body: kopf.Body,
    memo: kopf.Memo,
    logger: kopf.Logger,
    build_jobs: kopf.Index[Any, Any],
    build_policies: kopf.Index[Any, Any],
    namespace_labels: kopf.Index[Any, Any],
    queued_builds: kopf.Index[Any, Any],
    goimagebuilds: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    """A resolve pod's termination message is the commit (or why there is none): the only
    thing of a private repository the operator reads."""
    meta = body["metadata"]
    if type == "DELETED" or meta.get("deletionTimestamp"):
        return
    answer = source.resolve_pod_result(body)
    if answer is None:
        return
    request = source.resolve_request(body)
    key = (request.uid, request.request, request.revision)
    if not memo.source_answers.put(key, answer, pod_uid=meta["uid"], now=time.monotonic()):
        return
    _answered(
        namespace or "",
        _controller_name(meta),
        request,
        answer,
        memo=memo,
        logger=logger,
        indexes=builds.Indexes(
            build_jobs=build_jobs,
            build_policies=build_policies,
            namespace_labels=namespace_labels,
            queued_builds=queued_builds,
        ),
        goimagebuilds=goimagebuilds,
    )


@kopf.on.event("batch", "v1", "jobs", labels=RESOLVE)  # type: ignore[arg-type]
def resolve_job_changed(
    *,
    type: str,
    namespace: str | None,
    body: kopf.Body,
    memo: kopf.Memo,
    logger: kopf.Logger,
    build_jobs: kopf.Index[Any, Any],
    build_policies: kopf.Index[Any, Any],
    namespace_labels: kopf.Index[Any, Any],
    queued_builds: kopf.Index[Any, Any],
    goimagebuilds: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    """A resolve Job that failed without an answer (its pod never ran, or ran past the
    deadline): git could not be asked, and the build waits to try again."""
    meta = body["metadata"]
    if type == "DELETED" or meta.get("deletionTimestamp"):
        return
    error = source.resolve_job_failure({"metadata": meta, "status": body.get("status")})
    if error is None:
        return
    template = (body.get("spec") or {}).get("template") or {}
    request = source.resolve_request(template)
    request = dataclasses.replace(
        request, uid=request.uid or str((meta.get("labels") or {}).get(naming.LABEL_BUILD_UID, ""))
    )
    key = (request.uid, request.request, request.revision)
    if not memo.source_answers.put(key, error, pod_uid=meta["uid"], now=time.monotonic()):
        return
    _answered(
        namespace or "",
        meta["name"],
        request,
        error,
        memo=memo,
        logger=logger,
        indexes=builds.Indexes(
            build_jobs=build_jobs,
            build_policies=build_policies,
            namespace_labels=namespace_labels,
            queued_builds=queued_builds,
        ),
        goimagebuilds=goimagebuilds,
    )
