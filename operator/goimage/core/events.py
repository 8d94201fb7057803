"""The Kubernetes Events the operator tells a GoImageBuild's news with (core/v1 Event).

Posted by the operator's own posters (`handlers.events`), not kopf's background
poster: kopf stops its poster when the operator stops, so an Event of a handler
that finished during a SIGTERM's grace period (a rolling upgrade) was lost.
Pure: the body from its parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from goimage.core import naming

COMPONENT = "goimage-operator"
# Messages are cut here, as kopf cut them: an Event is a line in `kubectl describe`.
MESSAGE_LIMIT = 1024


def event_body(
    *,
    involved: Mapping[str, Any],
    type: str,
    reason: str,
    message: str,
    now: str,
    instance: str,
) -> dict[str, Any]:
    """An Event about the GoImageBuild whose metadata is `involved` (name, namespace, uid)."""
    name = str(involved["name"])
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{name}.", "namespace": involved["namespace"]},
        "involvedObject": {
            "apiVersion": naming.API_VERSION,
            "kind": naming.KIND,
            "name": name,
            "namespace": involved["namespace"],
            "uid": involved["uid"],
        },
        "type": type,
        "reason": reason,
        "message": message[:MESSAGE_LIMIT],
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance,
    }
