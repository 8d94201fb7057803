"""What the operator keeps of the objects it watches: the fields its handlers read.

A watched object arrives whole; about half of it is `metadata.managedFields`
(server-side apply's bookkeeping, read by nothing here), and most of a build
Job's or Pod's spec is read by nothing but the pod fingerprint. kopf holds an
object's event until its handlers have run, and at start it holds every listed
object until all are indexed (so that no build starts twice), so what it holds
is what the operator's memory grows with (issue 13: 10,000 builds). These
functions give the kept view; `handlers.slim_watch` applies them to every
event before kopf queues it, and the indexes keep the same view.

Kept, for every kind: apiVersion, kind, status, and metadata without
managedFields. GoImageBuilds: every annotation but kubectl's
last-applied-configuration (a second copy of the spec; kopf's own diffbase and
progress annotations stay). Build Jobs and Pods: only the operator's own
annotations, and instead of a pod spec (a Job's template, a Pod's own) its
fingerprint (`status_update.pod_fingerprint`: all the handlers compare of it).
Pure; `tests/unit/test_indexes.py` checks that the core derives the same
statuses from the kept views as from the whole objects.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from goimage.core import naming, status_update

_OWN_ANNOTATION = f"{naming.GROUP}/"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_TOP_LEVEL = ("apiVersion", "kind", "status")


def metadata(meta: Mapping[str, Any]) -> dict[str, Any]:
    """An object's metadata without managedFields (half of an object), and of its
    annotations only the operator's own (`goimage.dev/...`)."""
    kept = _without_managed_fields(meta)
    annotations = meta.get("annotations")
    if annotations:
        own = {k: v for k, v in annotations.items() if k.startswith(_OWN_ANNOTATION)}
        kept["annotations"] = own
    return kept


def job_spec(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """A build Job's spec without its pod template (its fingerprint is kept instead)."""
    return {key: value for key, value in (spec or {}).items() if key != "template"}


def _top(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {key: obj[key] for key in _TOP_LEVEL if key in obj}


def is_build_object(obj: Mapping[str, Any]) -> bool:
    """A build's Job or Pod (by its labels); a resolve Job or Pod is kept whole but for
    its managedFields (the resolve request is read from its template)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(naming.LABEL_COMPONENT) == naming.COMPONENT_BUILD)


def _without_managed_fields(meta: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in meta.items() if key != "managedFields"}


def without_managed_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {**obj, "metadata": _without_managed_fields(obj.get("metadata") or {})}


def goimagebuild(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A GoImageBuild as kept: whole but for managedFields and kubectl's last-applied copy."""
    kept = without_managed_fields(obj)
    annotations = kept["metadata"].get("annotations")
    if annotations and LAST_APPLIED in annotations:
        others = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        kept["metadata"]["annotations"] = others
    return kept


def job(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A build Job as kept: its spec but the template, whose fingerprint it carries (any
    other Job: without managedFields)."""
    if not is_build_object(obj):
        return without_managed_fields(obj)
    return _top(obj) | {
        "metadata": metadata(obj["metadata"]),
        "spec": job_spec(obj.get("spec")),
        status_update.FINGERPRINT: status_update.fingerprint_of_template(obj),
    }


def pod(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A build Pod as kept: no spec, its fingerprint instead (any other Pod: without
    managedFields)."""
    if not is_build_object(obj):
        return without_managed_fields(obj)
    return _top(obj) | {
        "metadata": metadata(obj["metadata"]),
        status_update.FINGERPRINT: status_update.fingerprint_of_pod(obj),
    }


def snapshot(obj: Mapping[str, Any], *fields: str) -> dict[str, Any]:
    """A deep copy of `fields` of `obj` with its metadata as `metadata` keeps it: what an
    index holds, unchanged by later events (kopf's bodies are live views)."""
    return copy.deepcopy(
        {"metadata": metadata(obj["metadata"])} | {name: obj.get(name) for name in fields}
    )
