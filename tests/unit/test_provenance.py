"""provenance: SLSA v1 provenance in an in-toto Statement v1, parsed by in-toto's own protobufs."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement
from tests.unit import factories

from goimage.core import provenance
from goimage.core.settings import Settings

REPOSITORY = "registry.example.com/team/gitback"
DIGEST = "sha256:" + "ab" * 32
GOLANG = provenance.Image("golang:1.26-alpine", "sha256:" + "01" * 32)
RUNTIME = provenance.Image("gcr.io/distroless/static-debian12", "sha256:" + "02" * 32)
KANIKO = provenance.Image("ghcr.io/osscontainertools/kaniko:v1.28.0", "sha256:" + "03" * 32)
SETTINGS = Settings(
    registry_mirrors=("mirror.local:5000",), insecure_registries=("mirror.local:5000",)
)
_HEX_DIGESTS = {"sha256": 64, "sha512": 128, "gitCommit": 40, "sha1": 40}


def make(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "repository": REPOSITORY,
        "digest": DIGEST,
        "namespace": factories.NAMESPACE,
        "name": factories.NAME,
        "build": "3",
        "spec": factories.full_spec(),
        "source_url": factories.GIT_URL,
        "commit": factories.COMMIT,
        "builder_image": GOLANG,
        "runtime_image": RUNTIME,
        "operator_version": "0.1.0",
        "internal": provenance.internal_parameters(SETTINGS),
        "kaniko_image": KANIKO,
        "started": 1_700_000_000,
        "finished": 1_700_000_095,
        **overrides,
    }
    return provenance.statement(**arguments)


def _descriptor(message: Any, where: str) -> None:
    descriptor = ResourceDescriptor.copy_from_pb(message)
    descriptor.validate()
    for algorithm, value in message.digest.items():
        if algorithm in _HEX_DIGESTS:
            assert re.fullmatch(f"[0-9a-f]{{{_HEX_DIGESTS[algorithm]}}}", value), where


def validate(document: dict[str, Any]) -> None:
    """in-toto's Statement v1 and SLSA Provenance v1 protobufs, strict about field names.

    Plus what the SLSA v1 spec requires and in-toto's Go validators check
    (the Python package has none for the predicate): buildType,
    externalParameters and builder.id set, every resource descriptor with a
    name, uri or digest, digests in hex, finishedOn not before startedOn.
    """
    data = json.loads(provenance.to_json(document))
    message = json_format.ParseDict(data, statement_pb2.Statement())
    Statement.copy_from_pb(message).validate()
    for subject in message.subject:
        _descriptor(subject, "subject")
    assert message.predicate_type == "https://slsa.dev/provenance/v1"
    predicate = json_format.ParseDict(data["predicate"], provenance_pb2.Provenance())
    definition = predicate.build_definition
    assert definition.build_type
    assert definition.external_parameters.fields
    for dependency in definition.resolved_dependencies:
        _descriptor(dependency, "resolvedDependencies")
    for dependency in predicate.run_details.builder.builder_dependencies:
        _descriptor(dependency, "builderDependencies")
    assert predicate.run_details.builder.id
    metadata = predicate.run_details.metadata
    if metadata.HasField("started_on") and metadata.HasField("finished_on"):
        assert metadata.finished_on.ToSeconds() >= metadata.started_on.ToSeconds()
    # Written back by protobuf, the JSON is the same: every field was known.
    assert json_format.MessageToDict(message) == data


def test_valid_statement() -> None:
    validate(make())
    validate(make(runtime_image=None, kaniko_image=None, started=None, finished=None))


def test_contents() -> None:
    document = make()
    assert document["_type"] == "https://in-toto.io/Statement/v1"
    assert document["subject"] == [{"name": REPOSITORY, "digest": {"sha256": "ab" * 32}}]
    definition = document["predicate"]["buildDefinition"]
    assert definition["buildType"] == "https://goimage.dev/GoImageBuild/v1"
    assert definition["externalParameters"] == {
        "goImageBuild": {"namespace": factories.NAMESPACE, "name": factories.NAME},
        "spec": factories.full_spec(),
    }
    assert definition["internalParameters"] == {
        "kanikoImage": SETTINGS.kaniko_image,
        "registryMirrors": ["mirror.local:5000"],
        "registryMaps": [],
        "insecureRegistries": ["mirror.local:5000"],
    }
    source, golang, runtime = definition["resolvedDependencies"]
    assert source == {
        "uri": f"git+{factories.GIT_URL}",
        "digest": {"gitCommit": factories.COMMIT},
        "annotations": {"goimage.dev/role": "source"},
    }
    assert golang == {
        "name": "golang:1.26-alpine",
        "digest": {"sha256": "01" * 32},
        "annotations": {"goimage.dev/role": "builder"},
    }
    assert runtime["digest"] == {"sha256": "02" * 32}
    run = document["predicate"]["runDetails"]
    assert run["builder"]["id"] == "https://goimage.dev/goimage-operator@v0.1.0"
    assert run["builder"]["version"] == {"goimage-operator": "0.1.0"}
    assert run["builder"]["builderDependencies"][0]["name"] == KANIKO.reference
    assert run["metadata"] == {
        "invocationId": f"{factories.NAMESPACE}/{factories.NAME}/3",
        "startedOn": "2023-11-14T22:13:20Z",
        "finishedOn": "2023-11-14T22:14:55Z",
    }


def test_scratch_has_no_runtime_image() -> None:
    definition = make(runtime_image=None)["predicate"]["buildDefinition"]
    roles = [d["annotations"]["goimage.dev/role"] for d in definition["resolvedDependencies"]]
    assert roles == ["source", "builder"]


def test_platform_images_are_subjects_too() -> None:
    document = make(platform_digests=("sha256:" + "0a" * 32, "sha256:" + "0b" * 32))
    validate(document)
    assert [s["digest"]["sha256"] for s in document["subject"]] == ["ab" * 32, "0a" * 32, "0b" * 32]


def test_deterministic() -> None:
    assert provenance.to_json(make()) == provenance.to_json(make())
    assert provenance.to_json(make()).endswith(b"}\n")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"commit": "main"}, "not a full commit id"),
        ({"commit": factories.COMMIT[:12]}, "not a full commit id"),
        ({"digest": "sha256:short"}, "the image: not a sha256 digest"),
        ({"builder_image": provenance.Image("golang:1.26", "latest")}, "the builder image"),
        ({"platform_digests": ("nope",)}, "a platform image"),
    ],
)
def test_refusals(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(provenance.ProvenanceError, match=message):
        make(**overrides)
