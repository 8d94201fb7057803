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

from goimage.core import naming

MANAGED = {naming.LABEL_MANAGED_BY: naming.MANAGED_BY}
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


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


@kopf.index("v1", "pods", labels=MANAGED)
def build_pods(
    *, namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    """(namespace, job name) -> the Job's Pods."""
    return {(namespace, labels.get(JOB_NAME_LABEL)): _snapshot(body, "status")}
