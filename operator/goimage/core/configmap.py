"""The ConfigMap that carries a build's rendered Dockerfile into the build pod."""

from __future__ import annotations

from typing import Any

DOCKERFILE_KEY = "Dockerfile"


def build_configmap(
    *, name: str, namespace: str, labels: dict[str, str], owner: dict[str, object], dockerfile: str
) -> dict[str, Any]:
    # Immutable: a build's Dockerfile never changes; a new spec makes a new build.
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels),
            "ownerReferences": [owner],
        },
        "immutable": True,
        "data": {DOCKERFILE_KEY: dockerfile},
    }
