"""Names, labels and annotation keys of everything the operator makes, in one place.

A build is one (generation, rebuild token) pair of a GoImageBuild. Its Job and
its ConfigMap share one deterministic name derived from that pair, so a
restarted operator finds the build it already started instead of starting
another: the API server's AlreadyExists is the lock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

GROUP = "goimage.dev"
VERSION = "v1alpha1"
PLURAL = "goimagebuilds"
KIND = "GoImageBuild"
API_VERSION = f"{GROUP}/{VERSION}"

MANAGED_BY = "goimage-operator"

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_BUILD_NAME = f"{GROUP}/goimagebuild"
LABEL_BUILD_UID = f"{GROUP}/goimagebuild-uid"
LABEL_GENERATION = f"{GROUP}/generation"
LABEL_BUILD_ID = f"{GROUP}/build-id"

ANNOTATION_REBUILD = f"{GROUP}/rebuild"
ANNOTATION_IMAGE = f"{GROUP}/image"
ANNOTATION_TAGS = f"{GROUP}/tags"
ANNOTATION_MAX_SIZE = f"{GROUP}/max-size"
# The uid of a build's ConfigMap, recorded on its Job: deleted with it as a precondition.
ANNOTATION_CONFIGMAP_UID = f"{GROUP}/configmap-uid"
# A build Job's record of its source: the commit it builds (the poll compares the
# branch's head with it, so "is this commit new?" survives an operator restart),
# the revision as the spec asked, and the repository (no credentials: the spec refuses them).
ANNOTATION_COMMIT = f"{GROUP}/commit"
ANNOTATION_REVISION = f"{GROUP}/revision"
ANNOTATION_SOURCE_URL = f"{GROUP}/source-url"
ANNOTATION_REF = f"{GROUP}/ref"

# app.kubernetes.io/component of what the operator makes: a build's Job, Pod and
# ConfigMap, or a resolve Job and its Pod (a private repository's commit).
COMPONENT_BUILD = "build"
COMPONENT_RESOLVE = "resolve"

# Container names in the build pod; status reads their terminated states.
CONTAINER_BUILD = "build"
CONTAINER_REPORT = "report"
# Several platforms: init containers build-<os>-<arch>[-<variant>], then publish.
CONTAINER_PUBLISH = "publish"
# ... and before them pin-builder, which pins the builder image to the node's platform.
CONTAINER_PIN_BUILDER = "pin-builder"

# How much of a commit a poll build's id carries (`<build id>-c<10 hex>`).
POLL_COMMIT_CHARS = 10

# Job names become a label value on their pods: 63 characters at most.
_MAX_NAME = 63
_HASH_LEN = 8


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def build_id(generation: int, rebuild_token: str) -> str:
    """The build's identity: the generation, plus a hash of the rebuild annotation if set."""
    if not rebuild_token:
        return str(generation)
    return f"{generation}-{_digest(rebuild_token, 6)}"


def build_object_name(resource_name: str, build: str) -> str:
    """Name shared by a build's Job and ConfigMap: `<resource>-<build id>`, within 63 chars."""
    suffix = f"-{build}"
    if len(resource_name) + len(suffix) <= _MAX_NAME:
        return resource_name + suffix
    keep = _MAX_NAME - len(suffix) - _HASH_LEN - 1
    short = resource_name[:keep].rstrip("-.")
    return f"{short}-{_digest(resource_name, _HASH_LEN)}{suffix}"


def label_value(text: str) -> str:
    """A label value for a name that may be longer than a label allows."""
    if len(text) <= _MAX_NAME:
        return text
    return f"{text[: _MAX_NAME - _HASH_LEN - 1].rstrip('-.')}-{_digest(text, _HASH_LEN)}"


def owner_selector(resource_name: str) -> str:
    return f"{LABEL_BUILD_NAME}={label_value(resource_name)}"


def child_labels(resource_name: str, uid: str, generation: int, build: str) -> dict[str, str]:
    """Labels on every child (Job, Pod, ConfigMap) that link it to its GoImageBuild."""
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_COMPONENT: COMPONENT_BUILD,
        LABEL_BUILD_NAME: label_value(resource_name),
        LABEL_BUILD_UID: uid,
        LABEL_GENERATION: str(generation),
        LABEL_BUILD_ID: build,
    }


def is_poll_build_of(build: str, base: str) -> bool:
    """Whether `build` is a build that a poll started for the build `base` (same generation
    and rebuild token, a newer commit): `<base>-c<10 hex>` (`source.poll_build_id`)."""
    suffix = build.removeprefix(f"{base}-c")
    return (
        build.startswith(f"{base}-c")
        and len(suffix) == POLL_COMMIT_CHARS
        and all(c in "0123456789abcdef" for c in suffix)
    )


def in_build_family(build: str, base: str) -> bool:
    """Whether `build` builds what `base` asks for: `base` itself, or a poll's build of it."""
    return build == base or is_poll_build_of(build, base)


def rebuild_token(annotations: Mapping[str, str] | None) -> str:
    return (annotations or {}).get(ANNOTATION_REBUILD, "")


def owner_reference(resource_name: str, uid: str) -> dict[str, object]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": resource_name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_uid(metadata: Mapping[str, object]) -> str | None:
    """The uid of the object's controller (its ownerReference with controller: true)."""
    references = metadata.get("ownerReferences") or []
    assert isinstance(references, list)
    for reference in references:
        if isinstance(reference, Mapping) and reference.get("controller"):
            return str(reference.get("uid"))
    return None
