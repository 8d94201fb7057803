"""Job and Pod handlers: every change of a build's Job or Pod updates its GoImageBuild.

The status is a pure function of the Job, its Pod and the status before; it is
written only when it changes. Jobs of builds that are no longer current (an
older generation, stopped or kept as history) never touch the status.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from typing import Any

import kopf

from goimage import metrics
from goimage.core import conditions, failures, naming, status
from goimage.handlers import indexes
from goimage.handlers.clock import now
from goimage.handlers.indexes import JOB_NAME_LABEL, MANAGED
from goimage.k8s import api

_FINISHED = (str(conditions.Phase.SUCCEEDED), str(conditions.Phase.FAILED))

# The status each GoImageBuild has since our last write of it, by uid. The index
# shows a GoImageBuild as of its last watch event, which trails our own writes:
# Job and Pod events that came meanwhile derived the status from the older one,
# wrote again what was written already, and announced a transition twice. One
# lock per uid (striped) keeps each GoImageBuild's derive-and-write in order.
_WRITTEN_MAX = 4096
_written: dict[str, dict[str, Any]] = {}
_written_lock = threading.Lock()
_stripes = tuple(threading.Lock() for _ in range(64))


def _applied(status_: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """`status_` with the merge patch `patch` applied, as the API server applies it."""
    result = dict(status_)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = _applied(result[key], value)
        else:
            result[key] = value
    return result


def _known_status(uid: str, indexed: Mapping[str, Any], build: str) -> Mapping[str, Any]:
    """The status as of our last write of this build, if the index has not shown it yet."""
    written = _written.get(uid)
    return written if written is not None and written.get("buildId") == build else indexed


def _remember(uid: str, written: dict[str, Any]) -> None:
    with _written_lock:
        _written.pop(uid, None)
        _written[uid] = written
        while len(_written) > _WRITTEN_MAX:
            del _written[next(iter(_written))]


def _latest(items: Any) -> dict[str, Any] | None:
    ordered = sorted(items, key=lambda o: o["metadata"].get("creationTimestamp") or "")
    return ordered[-1] if ordered else None


def _owner(goimagebuilds: kopf.Index[Any, Any], namespace: str, uid: str) -> dict[str, Any] | None:
    return next(iter(goimagebuilds.get((namespace, uid), [])), None)


def _current_build_id(owner: dict[str, Any]) -> str:
    meta = owner["metadata"]
    return naming.build_id(
        int(meta.get("generation") or 1), naming.rebuild_token(meta.get("annotations"))
    )


def publish(
    *,
    namespace: str,
    job: dict[str, Any] | None,
    pod: dict[str, Any] | None,
    goimagebuilds: kopf.Index[Any, Any],
    logger: kopf.Logger,
) -> None:
    if job is None:
        return
    labels = job["metadata"].get("labels") or {}
    owner = _owner(goimagebuilds, namespace, labels.get(naming.LABEL_BUILD_UID, ""))
    if owner is None:
        return
    build = _current_build_id(owner)
    if labels.get(naming.LABEL_BUILD_ID) != build:
        return
    if pod is not None:
        pod = _with_build_error(pod)
    uid = owner["metadata"]["uid"]
    with _stripes[hash(uid) % len(_stripes)]:
        current = _known_status(uid, owner.get("status") or {}, build)
        patch = status.status_from_build(job=job, pod=pod, previous=current, now=now())
        same_job = current.get("jobName") == job["metadata"]["name"]
        if pod is None and same_job and current.get("phase") in _FINISHED:
            return  # the pod is gone, but its result was read while it lived
        if not status.would_change(patch, current):
            return
        name = owner["metadata"]["name"]
        api.patch_build_status(namespace, name, patch)
        _remember(uid, _applied(current, patch))
    if patch["phase"] != current.get("phase"):
        _announce(owner, patch, logger)
        metrics.build_finished(namespace, patch)


def _with_build_error(pod: dict[str, Any]) -> dict[str, Any]:
    """The pod, with the build step's error restored when its usage text hid it.

    Only a build that failed before it started (a source that cannot be
    cloned) shows that; its log is read for each of the few events that
    follow its failure, so every derivation of its status agrees.
    """
    statuses = pod.get("status", {}).get("initContainerStatuses") or []
    build = next((c for c in statuses if c.get("name") == naming.CONTAINER_BUILD), None)
    terminated = ((build or {}).get("state") or {}).get("terminated") or {}
    if not failures.shows_only_usage(terminated.get("message") or ""):
        return pod
    meta = pod["metadata"]
    log = api.read_log(meta["namespace"], meta["name"], naming.CONTAINER_BUILD, lines=400)
    error = failures.without_usage(log).strip()
    if not error:
        return pod
    fixed = copy.deepcopy(pod)
    for entry in fixed["status"]["initContainerStatuses"]:
        if entry.get("name") == naming.CONTAINER_BUILD:
            entry["state"]["terminated"]["message"] = error
    return fixed


def _announce(owner: dict[str, Any], patch: dict[str, Any], logger: kopf.Logger) -> None:
    meta = owner["metadata"]
    ref = kopf.Body(
        {
            "apiVersion": naming.API_VERSION,
            "kind": naming.KIND,
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
        }
    )
    ready = patch["conditions"][0]
    phase = patch["phase"]
    logger.info("build %s is %s: %s", patch.get("buildId"), phase, ready["message"])
    if phase == str(conditions.Phase.FAILED):
        kopf.warn(ref, reason=ready["reason"], message=ready["message"][:1024])
    elif phase == str(conditions.Phase.SUCCEEDED):
        kopf.event(ref, type="Normal", reason="BuildSucceeded", message=ready["message"])
    elif phase == str(conditions.Phase.BUILDING):
        kopf.event(ref, type="Normal", reason="Building", message=ready["message"])


@kopf.on.event("batch", "v1", "jobs", labels=MANAGED)
def job_changed(
    *,
    type: str,
    namespace: str | None,
    name: str,
    body: kopf.Body,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    if type == "DELETED":
        return
    build_pods = indexes.lookup(kwargs, "build_pods")
    job = {
        "metadata": dict(body["metadata"]),
        "spec": body.get("spec"),
        "status": body.get("status"),
    }
    pod = _latest(build_pods.get((namespace, name), []))
    publish(
        namespace=namespace or "",
        job=job,
        pod=pod,
        goimagebuilds=indexes.lookup(kwargs, "goimagebuilds"),
        logger=logger,
    )


@kopf.on.event("v1", "pods", labels=MANAGED)
def pod_changed(
    *,
    type: str,
    namespace: str | None,
    labels: kopf.Labels,
    body: kopf.Body,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    if type == "DELETED":
        return
    build_jobs = indexes.lookup(kwargs, "build_jobs")
    job_name = labels.get(JOB_NAME_LABEL)
    jobs: Any = build_jobs.get((namespace, labels.get(naming.LABEL_BUILD_UID)), [])
    job = next((j for j in jobs if j["metadata"]["name"] == job_name), None)
    pod = {"metadata": dict(body["metadata"]), "status": body.get("status")}
    publish(
        namespace=namespace or "",
        job=job,
        pod=pod,
        goimagebuilds=indexes.lookup(kwargs, "goimagebuilds"),
        logger=logger,
    )
