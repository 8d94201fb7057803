"""The publish step against a real registry: `crane registry serve` on loopback.

Two real OCI layouts (as two platforms' Kaniko runs leave them) are pushed by
`goimage-operator publish`; the registry then serves an OCI image index under
every tag, whose descriptors name each platform (read by crane from each
image's config), and `report` turns the same files into the status' numbers.
Publishing the same images again gives the same index digest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testkit.paths import TOOLS_BIN
from tests.unit import go_binaries as binaries
from tests.unit.oci_layouts import Layout, write_layout

from goimage import publisher, reporter
from goimage.core import results, sbom

CRANE = str(TOOLS_BIN / "crane")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """host:port of an in-memory registry; crane first on PATH, as in the operator image."""
    if not Path(CRANE).exists():
        pytest.fail(f"{CRANE} missing: run `make tools`", pytrace=False)
    monkeypatch.setenv("PATH", f"{TOOLS_BIN}:{os.environ.get('PATH', '')}")
    address = f"127.0.0.1:{_free_port()}"
    log = (tmp_path / "registry.log").open("w")
    server = subprocess.Popen(
        [CRANE, "registry", "serve", "--address", address], stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                host, _, port = address.partition(":")
                socket.create_connection((host, int(port)), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(
                        f"crane registry did not start: {(tmp_path / 'registry.log').read_text()}"
                    )
                time.sleep(0.1)
        yield address
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def crane(*args: str) -> str:
    done = subprocess.run([CRANE, "--insecure", *args], capture_output=True, text=True, check=True)
    return done.stdout


def layouts(root: Path) -> tuple[Layout, Layout]:
    amd64 = write_layout(
        root / "linux-amd64", architecture="amd64", layers=(b"\x1f\x8b amd" * 300,)
    )
    arm64 = write_layout(
        root / "linux-arm64", architecture="arm64", layers=(b"\x1f\x8b arm" * 500, b"\x1f\x8b 2")
    )
    return amd64, arm64


def publish(root: Path, repository: str, host: str, out: Path) -> results.Published:
    amd64, arm64 = layouts(root)
    return publisher.publish(
        layouts=[
            publisher.PlatformLayout("linux/amd64", amd64.path),
            publisher.PlatformLayout("linux/arm64", arm64.path),
        ],
        repository=repository,
        tags=["v1", "latest"],
        insecure_registries=[host],
        out=out,
    )


def test_publish_pushes_each_image_and_one_index_under_every_tag(
    registry: str, tmp_path: Path
) -> None:
    repository = f"{registry}/team/app"
    out = tmp_path / "published.json"
    published = publish(tmp_path / "a", repository, registry, out)
    amd64, arm64 = (tmp_path / "a" / "linux-amd64", tmp_path / "a" / "linux-arm64")

    assert results.Published.from_json(out.read_text()) == published
    for tag in ("v1", "latest"):
        raw = crane("manifest", f"{repository}:{tag}")
        assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == published.index_digest
        index = json.loads(raw)
        assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
        assert "annotations" not in index
        assert [
            (m["platform"]["os"], m["platform"]["architecture"]) for m in index["manifests"]
        ] == [
            ("linux", "amd64"),
            ("linux", "arm64"),
        ]
        assert [m["digest"] for m in index["manifests"]] == [d for _, d in published.platforms]
    # Each platform image is the layout's, byte for byte.
    for platform, digest in published.platforms:
        folder = amd64 if platform == "linux/amd64" else arm64
        assert digest == reporter.layout_image(folder / "oci")[0]
        raw = crane("manifest", f"{repository}@{digest}")
        assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == digest

    # report reads the same files: index digest, largest size, each platform's size.
    result = reporter.read_index_result(
        [("linux/amd64", amd64 / "oci"), ("linux/arm64", arm64 / "oci")], out
    )
    assert result.digest == published.index_digest
    sizes = {p.platform: p.size for p in result.platforms}
    for platform, digest in published.platforms:
        manifest = json.loads(crane("manifest", f"{repository}@{digest}"))
        served = manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
        assert sizes[platform] == served
    assert result.size == max(sizes.values())


def test_the_same_images_give_the_same_index_digest(registry: str, tmp_path: Path) -> None:
    first = publish(tmp_path / "a", f"{registry}/team/app", registry, tmp_path / "a.json")
    # The same files again, written anew (as a rebuild of the same commit writes them),
    # pushed to another repository.
    again = publish(tmp_path / "b", f"{registry}/team/again", registry, tmp_path / "b.json")
    assert again.index_digest == first.index_digest
    assert again.platforms == first.platforms


def test_pin_builder_picks_the_node_platforms_image_from_an_index(
    registry: str, tmp_path: Path
) -> None:
    # A two-platform "golang" index in the registry, reached through a mirror
    # list whose first entry is down (as Kaniko would fall through it).
    golang = f"{registry}/library/golang"
    published = publish(tmp_path / "golang", golang, registry, tmp_path / "golang.json")
    rendered = tmp_path / "Dockerfile"
    rendered.write_text(
        "FROM --platform=$BUILDPLATFORM golang:1.26 AS build\nRUN go build\nFROM scratch\n"
    )
    (tmp_path / "Dockerfile.dockerignore").write_text(".git\n")
    crane("tag", f"{golang}:v1", "1.26")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    down = f"127.0.0.1:{_free_port()}"
    for platform, digest in published.platforms:
        out = out_dir / "Dockerfile"
        pinned = publisher.pin_builder(
            dockerfile=rendered,
            out=out,
            image="golang:1.26",
            platform=platform,
            mirrors=[down, registry],
            insecure_registries=[down, registry],
        )
        assert pinned == digest
        assert out.read_text().splitlines()[0] == (
            f"FROM --platform=$BUILDPLATFORM golang@{digest} AS build"
        )
        assert (out_dir / "Dockerfile.dockerignore").read_text() == ".git\n"


# --- SBOM and provenance: attached with `oras attach`, read back through the referrers API ----
#
# Two registries on loopback: the node's (CNCF Distribution with the OCI referrers API, built by
# `make tools` as .tools/bin/registry), and `crane registry serve`, which has no referrers API
# (go-containerregistry's pkg/registry serves one only with WithReferrersSupport, which `crane
# registry serve` does not set, and answers no OCI-Subject): there oras keeps the referrers tag
# scheme, an index under `sha256-<hex of the subject>`.

COMMIT = "3f1c2ab4" * 5
SPDX = "application/spdx+json"
IN_TOTO = "application/vnd.in-toto+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _wait_for(address: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    host, _, port = address.partition(":")
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(f"the registry did not start: {log.read_text()}")
            time.sleep(0.1)


@pytest.fixture
def distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """host:port of the node's registry binary (referrers API); oras and crane on PATH."""
    binary = TOOLS_BIN / "registry"
    for tool in (binary, TOOLS_BIN / "oras", Path(CRANE)):
        if not tool.exists():
            pytest.fail(f"{tool} missing: run `make tools`", pytrace=False)
    monkeypatch.setenv("PATH", f"{TOOLS_BIN}:{os.environ.get('PATH', '')}")
    address = f"127.0.0.1:{_free_port()}"
    log_path = tmp_path / "distribution.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [str(binary), "-addr", address, "-root", str(tmp_path / "storage")],
            stdout=log,
            stderr=log,
        )
        try:
            _wait_for(address, server, log_path)
            yield address
        finally:
            server.terminate()
            server.wait(timeout=10)


