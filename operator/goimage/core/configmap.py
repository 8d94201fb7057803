"""The ConfigMap that carries a build's rendered Dockerfile, and its spec, into the build pod.

The spec (the GoImageBuild's, as the API server holds it, defaults applied)
goes in as JSON for the `publish` step, which writes it into the provenance
as the build's external parameters: a mounted file rather than an argument,
because a spec can be far longer than a command line should be, and the
ConfigMap already reaches the pod.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

DOCKERFILE_KEY = "Dockerfile"
SPEC_KEY = "spec.json"
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


def spec_json(spec: Mapping[str, Any]) -> str:
    """The spec as the ConfigMap holds it: sorted keys, compact, so a build's is one text."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def oversize_message(dockerfile: str, spec: Mapping[str, Any] | None = None) -> str | None:
    """Why the rendered Dockerfile (and the spec) cannot reach the build pod, if they cannot."""
    size = len(dockerfile.encode()) + len(DOCKERIGNORE.encode())
    size += len(DOCKERFILE_KEY) + len(DOCKERIGNORE_KEY)
    if spec is not None:
        size += len(SPEC_KEY) + len(spec_json(spec).encode())
    if size <= CONFIGMAP_LIMIT_BYTES:
        return None
    return (
        f"the rendered Dockerfile and the spec are {size} bytes, over the "
        f"{CONFIGMAP_LIMIT_BYTES} bytes a ConfigMap holds; shorten spec.runtime.env, "
        "spec.runtime.labels, spec.runtime.args or spec.go.env"
    )


def build_configmap(
    *,
    name: str,
    namespace: str,
    labels: dict[str, str],
    owner: dict[str, object],
    dockerfile: str,
    spec: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    # Immutable: a build's Dockerfile never changes; a new spec makes a new build.
    data = {DOCKERFILE_KEY: dockerfile, DOCKERIGNORE_KEY: DOCKERIGNORE}
    if spec is not None:
        data[SPEC_KEY] = spec_json(spec)
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
        "data": data,
    }
