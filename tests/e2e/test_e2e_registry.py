"""The node's registry: CNCF Distribution with the OCI referrers API (cluster/tools/registry).

What the supply-chain and multi-architecture work stands on: the registry keeps what
it stores across a restart (its storage is on disk, in ``.cluster/registry``); an
artifact attached with ``oras attach`` to an image is listed by
``GET /v2/<name>/referrers/<digest>``; the static base image is an OCI index of
linux/amd64 and linux/arm64; and the operator's image carries the ``crane`` and
``oras`` its publish step runs, at the versions ``cluster/tools`` pins.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import signal
import tarfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from testkit import commands
from testkit.kubectl import Kubectl
from testkit.node import CLUSTER_DIR, SCRIPT, Cluster
from testkit.paths import CLUSTER_SCRIPTS, TOOLS_BIN
from tests.e2e.e2e_helpers import run_pod

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SBOM_TYPE = "application/spdx+json"
PIDS = CLUSTER_DIR / "pids"


def http_get(cluster: Cluster, path: str, accept: str = "") -> tuple[int, dict[str, str], bytes]:
    """One plain-HTTP GET of `path` from the node's registry: status, headers (lower-case
    names), body."""
    connection = http.client.HTTPConnection(cluster.registry, timeout=10)
    try:
        connection.request("GET", path, headers={"Accept": accept} if accept else {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def registry_answers(cluster: Cluster) -> bool:
    try:
        return http_get(cluster, "/v2/")[0] == 200
    except OSError:
        return False


def push_fresh_image(cluster: Cluster, tmp: Path, repository: str) -> str:
    """A one-layer image with content no other test has, tagged v1; its digest."""
    content = tmp / "fresh.txt"
    content.write_text(secrets.token_hex(16))
    layer = tmp / "layer.tar"
    with tarfile.open(layer, "w") as tar:
        tar.add(content, arcname="fresh.txt")
    cluster.crane("append", "--oci-empty-base", "-f", str(layer), "-t", f"{repository}:v1")
    return cluster.crane("digest", f"{repository}:v1")


def registry_pid() -> int:
    """The registry's pid from the node's pid file, checked against its recorded command
    line (as cluster/common.sh's daemon_alive does), so no other process is signalled."""
    pid = int((PIDS / "registry.pid").read_text().strip())
    recorded = (PIDS / "registry.cmd").read_bytes().rstrip(b"\0").split(b"\0")
    running = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    assert running == recorded, (running, recorded)
    assert Path(recorded[0].decode()).name == "registry", recorded
    return pid


def wait_gone(pid: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except FileNotFoundError:
            return
        if state == "Z":  # exited; its parent (init) has yet to reap it
            return
        time.sleep(0.1)
    raise AssertionError(f"the registry (pid {pid}) did not exit in {timeout}s")


def test_registry_keeps_images_and_tags_across_a_restart(cluster: Cluster, tmp_path: Path) -> None:
    repository = f"{cluster.registry}/e2e/restart-{secrets.token_hex(4)}"
    digest = push_fresh_image(cluster, tmp_path, repository)
    cluster.crane("tag", f"{repository}:v1", "also")
    golang = cluster.crane("digest", cluster.golang_image)
    blobs = json.loads(cluster.crane("manifest", f"{repository}@{digest}"))["layers"]

    pid = registry_pid()
    os.kill(pid, signal.SIGTERM)
    wait_gone(pid)
    assert not registry_answers(cluster)
    started = time.monotonic()
    commands.run([str(SCRIPT), "registry"], timeout=60)
    assert registry_answers(cluster)
    assert registry_pid() != pid
    assert time.monotonic() - started < 15

    for tag in ("v1", "also"):
        assert cluster.crane("digest", f"{repository}:{tag}") == digest, tag
    assert set(cluster.crane("ls", repository).split()) == {"v1", "also"}
    name = repository.split("/", 1)[1]
    for blob in blobs:
        status, _, body = http_get(cluster, f"/v2/{name}/blobs/{blob['digest']}")
        assert status == 200, blob
        assert len(body) == blob["size"], blob
    # The node's own images too (nothing pushed them again: only the registry restarted).
    assert cluster.crane("digest", cluster.golang_image) == golang


def test_referrers_api_lists_an_artifact_attached_with_oras(
    cluster: Cluster, tmp_path: Path
) -> None:
    name = f"e2e/referrers-{secrets.token_hex(4)}"
    repository = f"{cluster.registry}/{name}"
    digest = push_fresh_image(cluster, tmp_path, repository)
    (tmp_path / "sbom.spdx.json").write_text(json.dumps({"spdxVersion": "SPDX-2.3", "name": name}))
    attached = commands.run(
        [
            str(TOOLS_BIN / "oras"),
            "attach",
            "--plain-http",
            "--artifact-type",
            SBOM_TYPE,
            "--annotation",
            "dev.goimage.test=referrers",
            f"{repository}@{digest}",
            f"sbom.spdx.json:{SBOM_TYPE}",
        ],
        timeout=60,
        cwd=tmp_path,
    ).stdout
    artifact = re.search(r"Digest: (sha256:[0-9a-f]{64})", attached)
    assert artifact, attached

    referrers = f"/v2/{name}/referrers/{digest}"
    status, headers, body = http_get(cluster, referrers)
    assert status == 200, body
    assert headers["content-type"] == OCI_INDEX
    index: dict[str, Any] = json.loads(body)
    assert index["mediaType"] == OCI_INDEX
    assert index["schemaVersion"] == 2
    [referrer] = index["manifests"]
    assert referrer["digest"] == artifact.group(1)
    assert referrer["mediaType"] == OCI_MANIFEST
    assert referrer["artifactType"] == SBOM_TYPE
    assert referrer["annotations"]["dev.goimage.test"] == "referrers"
    status, _, raw = http_get(cluster, f"/v2/{name}/manifests/{referrer['digest']}", OCI_MANIFEST)
    assert status == 200
    assert referrer["size"] == len(raw)
    assert json.loads(raw)["subject"]["digest"] == digest

    # The artifactType filter, and what it says it applied.
    query = urllib.parse.urlencode({"artifactType": SBOM_TYPE})  # its "+" escaped, as clients do
    status, headers, body = http_get(cluster, f"{referrers}?{query}")
    assert status == 200
    assert headers.get("oci-filters-applied") == "artifactType"
    assert [m["digest"] for m in json.loads(body)["manifests"]] == [referrer["digest"]]
    status, _, body = http_get(cluster, f"{referrers}?artifactType=application/vnd.example.other")
    assert status == 200
    assert json.loads(body)["manifests"] == []
    # Nothing refers to the artifact itself.
    status, _, body = http_get(cluster, f"/v2/{name}/referrers/{referrer['digest']}")
    assert status == 200
    assert json.loads(body)["manifests"] == []
    # oras saw the OCI-Subject header on its push, so it wrote no fallback tag (sha256-<hex>).
    assert cluster.crane("ls", repository).split() == ["v1"]


def test_static_base_is_an_index_of_amd64_and_arm64(cluster: Cluster) -> None:
    static = f"{cluster.registry}/distroless/static-debian12"
    index = json.loads(cluster.crane("manifest", f"{static}:nonroot"))
    assert index["mediaType"] == OCI_INDEX
    platforms = {
        f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"]
        for m in index["manifests"]
    }
    assert set(platforms) == {"linux/amd64", "linux/arm64"}
    layers = []
    for platform, digest in platforms.items():
        config = json.loads(cluster.crane("config", f"{static}@{digest}"))
        assert f"{config['os']}/{config['architecture']}" == platform
        assert config["config"]["User"] == "65532"
        layers.append(json.loads(cluster.crane("manifest", f"{static}@{digest}"))["layers"])
        arch = platform.split("/")[1]
        assert cluster.crane("digest", f"{static}:nonroot-{arch}") == digest
    # The same files for both: nothing in the image depends on the architecture.
    assert layers[0] == layers[1]
    # base carries amd64's glibc: one amd64 image.
    base = json.loads(
        cluster.crane("manifest", f"{cluster.registry}/distroless/base-debian12:nonroot")
    )
    assert base["mediaType"] == OCI_MANIFEST
    base_config = json.loads(
        cluster.crane("config", f"{cluster.registry}/distroless/base-debian12:nonroot")
    )
    assert base_config["architecture"] == "amd64"


def pinned(tool: str, module: str) -> str:
    """The version of `module` that cluster/tools/<tool>/go.mod pins."""
    go_mod = (CLUSTER_SCRIPTS / "tools" / tool / "go.mod").read_text()
    found = re.search(rf"^\s*{re.escape(module)} (v\S+)", go_mod, re.MULTILINE)
    assert found, f"{module} in cluster/tools/{tool}/go.mod"
    return found.group(1)


def test_operator_image_carries_crane_and_oras(
    operator: str, kubectl: Kubectl, namespace: str
) -> None:
    phase, log = run_pod(
        kubectl,
        namespace,
        "oci-tools",
        operator,
        command=[
            "sh",
            "-c",
            "command -v crane && command -v oras && crane version && oras version",
        ],
    )
    assert phase == "Succeeded", log
    lines = log.splitlines()
    assert lines[:2] == ["/usr/local/bin/crane", "/usr/local/bin/oras"], log
    assert lines[2] == pinned("crane", "github.com/google/go-containerregistry"), log
    assert f"Version:    {pinned('oras', 'oras.land/oras').removeprefix('v')}" in lines, log