def _get(url: str, accept: str = "") -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def built(tmp_path_factory: pytest.TempPathFactory) -> binaries.GoBinaries:
    """examples/uuidgen built for amd64 and arm64 the way the operator's Dockerfile builds."""
    return binaries.go_binaries(tmp_path_factory)


def referrers(host: str, repo: str, digest: str) -> list[dict[str, Any]]:
    status, body = _get(f"http://{host}/v2/{repo}/referrers/{digest}", OCI_INDEX)
    assert status == 200, body
    manifests: list[dict[str, Any]] = json.loads(body)["manifests"]
    return manifests


def artifact_document(host: str, repo: str, digest: str) -> dict[str, Any]:
    """The document in an artifact: its manifest's one layer."""
    status, body = _get(f"http://{host}/v2/{repo}/manifests/{digest}", OCI_MANIFEST)
    assert status == 200, body
    (layer,) = json.loads(body)["layers"]
    status, blob = _get(f"http://{host}/v2/{repo}/blobs/{layer['digest']}")
    assert status == 200
    document: dict[str, Any] = json.loads(blob)
    return document


def _tar_gz(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o755, 0
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def image_layout(
    root: Path,
    layers: list[bytes],
    history: list[dict[str, Any]],
    *,
    architecture: str = "amd64",
    entrypoint: str = "",
) -> Path:
    """An OCI layout of one image (gzip tar layers, a config with history), as Kaniko writes
    one; returns its folder (beside it, `digest`)."""
    layout = root / "oci"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))

    def blob(data: bytes, media_type: str) -> dict[str, Any]:
        hex_digest = hashlib.sha256(data).hexdigest()
        (layout / "blobs" / "sha256" / hex_digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{hex_digest}", "size": len(data)}

    config: dict[str, Any] = {
        "architecture": architecture,
        "os": "linux",
        "config": {"Entrypoint": [entrypoint]} if entrypoint else {},
        "rootfs": {
            "type": "layers",
            "diff_ids": [
                "sha256:" + hashlib.sha256(gzip.decompress(x)).hexdigest() for x in layers
            ],
        },
        "history": history,
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": blob(json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json"),
        "layers": [blob(x, "application/vnd.oci.image.layer.v1.tar+gzip") for x in layers],
    }
    descriptor = blob(json.dumps(manifest).encode(), OCI_MANIFEST)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]}
    (layout / "index.json").write_text(json.dumps(index))
    (root / "digest").write_text(descriptor["digest"])
    return layout


