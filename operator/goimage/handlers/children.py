"""Job and Pod handlers: every change of a build's Job or Pod updates its GoImageBuild
(`handlers.build_status` derives and writes the status).

A Job whose pod does not come (a ResourceQuota on pods or memory refuses it:
the Job controller only posts a FailedCreate Event, and the Job does not
change) is looked at by a timer, which reads the Job's Events and says so.

After each write, a finished build's pod is considered for deletion
(`handlers.pod_release`): once the status holds its result and
finishedPodRetention has passed, the pod and its disk go; the Job stays.

The build Jobs and Pods of the operator's first listing reach none of these
handlers (`handlers.first_listing`): their GoImageBuild's resume catches up
with them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping
from typing import Any

import kopf

from goimage.core import history, naming, source, status_update
from goimage.core.status import waits_for_pod
from goimage.handlers import build_status, builds, pod_release
from goimage.handlers.indexes import BUILD, RESOLVE
from goimage.k8s import api


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
        build_status.settle_job(
            namespace=namespace,
            job=job,
            jobs=list(build_jobs.get((namespace, uid), [])),
            pods=list(build_pods.get((namespace, metadata.get("uid")), [])),
            goimagebuilds=goimagebuilds,
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
    build_status.settle_job(
        namespace=namespace or "",
        job=job,
        jobs=jobs,
        pods=[pod],
        goimagebuilds=goimagebuilds,
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
    if job is None or build_status.template_pod(namespace, job, build_pods) is not None:
        return
    build_status.settle_job(
        namespace=namespace,
        job=job,
        jobs=jobs,
        pods=(),
        goimagebuilds=goimagebuilds,
        memo=memo,
        logger=logger,
        pod_refused=api.pod_refusal(namespace, job["metadata"]["uid"]),
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
    builds.with_memo(step, body, memo=memo, indexes=indexes, logger=logger)


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
