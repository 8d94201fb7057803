"""The tables `kubectl gib sbom` and `kubectl gib provenance` print, from small valid
documents made here: an SPDX 2.3 SBOM and an in-toto Statement v1 with a SLSA v1 predicate."""

from __future__ import annotations

import base64
import json
from typing import Any

from goimage.plugin import documents

UUID_PURL = "pkg:golang/github.com/google/uuid@v1.6.0"


def spdx() -> dict[str, Any]:
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "uuidgen",
        "documentNamespace": "https://goimage.dev/spdx/uuidgen-1",
        "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: goimage-operator"]},
        "packages": [
            {
                "SPDXID": "SPDXRef-main",
                "name": "example.com/uuidgen",
                "versionInfo": "(devel)",
                "downloadLocation": "NOASSERTION",
            },
            {
                "SPDXID": "SPDXRef-uuid",
                "name": "github.com/google/uuid",
                "versionInfo": "v1.6.0",
                "downloadLocation": "NOASSERTION",
                "checksums": [{"algorithm": "SHA256", "checksumValue": "ab12"}],
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": UUID_PURL,
                    }
                ],
            },
        ],
    }


def statement() -> dict[str, Any]:
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "registry.example/team/uuidgen", "digest": {"sha256": "cd34"}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://goimage.dev/GoImageBuild/v1",
                "externalParameters": {
                    "spec": {
                        "source": {"git": {"url": "https://git.example/uuidgen.git"}},
                        "output": {"tags": ["latest", "v1"]},
                        "go": {"tags": []},
                    }
                },
                "resolvedDependencies": [
                    {
                        "uri": "git+https://git.example/uuidgen.git@refs/heads/main",
                        "digest": {"gitCommit": "0123abcd"},
                    },
                    {"uri": "docker.io/library/golang:1.26", "digest": {"sha256": "ef56"}},
                ],
            },
            "runDetails": {
                "builder": {"id": "https://goimage.dev/operator@0.1.0"},
                "metadata": {
                    "invocationId": "team-a/uuidgen/3",
                    "startedOn": "2026-01-01T00:00:00Z",
                },
            },
        },
    }


def test_sbom_table() -> None:
    assert documents.sbom_table(spdx()) == (
        "DOCUMENT: uuidgen (SPDX-2.3)\n"
        "CREATED:  2026-01-01T00:00:00Z by Tool: goimage-operator\n"
        "\n"
        "NAME                     VERSION   PURL                                       CHECKSUM\n"
        "example.com/uuidgen      (devel)   -                                          -\n"
        f"github.com/google/uuid   v1.6.0    {UUID_PURL}   SHA256:ab12\n"
    )


def test_provenance_table() -> None:
    assert documents.provenance_table(statement()) == (
        "PREDICATE:     https://slsa.dev/provenance/v1\n"
        "BUILDER:       https://goimage.dev/operator@0.1.0\n"
        "BUILD TYPE:    https://goimage.dev/GoImageBuild/v1\n"
        "SUBJECT:       registry.example/team/uuidgen@sha256:cd34\n"
        "SOURCE COMMIT: 0123abcd (git+https://git.example/uuidgen.git@refs/heads/main)\n"
        "INVOCATION:    team-a/uuidgen/3\n"
        "STARTED:       2026-01-01T00:00:00Z\n"
        "FINISHED:      -\n"
        "\n"
        "RESOLVED DEPENDENCIES\n"
        "URI                                                   DIGEST\n"
        "git+https://git.example/uuidgen.git@refs/heads/main   gitCommit:0123abcd\n"
        "docker.io/library/golang:1.26                         sha256:ef56\n"
        "\n"
        "EXTERNAL PARAMETERS (4)\n"
        "PARAMETER             VALUE\n"
        "spec.source.git.url   https://git.example/uuidgen.git\n"
        "spec.output.tags[0]   latest\n"
        "spec.output.tags[1]   v1\n"
        "spec.go.tags          []\n"
    )


def test_many_external_parameters_are_summarised() -> None:
    body = statement()
    body["predicate"]["buildDefinition"]["externalParameters"] = {
        "env": [{"name": f"V{i}", "value": "x" * 100} for i in range(15)]
    }
    text = documents.provenance_table(body)
    assert "EXTERNAL PARAMETERS (30)" in text
    assert text.endswith("... 10 more (-o json shows all)\n")
    assert f"env[0].value   {'x' * 77}...\n" in text


def test_a_dsse_envelope_is_opened_to_its_statement() -> None:
    raw = json.dumps(statement()).encode()
    envelope = {
        "payloadType": "application/vnd.in-toto+json",
        "payload": base64.b64encode(raw).decode(),
        "signatures": [{"sig": "c2ln"}],
    }
    assert documents.parse_document(json.dumps(envelope).encode()) == statement()
    assert documents.parse_document(raw) == statement()