BASE_HISTORY = [{"created": "2025-01-01T00:00:00Z", "created_by": "ADD rootfs.tar.gz /"}]


def built_image(root: Path, binary: bytes, architecture: str = "amd64") -> Path:
    """What Kaniko --reproducible leaves: the base's layer rewritten (its digest differs), its
    history carried over with times zeroed, then the binary's layer."""
    rewritten = _tar_gz({"etc/base.txt": b"base\n", "etc/.": b""})
    history = [
        {**BASE_HISTORY[0], "created": "0001-01-01T00:00:00Z"},
        {"created": "0001-01-01T00:00:00Z", "created_by": "COPY /out/bin/uuidgen /usr/local/bin/"},
    ]
    return image_layout(
        root,
        [rewritten, _tar_gz({"usr/local/bin/uuidgen": binary})],
        history,
        architecture=architecture,
        entrypoint="/usr/local/bin/uuidgen",
    )


def bases(root: Path, host: str) -> tuple[str, str]:
    """A runtime base and a golang builder image in the registry: their digests."""
    base = image_layout(root / "base", [_tar_gz({"etc/base.txt": b"base\n"})], BASE_HISTORY)
    crane("push", str(base), f"{host}/base:1")
    golang = image_layout(root / "golang", [_tar_gz({"usr/local/go/VERSION": b"go1.26"})], [])
    crane("push", str(golang), f"{host}/library/golang:1.26")
    return (
        crane("digest", f"{host}/base:1").strip(),
        crane("digest", f"{host}/library/golang:1.26").strip(),
    )


def raw_spec(host: str, runtime: str, platforms: list[str] | None = None) -> dict[str, Any]:
    output: dict[str, Any] = {"image": f"{host}/team/uuidgen", "insecure": True}
    if platforms:
        output["platforms"] = platforms
    return {
        "source": {"git": {"url": "https://git.example/uuidgen.git", "revision": "main"}},
        "runtime": {"image": runtime},
        "output": output,
    }


def chain(spec: dict[str, Any], host: str, work: Path, **extra: Any) -> publisher.SupplyChain:
    work.mkdir(parents=True, exist_ok=True)
    return publisher.SupplyChain(
        spec=spec,
        namespace="team",
        name="uuidgen",
        build="1",
        operator_version="0.1.0",
        commit=COMMIT,
        kaniko_image="kaniko:test",
        registry_mirrors=(host,),  # golang:1.26 is pulled through the mirror, as by Kaniko
        work=work,
        **extra,
    )


