"""Multi-platform images by Go cross-compilation on the real node: examples/uuidgen for
linux/amd64 and linux/arm64, built on this amd64 node without emulation. The registry
serves one OCI image index with both; each platform's config names its architecture; the
arm64 image's binary is a static aarch64 ELF (its header read here); the amd64 image runs;
the status names what the registry serves; the same commit gives the same index digest.
"""

from __future__ import annotations

import json
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from testkit import commands
from testkit.examples import example_spec
from testkit.kubectl import Kubectl
from testkit.node import Cluster
from testkit.paths import TOOLS_BIN
from tests.e2e.e2e_helpers import get_json, manifest_size, publish, run_pod, settle

from goimage.core import buildinfo

PLATFORMS = ["linux/amd64", "linux/arm64"]


@dataclass
class MultiBuild:
    name: str
    namespace: str
    status: dict[str, Any]
    seconds: float


@pytest.fixture(scope="module")
def two_platforms(
    operator: str, cluster: Cluster, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MultiBuild]:
    namespace = f"e2e-multiarch-{int(time.time())}"
    name = f"multi-{int(time.time())}"
    kubectl("create", "namespace", namespace)
    publish(cluster, tmp_path_factory.mktemp("repos"), "uuidgen", name)
    body = example_spec("uuidgen", cluster, name, **{"output.platforms": PLATFORMS})
    started = time.monotonic()
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))
    status = settle(kubectl, namespace, [name])[name]
    try:
        yield MultiBuild(name, namespace, status, time.monotonic() - started)
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def binary_of(reference: str, tmp: Path, cluster: Cluster) -> bytes:
    """The program's file (the image's entrypoint) from its flattened filesystem."""
    config = json.loads(cluster.crane("config", reference))
    binary = config["config"]["Entrypoint"][0].lstrip("/")
    exported = tmp / f"{reference.rsplit(':', 1)[-1]}.tar"
    command = [str(TOOLS_BIN / "crane"), "--insecure", "export", reference, str(exported)]
    commands.run(command, timeout=120)
    with tarfile.open(exported) as tar:
        member = tar.extractfile(binary)
        assert member is not None, f"{reference} has no {binary}"
        return member.read()


def test_the_registry_serves_an_index_of_both_platforms(
    two_platforms: MultiBuild, cluster: Cluster
) -> None:
    status = two_platforms.status
    assert status["phase"] == "Succeeded", status
    repository = status["image"].split("@")[0]
    for tag in status["tags"]:
        assert cluster.crane("digest", f"{repository}:{tag}") == status["digest"], tag
    index = json.loads(cluster.crane("manifest", status["image"]))
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json", index
    served = {
        f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"]
        for m in index["manifests"]
    }
    assert list(served) == PLATFORMS
    # status.platforms: each platform's digest and size, as the registry serves them.
    assert [p["platform"] for p in status["platforms"]] == PLATFORMS
    for entry in status["platforms"]:
        assert entry["digest"] == served[entry["platform"]]
        assert entry["size"] == manifest_size(cluster, f"{repository}@{entry['digest']}")
    assert status["size"] == max(p["size"] for p in status["platforms"])


def test_each_config_names_its_architecture(two_platforms: MultiBuild, cluster: Cluster) -> None:
    repository = two_platforms.status["image"].split("@")[0]
    for entry in two_platforms.status["platforms"]:
        config = json.loads(cluster.crane("config", f"{repository}@{entry['digest']}"))
        assert f"{config['os']}/{config['architecture']}" == entry["platform"]


def test_the_arm64_binary_is_a_static_aarch64_elf(
    two_platforms: MultiBuild, cluster: Cluster, tmp_path: Path
) -> None:
    repository = two_platforms.status["image"].split("@")[0]
    for entry in two_platforms.status["platforms"]:
        data = binary_of(f"{repository}@{entry['digest']}", tmp_path, cluster)
        elf = buildinfo.elf_info(data)
        expected = entry["platform"].split("/")[1]
        assert elf.arch == expected, (entry["platform"], elf)
        assert elf.static, (entry["platform"], elf)
    arm64 = next(p for p in two_platforms.status["platforms"] if p["platform"] == "linux/arm64")
    header = binary_of(f"{repository}@{arm64['digest']}", tmp_path, cluster)[:20]
    # e_ident: ELF, 64-bit (2), little-endian (1); e_machine 183 = EM_AARCH64.
    assert header[:4] == b"\x7fELF"
    assert (header[4], header[5]) == (2, 1)
    assert int.from_bytes(header[18:20], "little") == 183


def test_the_amd64_image_runs(two_platforms: MultiBuild, kubectl: Kubectl) -> None:
    phase, log = run_pod(
        kubectl, two_platforms.namespace, f"{two_platforms.name}-run", two_platforms.status["image"]
    )
    assert phase == "Succeeded"
    assert log.strip() == "uuid(goimage-operator) = be683a70-2ec4-5b9c-b266-48c8c6a8045e"


def test_the_same_commit_gives_the_same_index_digest(
    two_platforms: MultiBuild, kubectl: Kubectl
) -> None:
    build = two_platforms
    kubectl("annotate", "--overwrite", "-n", build.namespace, "gib", build.name,
            "goimage.dev/rebuild=same-commit")  # fmt: skip
    deadline = time.monotonic() + 60
    while (
        get_json(kubectl, "gib", build.name, "-n", build.namespace)["status"].get("jobName")
        == build.status["jobName"]
    ):
        assert time.monotonic() < deadline, "the rebuild did not start"
        time.sleep(1)
    again = settle(kubectl, build.namespace, [build.name])[build.name]
    assert again["phase"] == "Succeeded", again
    assert again["digest"] == build.status["digest"]
    assert again["platforms"] == build.status["platforms"]
