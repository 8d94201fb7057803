"""The ConfigMap that carries a build's rendered Dockerfile into the build pod."""

from __future__ import annotations

from typing import Any

DOCKERFILE_KEY = "Dockerfile"
# Kaniko reads <Dockerfile>.dockerignore before the context's own .dockerignore.
DOCKERIGNORE_KEY = f"{DOCKERFILE_KEY}.dockerignore"
# The clone's .git differs on every clone (index stat data, reflogs), so copying
# it would key `COPY . .` and every later layer on the clone rather than on the
# sources: no rebuild would ever hit the layer cache. The build passes
# -buildvcs=false, so nothing reads it.
DOCKERIGNORE = """\
# Rendered by goimage-operator: the clone's git metadata is not part of the sources.
.git
"""


# What the API server lets a ConfigMap hold (its data, all keys together).
CONFIGMAP_LIMIT_BYTES = 1024 * 1024


def oversize_message(dockerfile: str) -> str | None:
    """Why the rendered Dockerfile cannot reach the build pod, if it cannot."""
    size = len(dockerfile.encode()) + len(DOCKERIGNORE.encode())
    size += len(DOCKERFILE_KEY) + len(DOCKERIGNORE_KEY)
    if size <= CONFIGMAP_LIMIT_BYTES:
        return None
    return (
        f"the rendered Dockerfile is {size} bytes, over the {CONFIGMAP_LIMIT_BYTES} bytes a "
        "ConfigMap holds; shorten spec.runtime.env, spec.runtime.labels, spec.runtime.args "
        "or spec.go.env"
    )


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
        "data": {DOCKERFILE_KEY: dockerfile, DOCKERIGNORE_KEY: DOCKERIGNORE},
    }
