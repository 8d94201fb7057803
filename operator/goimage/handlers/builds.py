"""GoImageBuild handlers: start the build of the current generation, retire older ones.

Runs on create, on every non-status change (a new generation, the rebuild
annotation), and on resume after an operator restart. Idempotent: the build's
Job has a deterministic name, so a build already started is found in the jobs
index (or refused by the API server as AlreadyExists), never started twice.
"""

from __future__ import annotations

from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from goimage import metrics
from goimage.core import history, naming, status
from goimage.core.configmap import build_configmap
from goimage.core.dockerfile import render_dockerfile
from goimage.core.kaniko_job import build_kaniko_job
from goimage.core.plan import BuildPlan, plan_build
from goimage.core.settings import Settings
from goimage.core.spec import SpecError
from goimage.handlers import indexes
from goimage.handlers.clock import now
from goimage.k8s import api

RESOURCE = (naming.GROUP, naming.VERSION, naming.PLURAL)


def _records(jobs: Any) -> list[history.BuildRecord]:
    return [
        history.BuildRecord(
            name=job["metadata"]["name"],
            created=job["metadata"].get("creationTimestamp") or "",
            finished=any(
                c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                for c in (job.get("status") or {}).get("conditions") or []
            ),
        )
        for job in jobs
    ]


def _start(plan: BuildPlan, settings: Settings, current: dict[str, Any]) -> bool:
    """Start the build; False if its Job already existed (another event got there first)."""
    # Status first: a pod event of the new Job must never be overwritten by "Pending".
    if current.get("buildId") != plan.build_id:
        api.patch_build_status(
            plan.namespace,
            plan.resource_name,
            status.status_for_new_build(plan, previous=current, now=now()),
        )
    dockerfile = render_dockerfile(plan.spec, resource=plan.resource)
    api.create_configmap(
        build_configmap(
            name=plan.object_name,
            namespace=plan.namespace,
            labels=plan.labels,
            owner=plan.owner,
            dockerfile=dockerfile,
        )
    )
    return api.create_job(build_kaniko_job(plan, settings))


@kopf.on.resume(*RESOURCE, backoff=10)
@kopf.on.create(*RESOURCE, backoff=10)
@kopf.on.update(*RESOURCE, backoff=10)
def reconcile_build(
    *,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    uid: str,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    namespace = namespace or ""
    current = dict(body.get("status") or {})
    try:
        plan = plan_build(body)
    except SpecError as error:
        patch = status.status_for_invalid_spec(
            generation=int(body["metadata"].get("generation") or 1),
            field=error.field,
            message=error.message,
            previous=current,
            now=now(),
        )
        if status.would_change(patch, current):
            api.patch_build_status(namespace, name, patch)
            kopf.warn(body, reason="InvalidSpec", message=str(error))
        return

    settings: Settings = memo.settings
    jobs = list(indexes.lookup(kwargs, "build_jobs").get((namespace, uid), []))
    started = not any(job["metadata"]["name"] == plan.object_name for job in jobs)
    try:
        started = started and _start(plan, settings, current)
    except ApiException as error:
        if not api.namespace_terminating(error):
            raise
        logger.info("namespace %s is being deleted: no build started", namespace)
        return
    if started:
        metrics.build_started(namespace)
        logger.info("build %s started as job %s", plan.build_id, plan.object_name)
        kopf.event(
            body,
            type="Normal",
            reason="BuildStarted",
            message=f"build {plan.build_id}: job {plan.object_name}",
        )

    for old in history.builds_to_remove(
        _records(jobs), current=plan.object_name, keep=settings.history_limit
    ):
        api.delete_build_objects(namespace, old)
        logger.info("removed build %s (superseded or past the history limit)", old)