def single_build(
    root: Path, host: str, binary: bytes, runtime: str | None = None
) -> tuple[results.Published, Path, str]:
    """A single-platform build as the pod runs it: Kaniko pushed, then publish attaches."""
    layout = built_image(root, binary)
    repository = f"{host}/team/uuidgen"
    crane("push", str(layout), f"{repository}:latest")  # what Kaniko did
    spec = raw_spec(host, runtime or f"{host}/base:1")
    published = publisher.publish(
        oci_layout=layout,
        digest_file=root / "digest",
        repository=repository,
        insecure_registries=[host],
        out=root / "published.json",
        supply_chain=chain(spec, host, root / "artifacts"),
    )
    return published, layout, (root / "digest").read_text()


def test_a_single_platform_builds_sbom_and_provenance_through_the_referrers_api(
    distribution: str, tmp_path: Path, built: binaries.GoBinaries
) -> None:
    host = distribution
    binary = built.uuidgen_amd64.data
    base_digest, golang_digest = bases(tmp_path, host)
    published, layout, digest = single_build(tmp_path / "build", host, binary)
    assert published.sbom is not None
    assert published.provenance is not None
    assert (published.sbom.subject, published.provenance.subject) == (digest, digest)

    found = {m["artifactType"]: m["digest"] for m in referrers(host, "team/uuidgen", digest)}
    assert found == {SPDX: published.sbom.digest, IN_TOTO: published.provenance.digest}
    # The node's registry keeps the referrers: oras wrote no tag-scheme index.
    tag = digest.replace(":", "-")
    assert _get(f"http://{host}/v2/team/uuidgen/manifests/{tag}", OCI_INDEX)[0] == 404

    document = artifact_document(host, "team/uuidgen", published.sbom.digest)
    rows = {row.name: row.version for row in sbom.modules(document)}
    assert rows["github.com/google/uuid"] == "v1.6.0"
    assert rows["stdlib"].startswith("go1.")
    assert document["creationInfo"]["created"] == "1970-01-01T00:00:00Z"
    statement = artifact_document(host, "team/uuidgen", published.provenance.digest)
    assert statement["subject"] == [
        {"name": f"{host}/team/uuidgen", "digest": {"sha256": digest.removeprefix("sha256:")}}
    ]
    dependencies = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert dependencies[0]["digest"] == {"gitCommit": COMMIT}
    assert {d["annotations"]["goimage.dev/role"]: d.get("digest") for d in dependencies[1:]} == {
        "builder": {"sha256": golang_digest.removeprefix("sha256:")},
        "runtime": {"sha256": base_digest.removeprefix("sha256:")},
    }
    assert statement["predicate"]["buildDefinition"]["externalParameters"]["spec"] == raw_spec(
        host, f"{host}/base:1"
    )

    # report: the termination message names both, well under the kubelet's 4 KiB.
    message = reporter.report(
        oci_layout=layout,
        digest_file=tmp_path / "build" / "digest",
        published_file=tmp_path / "build" / "published.json",
        image=f"{host}/team/uuidgen",
        termination_log=tmp_path / "termination-log",
    )
    result = results.parse_result(message)
    assert result.sbom == results.Artifact(published.sbom.digest, SPDX)
    assert json.loads(message)["provenance"] == {"digest": published.provenance.digest}
    assert len(message) < 1024

    # The same build again (a rebuild of the same commit): the same artifacts.
    again, _, _ = single_build(tmp_path / "again", host, binary)
    assert (again.sbom, again.provenance) == (published.sbom, published.provenance)


def test_a_base_the_image_is_not_built_on_is_left_out(
    distribution: str, tmp_path: Path, built: binaries.GoBinaries
) -> None:
    host = distribution
    bases(tmp_path, host)
    other = image_layout(
        tmp_path / "other",
        [_tar_gz({"etc/other.txt": b"other\n"})],
        [{"created_by": "ADD other.tar.gz /"}],
    )
    crane("push", str(other), f"{host}/other:1")
    binary = built.uuidgen_amd64.data
    published, _, _ = single_build(tmp_path / "build", host, binary, f"{host}/other:1")
    assert published.provenance is not None
    statement = artifact_document(host, "team/uuidgen", published.provenance.digest)
    roles = [
        d["annotations"]["goimage.dev/role"]
        for d in statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    ]
    assert roles == ["source", "builder"]


