"""A GoImageBuild's status written from its build Jobs and Pods, as the indexes hold them.

The status is a pure function of the Job, its Pod and the status before
(`core.status_update`); it is written only when it changes, and a build that
reaches a phase is announced (a log line, an Event, a metric). Jobs of builds
that are no longer current (an older generation, stopped or kept as history)
never touch the status. After each write, a finished build's pods are
considered for release (`handlers.pod_release`).

Two callers: the Job and Pod event handlers (`handlers.children`), for each
change they see, and a GoImageBuild's own create/update/resume handler
(`handlers.builds`), for what happened while the operator was away. The build
Jobs and Pods of the operator's first listing reach no event handler
(`handlers.first_listing` indexes them without one, which is what bounds the
memory of a restart among many builds); their owner's resume catches up with
them here instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import kopf

from goimage import metrics
from goimage.core import naming, status_update
from goimage.core.merge_patch import apply_merge_patch
from goimage.core.settings import DEFAULT_FINISHED_POD_RETENTION
from goimage.core.status_cache import WrittenStatuses
from goimage.handlers import events, pod_release
from goimage.handlers.clock import now
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


def template_pod(
    namespace: str, job: Mapping[str, Any], build_pods: kopf.Index[Any, Any]
) -> Mapping[str, Any] | None:
    """The newest of the Job's pods that runs its template, if any."""
    return status_update.newest(
        pod
        for pod in list(build_pods.get((namespace, job["metadata"]["uid"]), []))
        if status_update.runs_template(pod, job)
    )


def settle_job(
    *,
    namespace: str,
    job: Mapping[str, Any],
    jobs: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    goimagebuilds: kopf.Index[Any, Any],
    memo: kopf.Memo,
    logger: kopf.Logger,
    pod_refused: str = "",
) -> None:
    """The status `job` and the newest of its `pods` call for, then the release of its
    finished pods (those that run its template: a pod it adopted is not the build's).
    `pod_refused`: why the Job has no pod (a quota's words), when it has none."""
    pods = [pod for pod in pods if status_update.runs_template(pod, job)]
    write_build_status(
        namespace=namespace,
        job=job,
        pod=status_update.newest(pods),
        goimagebuilds=goimagebuilds,
        written=memo.written_statuses,
        logger=logger,
        pod_refused=pod_refused,
        jobs=jobs,
        retention=memo.settings.finished_pod_retention,
    )
    # Read after the write above: a pod whose result is now recorded may go.
    for pod in pods:
        pod_release.consider(
            pod=pod,
            job=job,
            jobs=jobs,
            goimagebuilds=goimagebuilds,
            written=memo.written_statuses,
            memo=memo,
            logger=logger,
        )


def catch_up(
    *,
    namespace: str,
    uid: str,
    build_jobs: kopf.Index[Any, Any],
    build_pods: kopf.Index[Any, Any],
    goimagebuilds: kopf.Index[Any, Any],
    memo: kopf.Memo,
    logger: kopf.Logger,
) -> None:
    """Settle each of a GoImageBuild's build Jobs as its own event would have: a build that
    finished, failed or lost its pod while the operator was away gets its status."""
    # Copies: kopf updates its indexes on the event loop while this runs in a thread.
    jobs = list(build_jobs.get((namespace, uid), []))
    for job in jobs:
        settle_job(
            namespace=namespace,
            job=job,
            jobs=jobs,
            pods=list(build_pods.get((namespace, job["metadata"].get("uid")), [])),
            goimagebuilds=goimagebuilds,
            memo=memo,
            logger=logger,
        )


def _announce(
    owner: Mapping[str, Any], change: status_update.Transition, logger: kopf.Logger
) -> None:
    logger.info("build %s is %s: %s", change.build_id, change.phase, change.message)
    event = change.event
    if event is None:
        return
    events.tell(owner["metadata"], event.type, event.reason, event.message)
