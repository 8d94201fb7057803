"""Job and Pod handlers: every change of a build's Job or Pod updates its GoImageBuild.

The status is a pure function of the Job, its Pod and the status before
(`core.status_update`); it is written only when it changes. Jobs of builds that
are no longer current (an older generation, stopped or kept as history) never
touch the status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import kopf

from goimage import metrics
from goimage.core import naming, status_update
from goimage.core.merge_patch import apply_merge_patch
from goimage.core.status_cache import WrittenStatuses
from goimage.handlers.clock import now
from goimage.handlers.indexes import JOB_NAME_LABEL, MANAGED
from goimage.k8s import api


def write_build_status(
    *,
    namespace: str,
    job: Mapping[str, Any] | None,
    pod: Mapping[str, Any] | None,
    goimagebuilds: kopf.Index[Any, Any],
    written: WrittenStatuses,
    logger: kopf.Logger,
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
        patch = status_update.status_update(job=job, pod=pod, known=known, now=now())
        if patch is None:
            return
        api.patch_build_status(namespace, owner["metadata"]["name"], patch)
        written.remember(uid, apply_merge_patch(known, patch))
    change = status_update.transition(patch, known)
    if change is not None:
        _announce(owner, change, logger)
        metrics.build_finished(namespace, patch)


def _announce(
    owner: Mapping[str, Any], change: status_update.Transition, logger: kopf.Logger
) -> None:
    logger.info("build %s is %s: %s", change.build_id, change.phase, change.message)
    event = change.event
    if event is None:
        return
    meta = owner["metadata"]
    ref = kopf.Body(
        {
            "apiVersion": naming.API_VERSION,
            "kind": naming.KIND,
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
        }
    )
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
    name: str,
    body: kopf.Body,
    memo: kopf.Memo,
    logger: kopf.Logger,
    build_pods: kopf.Index[Any, Any],
    goimagebuilds: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    if type == "DELETED":
        return
    job = {
        "metadata": dict(body["metadata"]),
        "spec": body.get("spec"),
        "status": body.get("status"),
    }
    write_build_status(
        namespace=namespace or "",
        job=job,
        pod=status_update.newest(build_pods.get((namespace, name), [])),
        goimagebuilds=goimagebuilds,
        written=memo.written_statuses,
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
    job_name = labels.get(JOB_NAME_LABEL)
    owner_uid = labels.get(naming.LABEL_BUILD_UID)
    jobs: Iterable[Mapping[str, Any]] = build_jobs.get((namespace, owner_uid), [])
    write_build_status(
        namespace=namespace or "",
        job=next((j for j in jobs if j["metadata"]["name"] == job_name), None),
        pod={"metadata": dict(body["metadata"]), "status": body.get("status")},
        goimagebuilds=goimagebuilds,
        written=memo.written_statuses,
        logger=logger,
    )
