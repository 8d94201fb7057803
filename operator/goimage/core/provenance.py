"""The provenance of an image: a SLSA v1 provenance predicate in an in-toto Statement v1.

It answers "who built this image, from what, and how": the subject is the
image (repository and manifest digest); the build definition has our build
type, the GoImageBuild spec as the external parameters (what the tenant
controls), the operator settings that shaped the build as internal ones
(Kaniko image, registry mirrors and maps, insecure registries), and as
resolved dependencies the git source at its commit and the base images at
their digests (the golang builder stage and the runtime stage; none for
scratch). The run details name the builder, `goimage-operator` at its
version, and the invocation (namespace/name/build).

The shapes follow the in-toto Statement v1 and SLSA Provenance v1 specs
(`_type`, `subject`, `predicateType`, `predicate.buildDefinition`,
`predicate.runDetails`; ResourceDescriptor fields name, uri, digest,
annotations); the unit tests parse the result with in-toto's own protobuf
definitions of both. Like the SBOM, deterministic: the same inputs give the
same bytes, and times are inputs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from goimage.core.settings import Settings

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://goimage.dev/GoImageBuild/v1"
BUILDER_ID = "https://goimage.dev/goimage-operator"
MEDIA_TYPE = "application/vnd.in-toto+json"
ROLE_ANNOTATION = "goimage.dev/role"
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")  # SHA-1 or SHA-256 repositories


class ProvenanceError(ValueError):
    """The inputs cannot make a provenance statement (a malformed digest or commit)."""


@dataclass(frozen=True)
class Image:
    reference: str  # as the build named it: "golang:1.26-alpine", "gcr.io/distroless/static"
    digest: str  # sha256:... that the reference resolved to when the build ran


def _hex(digest: str, what: str) -> str:
    found = _DIGEST.match(digest)
    if found is None:
        raise ProvenanceError(f"{what}: not a sha256 digest: {digest!r}")
    return found.group(1)


def _timestamp(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _image_descriptor(image: Image, role: str) -> dict[str, Any]:
    return {
        "name": image.reference,
        "digest": {"sha256": _hex(image.digest, f"the {role} image")},
        "annotations": {ROLE_ANNOTATION: role},
    }


def internal_parameters(settings: Settings) -> dict[str, Any]:
    """The operator settings that shape a build and are not the tenant's to choose."""
    return {
        "kanikoImage": settings.kaniko_image,
        "registryMirrors": list(settings.registry_mirrors),
        "registryMaps": list(settings.registry_maps),
        "insecureRegistries": list(settings.insecure_registries),
    }


def statement(
    *,
    repository: str,
    digest: str,
    namespace: str,
    name: str,
    build: str,
    spec: Mapping[str, Any],
    source_url: str,
    commit: str,
    builder_image: Image,
    runtime_image: Image | None,
    operator_version: str,
    internal: Mapping[str, Any],
    kaniko_image: Image | None = None,
    platform_digests: Sequence[str] = (),
    started: int | None = None,
    finished: int | None = None,
) -> dict[str, Any]:
    """The in-toto Statement of the image `repository@digest`.

    `spec` is the GoImageBuild's spec as the API server holds it; `source_url`
    its git URL without credentials and `commit` the full commit built;
    `builder_image` the golang image and `runtime_image` the runtime base
    (None for scratch), each with the digest it resolved to; `internal` is
    `internal_parameters(settings)`; `kaniko_image`, when its digest is known,
    is listed as the builder's own dependency. A multi-platform image's
    `digest` is its index and `platform_digests` its platform images, which
    become subjects too. `started` and `finished` are seconds since the epoch.
    """
    if not _COMMIT.match(commit):
        raise ProvenanceError(f"not a full commit id: {commit!r}")
    subjects = [{"name": repository, "digest": {"sha256": _hex(digest, "the image")}}]
    for platform_digest in platform_digests:
        subjects.append(
            {"name": repository, "digest": {"sha256": _hex(platform_digest, "a platform image")}}
        )
    dependencies: list[dict[str, Any]] = [
        {
            "uri": f"git+{source_url}",
            "digest": {"gitCommit": commit},
            "annotations": {ROLE_ANNOTATION: "source"},
        },
        _image_descriptor(builder_image, "builder"),
    ]
    if runtime_image is not None:
        dependencies.append(_image_descriptor(runtime_image, "runtime"))
    builder: dict[str, Any] = {
        "id": f"{BUILDER_ID}@v{operator_version}",
        "version": {"goimage-operator": operator_version},
    }
    if kaniko_image is not None:
        builder["builderDependencies"] = [_image_descriptor(kaniko_image, "kaniko")]
    metadata: dict[str, Any] = {"invocationId": f"{namespace}/{name}/{build}"}
    if started is not None:
        metadata["startedOn"] = _timestamp(started)
    if finished is not None:
        metadata["finishedOn"] = _timestamp(finished)
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "goImageBuild": {"namespace": namespace, "name": name},
                    "spec": dict(spec),
                },
                "internalParameters": dict(internal),
                "resolvedDependencies": dependencies,
            },
            "runDetails": {"builder": builder, "metadata": metadata},
        },
    }


def to_json(document: Mapping[str, Any]) -> bytes:
    """The statement's bytes: sorted keys, two-space indent, UTF-8, a final newline."""
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
