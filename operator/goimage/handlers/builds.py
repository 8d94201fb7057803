"""GoImageBuild handlers: start the build of the current generation, retire older ones.

Runs on create, on every non-status change (a new generation, the rebuild
annotation), and on resume after an operator restart. Idempotent: the build's
Job has a deterministic name, so a build already started is found in the jobs
index (or refused by the API server as AlreadyExists), never started twice.
What to do is decided in the core (`core.reconcile.decide`); this module does it.
"""

from __future__ import annotations

from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from goimage import metrics
from goimage.core import naming, reconcile, status
from goimage.core.configmap import build_configmap
from goimage.core.dockerfile import render_dockerfile
from goimage.core.kaniko_job import build_kaniko_job
from goimage.core.plan import BuildPlan, plan_build
from goimage.core.settings import Settings
from goimage.core.spec import SpecError
from goimage.handlers.clock import now
from goimage.k8s import api

RESOURCE = (naming.GROUP, naming.VERSION, naming.PLURAL)


def start_build(plan: BuildPlan, settings: Settings, new_status: dict[str, Any] | None) -> bool:
    """Write the build's status, make its ConfigMap and Job; False if the Job existed already
    (another event got there first)."""
    if new_status is not None:
        api.patch_build_status(plan.namespace, plan.resource_name, new_status)
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


def write_invalid_spec(
    body: kopf.Body, namespace: str, name: str, current: dict[str, Any], error: SpecError
) -> None:
    """Failed/InvalidSpec, written (and told in an Event) only when it is news."""
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


# kopf passes each index (build_jobs) as a keyword its handler protocols do not list.
@kopf.on.resume(*RESOURCE, backoff=10)
@kopf.on.create(*RESOURCE, backoff=10)
@kopf.on.update(*RESOURCE, backoff=10)  # type: ignore[arg-type]
def reconcile_build(
    *,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    uid: str,
    memo: kopf.Memo,
    logger: kopf.Logger,
    build_jobs: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    namespace = namespace or ""
    current = dict(body.get("status") or {})
    try:
        plan = plan_build(body)
    except SpecError as error:
        write_invalid_spec(body, namespace, name, current, error)
        return

    settings: Settings = memo.settings
    decision = reconcile.decide(
        plan,
        build_jobs.get((namespace, uid), []),
        current_status=current,
        history_limit=settings.history_limit,
        now=now(),
    )
    try:
        started = decision.start and start_build(plan, settings, decision.status)
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

    for old in decision.remove:
        api.delete_build_objects(namespace, old)
        logger.info("removed build %s (superseded or past the history limit)", old)
