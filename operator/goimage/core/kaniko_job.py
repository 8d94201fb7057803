"""The Kaniko Job of one build.

The pod has two steps. The init container `build` is Kaniko: it clones the
git context, builds the Dockerfile mounted from the ConfigMap, pushes every
tag, and writes the image (digest file, OCI layout) into a shared emptyDir.
The container `report` then reads that output and writes the digest and size
as its termination message, which is all the operator reads: it never talks
to the registry or to git, and never reads a Secret. Credentials reach Kaniko
as a mounted docker config and as env vars from secretKeyRefs.
"""

from __future__ import annotations

import json
from typing import Any

from goimage.core import naming
from goimage.core.configmap import DOCKERFILE_KEY
from goimage.core.plan import BuildPlan
from goimage.core.policy import PodPlacement, pod_placement
from goimage.core.settings import Settings
from goimage.core.spec import BuildSpec, GitSource

OUTPUT_DIR = "/goimage/out"
DIGEST_FILE = f"{OUTPUT_DIR}/digest"
OCI_LAYOUT = f"{OUTPUT_DIR}/oci"
DOCKERFILE_DIR = "/goimage/dockerfile"
DOCKER_CONFIG_DIR = "/kaniko/.docker"
# The reporter runs as the operator image's non-root user.
REPORTER_UID = 65532

# Kaniko runs as root in its container: it unpacks base images with their
# files' owners and modes, and runs the Dockerfile's RUN steps in that tree.
# Of root's capabilities it keeps only these three (seccomp RuntimeDefault, no
# privilege escalation). Found by real builds of examples/hello (scratch) and
# examples/uuidgen (distroless, modules) on the test node, each with one
# capability dropped at a time (Kaniko v1.24.0):
#   CHOWN         without it: "failed to get filesystem from image: chown
#                 /etc/gshadow: operation not permitted" (unpacking golang)
#   DAC_OVERRIDE  without it: "could not save file: copying file: mkdir
#                 /kaniko/0/out: permission denied"
#   FOWNER        without it: "chmod /home/nonroot: operation not permitted"
#                 (unpacking distroless; the scratch build passes)
# FSETID, SETUID and SETGID were dropped with both builds passing and pushing
# the very digests they push with them. SETUID/SETGID would be needed only by
# a RUN step under a non-root USER: the template sets USER after every RUN, so
# the builder image must run as root (golang images do). Without FSETID a RUN
# step that sets a set-group-ID bit on a file of a group other than root's
# (rare in Alpine packages) loses that bit.
KANIKO_CAPABILITIES = ("CHOWN", "DAC_OVERRIDE", "FOWNER")

_VOLUME_OUTPUT = "goimage-output"
_VOLUME_DOCKERFILE = "goimage-dockerfile"
_VOLUME_DOCKER_CONFIG = "goimage-docker-config"


def git_context(git: GitSource) -> tuple[str, list[str]]:
    """Kaniko's --context for a git source, and the extra flags the revision needs.

    Kaniko clones `git://host/path`, over https unless GIT_PULL_METHOD says
    http. A full ref or a commit goes in the URL fragment (a commit is checked
    out after cloning the default branch); a bare branch or tag name goes to
    `--git=branch=`, which Kaniko resolves against the remote as a branch first,
    then as a tag.
    """
    context = "git://" + git.url.split("://", 1)[1]
    revision = git.revision
    if not revision:
        return context, []
    if git.is_commit or revision.startswith("refs/"):
        return f"{context}#{revision}", []
    return context, [f"--git=branch={revision}"]


