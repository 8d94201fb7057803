"""Inputs for the unit tier: GoImageBuild specs and bodies as the API server hands them out.

Every factory returns a fresh object, so a test may change what it gets.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from goimage.core import plan as plans
from goimage.core import spec as specs

NAMESPACE = "team-a"
NAME = "gitback"
UID = "0b6c3c55-7f4e-4f0e-9a51-3d6a2f7e8c01"
GIT_URL = "https://github.com/flarexes/gitback.git"
IMAGE = "registry.example.com/team/gitback"
COMMIT = "4f1c2b3a5d6e7f8091a2b3c4d5e6f708192a3b4c"

# A marker for `with_values`: remove the key instead of setting it.
DELETE = object()


def minimal_spec() -> dict[str, Any]:
    """The least a user writes: a git URL and an output image."""
    return {"source": {"git": {"url": GIT_URL}}, "output": {"image": IMAGE}}


def with_values(raw: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `raw` with dotted paths ("runtime.image") set, or removed with DELETE."""
    result = copy.deepcopy(dict(raw))
    for path, value in values.items():
        *parents, last = path.split(".")
        node = result
        for key in parents:
            node = node.setdefault(key, {})
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = copy.deepcopy(value)
    return result


def spec_with(values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return with_values(minimal_spec(), values or {})


def parse(values: Mapping[str, Any] | None = None) -> specs.BuildSpec:
    return specs.parse_spec(spec_with(values))


def body(
    spec: Mapping[str, Any] | None = None,
    *,
    name: str = NAME,
    namespace: str = NAMESPACE,
    uid: str = UID,
    generation: int = 3,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A GoImageBuild as the API server returns it."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid,
        "generation": generation,
        "creationTimestamp": "2025-11-20T10:00:00Z",
    }
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "goimage.dev/v1alpha1",
        "kind": "GoImageBuild",
        "metadata": metadata,
        "spec": copy.deepcopy(dict(spec)) if spec is not None else minimal_spec(),
    }


def plan(values: Mapping[str, Any] | None = None, **body_args: Any) -> plans.BuildPlan:
    return plans.plan_build(body(spec_with(values), **body_args))


def full_spec() -> dict[str, Any]:
    """Every optional field of the API set, as a user who reads the docs would."""
    return {
        "source": {
            "git": {"url": GIT_URL, "revision": "main", "secretRef": {"name": "git-auth"}},
            "contextDir": "services/gitback",
        },
        "go": {
            "version": "1.25",
            "package": "./cmd/gitback",
            "binaryName": "gitback",
            "ldflags": "-s -w -X main.version=1.2.3",
            "tags": ["netgo", "osusergo"],
            "env": [
                {"name": "GOPROXY", "value": "https://proxy.golang.org,direct"},
                {"name": "GOPRIVATE", "value": "github.com/flarexes/*"},
                {"name": "GOFLAGS", "value": "-mod=readonly"},
            ],
        },
        "runtime": {
            "image": "gcr.io/distroless/static-debian12:nonroot",
            "user": "10001:10001",
            "args": ["serve", "--listen=:8080"],
            "env": [{"name": "GITBACK_HOME", "value": "/data"}],
            "ports": [9090, 8080],
            "labels": {
                "org.opencontainers.image.licenses": "Apache-2.0",
                "team": "platform",
            },
        },
        "output": {
            "image": IMAGE,
            "tags": ["v1.2.3", "latest"],
            "pushSecretRef": {"name": "regcred"},
            "maxSize": "30Mi",
        },
        "builder": {
            "image": "gcr.io/kaniko-project/executor:v1.23.2",
            "timeout": "45m",
            "cache": {"enabled": True, "repo": "registry.example.com/cache/gitback"},
            "resources": {
                "requests": {"cpu": "500m", "memory": "1Gi"},
                "limits": {"memory": "4Gi"},
            },
            "serviceAccountName": "builder",
            "nodeSelector": {"kubernetes.io/arch": "amd64", "pool": "builds"},
            "tolerations": [
                {"key": "builds", "operator": "Exists", "effect": "NoSchedule"},
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
            ],
            "registryMirrors": ["mirror.gcr.io"],
        },
    }
