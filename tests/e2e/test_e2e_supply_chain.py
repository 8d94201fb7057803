"""The SBOM and the provenance of a real build, read back from the node's registry.

examples/uuidgen is built through the operator. Its image then has two referrers in the
node's registry (CNCF Distribution with the OCI referrers API, at cluster.registry over
plain HTTP): the SPDX SBOM lists github.com/google/uuid at the version examples/uuidgen's
go.mod requires, and the Go version; the SLSA provenance names the commit the node's git
server holds and the golang image's digest. status.sbom and status.provenance name those
very artifacts.
"""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

import pytest
from testkit.examples import example_spec
from testkit.kubectl import Kubectl
from testkit.node import Cluster
from testkit.paths import EXAMPLES
from tests.e2e.e2e_helpers import assert_status_matches_registry, publish, settle

from goimage.core import sbom

SPDX = "application/spdx+json"
IN_TOTO = "application/vnd.in-toto+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _get(url: str, accept: str = "") -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return bytes(response.read())


def required_version(module: str) -> str:
    """The version examples/uuidgen's go.mod requires of `module`."""
    go_mod = (EXAMPLES / "uuidgen" / "go.mod").read_text()
    found = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", go_mod, re.MULTILINE)
    assert found, go_mod
    return found.group(1)


def document(cluster: Cluster, repo: str, digest: str) -> dict[str, Any]:
    """The document an artifact carries: its manifest's one layer."""
    manifest = json.loads(
        _get(f"http://{cluster.registry}/v2/{repo}/manifests/{digest}", OCI_MANIFEST)
    )
    (layer,) = manifest["layers"]
    blob: dict[str, Any] = json.loads(
        _get(f"http://{cluster.registry}/v2/{repo}/blobs/{layer['digest']}")
    )
    return blob


def test_uuidgen_has_its_sbom_and_provenance_as_referrers(
    operator: str,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    git_repo: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    commit = publish(cluster, tmp_path_factory.mktemp("repo"), "uuidgen", git_repo)
    body = example_spec("uuidgen", cluster, git_repo)
    name = body["metadata"]["name"] = git_repo
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))
    status = settle(kubectl, namespace, [name])[name]
    assert_status_matches_registry(cluster, status)
    repository = status["image"].split("@")[0]
    repo = repository.removeprefix(f"{cluster.registry}/")

    # The referrers API of the registry: the two artifacts whose subject is the image.
    index = json.loads(
        _get(f"http://{cluster.registry}/v2/{repo}/referrers/{status['digest']}", OCI_INDEX)
    )
    found = {m["artifactType"]: m["digest"] for m in index["manifests"]}
    assert found == {SPDX: status["sbom"]["digest"], IN_TOTO: status["provenance"]["digest"]}
    assert status["sbom"]["mediaType"] == SPDX

    spdx = document(cluster, repo, found[SPDX])
    assert spdx["spdxVersion"] == "SPDX-2.3"
    modules = {row.name: row.version for row in sbom.modules(spdx)}
    assert modules["github.com/google/uuid"] == required_version("github.com/google/uuid")
    assert re.fullmatch(r"go1\.\d+(\.\d+)?", modules["stdlib"]), modules
    image_package = spdx["packages"][0]
    assert image_package["versionInfo"] == status["digest"]

    statement = document(cluster, repo, found[IN_TOTO])
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert statement["subject"][0]["digest"]["sha256"] == status["digest"].removeprefix("sha256:")
    dependencies = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    by_role = {d["annotations"]["goimage.dev/role"]: d for d in dependencies}
    assert by_role["source"]["digest"] == {"gitCommit": commit}
    golang = cluster.crane("digest", "--platform=linux/amd64", cluster.golang_image)
    assert by_role["builder"]["digest"] == {"sha256": golang.removeprefix("sha256:")}
    assert (
        statement["predicate"]["buildDefinition"]["externalParameters"]["spec"]["output"]["image"]
        == repository
    )