def registry_host(image: str) -> str:
    """The registry part of an image reference (Docker Hub when it has none)."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "index.docker.io"


def kaniko_args(spec: BuildSpec, settings: Settings) -> list[str]:
    context, git_flags = git_context(spec.source.git)
    args = [
        f"--dockerfile={DOCKERFILE_DIR}/{DOCKERFILE_KEY}",
        f"--context={context}",
        *git_flags,
    ]
    if spec.source.context_dir:
        args.append(f"--context-sub-path={spec.source.context_dir}")
    args += [f"--destination={spec.output.image}:{tag}" for tag in spec.output.tags]
    args += [
        f"--digest-file={DIGEST_FILE}",
        f"--oci-layout-path={OCI_LAYOUT}",
        # Timestamps stripped: the same commit gives the same digest.
        "--reproducible",
        "--log-format=text",
        "--push-retry=2",
        # Changed files found by mtime, size, mode and owner instead of by hashing every
        # file of the golang image after each RUN: seconds per RUN, same layers.
        "--snapshot-mode=redo",
    ]
    if spec.builder.cache.enabled:
        args += ["--cache=true", f"--cache-repo={spec.cache_repo}"]
    for mirror in dict.fromkeys((*spec.builder.registry_mirrors, *settings.registry_mirrors)):
        args.append(f"--registry-mirror={mirror}")
    args += [f"--registry-map={mapping}" for mapping in settings.registry_maps]
    insecure = list(settings.insecure_registries)
    if spec.output.insecure:
        args.append("--insecure")
        insecure.append(registry_host(spec.output.image))
    args += [f"--insecure-registry={host}" for host in dict.fromkeys(insecure)]
    return args


def _git_env(git: GitSource) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "GIT_PULL_METHOD", "value": git.url.split("://", 1)[0]},
    ]
    if git.secret_name:
        # Each key is optional: a Secret holds username+password, or a token.
        for variable, key in (
            ("GIT_USERNAME", "username"),
            ("GIT_PASSWORD", "password"),
            ("GIT_TOKEN", "token"),
        ):
            env.append(
                {
                    "name": variable,
                    "valueFrom": {
                        "secretKeyRef": {"name": git.secret_name, "key": key, "optional": True}
                    },
                }
            )
    return env


def _build_container(
    plan: BuildPlan, settings: Settings, placement: PodPlacement
) -> dict[str, Any]:
    spec = plan.spec
    mounts: list[dict[str, Any]] = [
        {"name": _VOLUME_DOCKERFILE, "mountPath": DOCKERFILE_DIR, "readOnly": True},
        {"name": _VOLUME_OUTPUT, "mountPath": OUTPUT_DIR},
    ]
    if spec.output.push_secret_name:
        mounts.append(
            {"name": _VOLUME_DOCKER_CONFIG, "mountPath": DOCKER_CONFIG_DIR, "readOnly": True}
        )
    container: dict[str, Any] = {
        "name": naming.CONTAINER_BUILD,
        "image": spec.builder.image or settings.kaniko_image,
        "args": kaniko_args(spec, settings),
        "env": _git_env(spec.source.git),
        "volumeMounts": mounts,
        # Root in its own container, but no privilege, no host path, no API
        # token, and of root's capabilities only those Kaniko needs.
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "capabilities": {"drop": ["ALL"], "add": list(KANIKO_CAPABILITIES)},
        },
        # On failure the kubelet puts the log's tail here: the compiler's
        # message, or git's, reaches the status without the operator reading logs.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if placement.resources:
        container["resources"] = {k: dict(v) for k, v in placement.resources.items()}
    return container


def _report_container(plan: BuildPlan, settings: Settings) -> dict[str, Any]:
    return {
        "name": naming.CONTAINER_REPORT,
        "image": settings.reporter_image,
        "command": ["goimage-operator", "report"],
        "args": [
            f"--oci-layout={OCI_LAYOUT}",
            f"--digest-file={DIGEST_FILE}",
            f"--image={plan.spec.output.image}",
        ],
        "volumeMounts": [{"name": _VOLUME_OUTPUT, "mountPath": OUTPUT_DIR, "readOnly": True}],
        "resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"},
            "limits": {"memory": "128Mi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": REPORTER_UID,
            "runAsGroup": REPORTER_UID,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def _volumes(plan: BuildPlan, settings: Settings) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = [
        {"name": _VOLUME_DOCKERFILE, "configMap": {"name": plan.object_name}},
        # The built image (OCI layout) for the report step; bounded like the
        # build container's own scratch (its ephemeral-storage limit).
        {"name": _VOLUME_OUTPUT, "emptyDir": {"sizeLimit": settings.output_size_limit}},
    ]
    if plan.spec.output.push_secret_name:
        volumes.append(
            {
                "name": _VOLUME_DOCKER_CONFIG,
                "secret": {
                    "secretName": plan.spec.output.push_secret_name,
                    "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
                },
            }
        )
    return volumes


def job_annotations(spec: BuildSpec) -> dict[str, str]:
    """What the status needs to know of the build, kept on the Job itself.

    The status of a build is then derived from its Job and Pod alone, even if
    the spec has changed since the build started.
    """
    annotations = {
        naming.ANNOTATION_IMAGE: spec.output.image,
        naming.ANNOTATION_TAGS: json.dumps(list(spec.output.tags)),
    }
    if spec.output.max_size is not None:
        annotations[naming.ANNOTATION_MAX_SIZE] = str(spec.output.max_size)
    return annotations


def build_kaniko_job(
    plan: BuildPlan, settings: Settings, placement: PodPlacement | None = None
) -> dict[str, Any]:
    """The build's Job; `placement` is what the governing policies force (none: the spec's)."""
    spec = plan.spec
    if placement is None:
        placement = pod_placement(spec, (), default_resources=settings.build_resources)
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 10,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [_build_container(plan, settings, placement)],
        "containers": [_report_container(plan, settings)],
        "volumes": _volumes(plan, settings),
    }
    if spec.builder.service_account_name:
        pod_spec["serviceAccountName"] = spec.builder.service_account_name
    if placement.runtime_class_name:
        pod_spec["runtimeClassName"] = placement.runtime_class_name
    if placement.node_selector:
        pod_spec["nodeSelector"] = dict(placement.node_selector)
    if placement.tolerations:
        pod_spec["tolerations"] = [
            {
                key: value
                for key, value in (
                    ("key", t.key),
                    ("operator", t.operator),
                    ("value", t.value),
                    ("effect", t.effect),
                    ("tolerationSeconds", t.toleration_seconds),
                )
                if value not in ("", None)
            }
            for t in placement.tolerations
        ]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": plan.object_name,
            "namespace": plan.namespace,
            "labels": plan.labels,
            "annotations": job_annotations(spec),
            "ownerReferences": [plan.owner],
        },
        "spec": {
            # A failed build is an answer, not a flake: never retry it blindly.
            "backoffLimit": 0,
            "activeDeadlineSeconds": spec.builder.timeout_seconds,
            "template": {"metadata": {"labels": plan.labels}, "spec": pod_spec},
        },
    }
