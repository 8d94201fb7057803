"""Job and Pod handlers: every change of a build's Job or Pod updates its GoImageBuild.

The status is a pure function of the Job, its Pod and the status before
(`core.status_update`); it is written only when it changes. Jobs of builds that
are no longer current (an older generation, stopped or kept as history) never
touch the status.

A Job whose pod does not come (a ResourceQuota on pods or memory refuses it:
the Job controller only posts a FailedCreate Event, and the Job does not
change) is looked at by a timer, which reads the Job's Events and says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import kopf

from goimage import metrics
from goimage.core import history, naming, status_update
from goimage.core.merge_patch import apply_merge_patch
from goimage.core.status import waits_for_pod
from goimage.core.status_cache import WrittenStatuses
from goimage.handlers import builds
from goimage.handlers.clock import now
from goimage.handlers.indexes import MANAGED
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
) -> None:
    """Write the status that the current build's Job and Pod call for, and announce its phase."""
    if job is None:
        return
    uid = (job["metadata"].get("labels") or {}).get(naming.LABEL_BUILD_UID, "")
    owner = next(iter(goimagebuilds.get((namespace, uid), [])), None)
    if owner is None or not status_update.runs_current_build(job, owner):
        return
    if pod is not None and status_update.hides_build_error(pod):
        meta = pod["metadata"]
        log = api.read_log(meta["namespace"], meta["name"], naming.CONTAINER_BUILD, lines=400)
        pod = status_update.with_build_error(pod, log)
    with written.ordered(uid):
        known = written.known(uid, owner.get("status") or {}, status_update.current_build_id(owner))
        patch = status_update.status_update(
            job=job, pod=pod, known=known, now=now(), pod_refused=pod_refused
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
        for pod in build_pods.get((namespace, job["metadata"]["uid"]), [])
        if status_update.runs_template(pod, job)
    )


def _announce(
    owner: Mapping[str, Any], change: status_update.Transition, logger: kopf.Logger
) -> None:
    logger.info("build %s is %s: %s", change.build_id, change.phase, change.message)
    event = change.event
    if event is None:
        return
    ref = builds.reference(owner["metadata"])
    if event.type == "Warning":
        kopf.warn(ref, reason=event.reason, message=event.message)
    else:
        kopf.event(ref, type=event.type, reason=event.reason, message=event.message)


# kopf passes each index (build_pods, ...) as a keyword its handler protocols do not list.
@kopf.on.event("batch", "v1", "jobs", labels=MANAGED)  # type: ignore[arg-type]
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
    }
    if type != "DELETED":
        write_build_status(
            namespace=namespace,
            job=job,
            pod=_template_pods(namespace, job, build_pods),
            goimagebuilds=goimagebuilds,
            written=memo.written_statuses,
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
        )


@kopf.on.event("v1", "pods", labels=MANAGED)  # type: ignore[arg-type]
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
        return
    # The pod's Job is the one that controls it (by uid), not one its labels name.
    job_uid = naming.controller_uid(body["metadata"])
    jobs: Iterable[Mapping[str, Any]] = build_jobs.get(
        (namespace, labels.get(naming.LABEL_BUILD_UID)), []
    )
    job = next((j for j in jobs if job_uid and j["metadata"].get("uid") == job_uid), None)
    pod = {
        "metadata": dict(body["metadata"]),
        "status": body.get("status"),
        status_update.FINGERPRINT: status_update.pod_fingerprint(body.get("spec") or {}),
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
    jobs: Iterable[Mapping[str, Any]] = build_jobs.get((namespace, uid), [])
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
    )