def test_without_a_referrers_api_oras_keeps_the_tag_scheme(
    registry: str, tmp_path: Path, built: binaries.GoBinaries
) -> None:
    host = registry
    bases(tmp_path, host)
    binary = built.uuidgen_amd64.data
    published, _, digest = single_build(tmp_path / "build", host, binary)
    assert published.sbom is not None
    assert published.provenance is not None
    tag = digest.replace(":", "-")
    index = json.loads(crane("manifest", f"{host}/team/uuidgen:{tag}"))
    assert {m["artifactType"]: m["digest"] for m in index["manifests"]} == {
        SPDX: published.sbom.digest,
        IN_TOTO: published.provenance.digest,
    }


def test_several_platforms_an_sbom_per_image_and_one_on_the_index(
    distribution: str, tmp_path: Path, built: binaries.GoBinaries
) -> None:
    host = distribution
    _, golang_digest = bases(tmp_path, host)
    amd64 = built_image(tmp_path / "linux-amd64", built.uuidgen_amd64.data, "amd64")
    arm64 = built_image(tmp_path / "linux-arm64", built.uuidgen_arm64.data, "arm64")
    spec = raw_spec(host, "scratch", ["linux/amd64", "linux/arm64"])
    published = publisher.publish(
        layouts=[
            publisher.PlatformLayout("linux/amd64", amd64),
            publisher.PlatformLayout("linux/arm64", arm64),
        ],
        repository=f"{host}/team/uuidgen",
        tags=["latest"],
        insecure_registries=[host],
        out=tmp_path / "published.json",
        supply_chain=chain(spec, host, tmp_path / "artifacts", builder_digest=golang_digest),
    )
    assert published.sbom is not None
    assert published.provenance is not None
    on_index = {
        m["artifactType"]: m["digest"]
        for m in referrers(host, "team/uuidgen", published.index_digest)
    }
    assert on_index == {SPDX: published.sbom.digest, IN_TOTO: published.provenance.digest}
    for platform, digest in published.platforms:
        (mine,) = referrers(host, "team/uuidgen", digest)
        assert (mine["artifactType"], mine["digest"]) == (
            SPDX,
            dict(published.platform_sboms)[platform].digest,
        )
        document = artifact_document(host, "team/uuidgen", mine["digest"])
        assert document["packages"][0]["versionInfo"] == digest
    index_document = artifact_document(host, "team/uuidgen", published.sbom.digest)
    contained = [
        r["relatedSpdxElement"]
        for r in index_document["relationships"]
        if r["spdxElementId"] == "SPDXRef-Image"
    ]
    assert contained == ["SPDXRef-Image-linux-amd64", "SPDXRef-Image-linux-arm64"]
    statement = artifact_document(host, "team/uuidgen", published.provenance.digest)
    assert [s["digest"]["sha256"] for s in statement["subject"]] == [
        d.removeprefix("sha256:")
        for d in (published.index_digest, *(d for _, d in published.platforms))
    ]
    result = reporter.read_index_result(
        [("linux/amd64", amd64), ("linux/arm64", arm64)], tmp_path / "published.json"
    )
    assert result.sbom == published.sbom


def test_a_registry_that_refuses_ends_in_an_error_naming_it(
    tmp_path: Path, built: binaries.GoBinaries, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", f"{TOOLS_BIN}:{os.environ.get('PATH', '')}")
    down = f"127.0.0.1:{_free_port()}"
    layout = built_image(tmp_path, built.uuidgen_amd64.data)
    with pytest.raises(results.ResultError, match=f"the registry {down} refused the SBOM"):
        publisher.publish(
            oci_layout=layout,
            digest_file=tmp_path / "digest",
            repository=f"{down}/team/uuidgen",
            insecure_registries=[down],
            out=tmp_path / "published.json",
            supply_chain=chain(raw_spec(down, "scratch"), down, tmp_path / "artifacts"),
        )
