"""In-memory indexes of what the operator watches, kept by kopf from its watch streams.

Handlers look builds, Jobs and Pods up here instead of asking the API server:
reconciling a build and deriving its status costs no reads. kopf hands each
index to the handlers that declare a keyword parameter of its function's name
(`build_jobs: kopf.Index[...]`). kopf fills every
index from its initial listing before any handler runs, so a restarted
operator sees the Jobs it made before it decides whether to make one.
"""

from __future__ import annotations

import copy
from typing import Any

import kopf

from goimage.core import build_queue, naming, policy, status_update

MANAGED = {naming.LABEL_MANAGED_BY: naming.MANAGED_BY}


def _snapshot(body: kopf.Body, *fields: str) -> dict[str, Any]:
    # Bodies are live views; an index must keep the state as of this event.
    # Without managedFields, which no handler reads: they are half of an object,
    # and copying them was most of the index's time and memory.
    metadata = {key: value for key, value in body["metadata"].items() if key != "managedFields"}
    return {"metadata": copy.deepcopy(metadata)} | {
        name: copy.deepcopy(body.get(name)) for name in fields
    }


@kopf.index(naming.GROUP, naming.VERSION, naming.PLURAL)
def goimagebuilds(*, namespace: str | None, uid: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    """(namespace, uid) -> the GoImageBuild's metadata and status."""
    return {(namespace, uid): _snapshot(body, "status")}


@kopf.index("batch", "v1", "jobs", labels=MANAGED)
def build_jobs(
    *, namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    """(namespace, owner uid) -> the owner's Jobs."""
    return {(namespace, labels.get(naming.LABEL_BUILD_UID)): _snapshot(body, "spec", "status")}


@kopf.index(
    "v1",
    "pods",
    labels=MANAGED,
    when=lambda meta, **_: naming.controller_uid(meta) is not None,
)
def build_pods(*, namespace: str | None, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    """(namespace, controlling Job's uid) -> the Job's Pods, each with its fingerprint.

    By ownership, not by labels: a pod that only copies a build's labels is
    nobody's build pod, and never reaches a status.
    """
    owner = naming.controller_uid(body["metadata"])
    fingerprint = status_update.pod_fingerprint(body.get("spec") or {})
    return {
        (namespace, owner): _snapshot(body, "status") | {status_update.FINGERPRINT: fingerprint}
    }


@kopf.index(naming.GROUP, naming.VERSION, policy.PLURAL)
def build_policies(*, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    """None -> every GoImageBuildPolicy, parsed."""
    return {None: policy.parse_policy(body)}


@kopf.index("", "v1", "namespaces")
def namespace_labels(*, name: str, labels: kopf.Labels, **_: Any) -> dict[Any, Any]:
    """namespace name -> its labels (which policies govern it)."""
    return {name: dict(labels)}


# A filter, not a None result: kopf drops an object's entry when it stops matching
# the filter, but keeps the entry of an object whose indexer returns None.
@kopf.index(
    naming.GROUP,
    naming.VERSION,
    naming.PLURAL,
    when=lambda status, **_: build_queue.is_queued(status),
)
def queued_builds(
    *, namespace: str | None, name: str, status: kopf.Status, **_: Any
) -> dict[Any, Any]:
    """namespace -> its builds that wait for a slot (maxConcurrentBuilds)."""
    return {namespace: build_queue.Waiting(name, str(status["queuedSince"]))}
