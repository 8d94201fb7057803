"""The publish step against a real registry: `crane registry serve` on loopback.

Two real OCI layouts (as two platforms' Kaniko runs leave them) are pushed by
`goimage-operator publish`; the registry then serves an OCI image index under
every tag, whose descriptors name each platform (read by crane from each
image's config), and `report` turns the same files into the status' numbers.
Publishing the same images again gives the same index digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from testkit.paths import TOOLS_BIN
from tests.unit.oci_layouts import Layout, write_layout

from goimage import publisher, reporter
from goimage.core import results

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
