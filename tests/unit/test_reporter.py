"""reporter: Kaniko's OCI layout and digest file to the termination message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.unit.oci_layouts import Layout, write_layout

from goimage import reporter
from goimage.core import results

IMAGE = "registry.example.com/team/gitback"


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return write_layout(tmp_path)


def test_reads_digest_and_size(layout: Layout) -> None:
    result = reporter.read_result(layout.path, layout.digest_file)
    assert result.digest == layout.manifest_digest
    assert result.size == layout.size
    # Counted again from the disk: every blob but the manifest (config + layers).
    blobs = layout.path / "blobs" / "sha256"
    manifest = layout.manifest_digest.partition(":")[2]
    on_disk = sum(p.stat().st_size for p in blobs.iterdir() if p.name != manifest)
    assert result.size == on_disk


def test_docker_v2_manifest(tmp_path: Path) -> None:
    made = write_layout(tmp_path, media_type="application/vnd.docker.distribution.manifest.v2+json")
    assert reporter.read_result(made.path, made.digest_file).size == made.size


def test_digest_file_with_newline(layout: Layout) -> None:
    layout.digest_file.write_text(layout.manifest_digest + "\n")
    assert reporter.read_result(layout.path, layout.digest_file).digest == layout.manifest_digest


def test_mismatching_digest_file(layout: Layout) -> None:
    layout.digest_file.write_text("sha256:" + "0" * 64)
    with pytest.raises(results.ResultError, match="differs"):
        reporter.read_result(layout.path, layout.digest_file)


def test_garbage_digest_file(layout: Layout) -> None:
    layout.digest_file.write_text("not a digest")
    with pytest.raises(results.ResultError, match="not a sha256 digest"):
        reporter.read_result(layout.path, layout.digest_file)


def test_missing_digest_file(layout: Layout) -> None:
    layout.digest_file.unlink()
    with pytest.raises(results.ResultError, match="no digest file"):
        reporter.read_result(layout.path, layout.digest_file)


def test_missing_layout(tmp_path: Path) -> None:
    with pytest.raises(results.ResultError, match="no OCI layout"):
        reporter.read_result(tmp_path / "nowhere", tmp_path / "digest")


def test_garbage_index(layout: Layout) -> None:
    (layout.path / "index.json").write_text("{not json")
    with pytest.raises(results.ResultError, match="no OCI layout"):
        reporter.read_result(layout.path, layout.digest_file)


def test_index_with_two_images(layout: Layout) -> None:
    index = json.loads((layout.path / "index.json").read_text())
    index["manifests"].append(index["manifests"][0])
    (layout.path / "index.json").write_text(json.dumps(index))
    with pytest.raises(results.ResultError, match="found 2"):
        reporter.read_result(layout.path, layout.digest_file)


def test_missing_manifest_blob(layout: Layout) -> None:
    hex_digest = layout.manifest_digest.partition(":")[2]
    (layout.path / "blobs" / "sha256" / hex_digest).unlink()
    with pytest.raises(results.ResultError, match="no manifest"):
        reporter.read_result(layout.path, layout.digest_file)


def test_manifest_blob_not_json(layout: Layout) -> None:
    hex_digest = layout.manifest_digest.partition(":")[2]
    (layout.path / "blobs" / "sha256" / hex_digest).write_bytes(b"\x00\x01")
    with pytest.raises(results.ResultError):
        reporter.read_result(layout.path, layout.digest_file)


def test_report_writes_the_termination_message(layout: Layout, tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    message = reporter.report(
        oci_layout=layout.path, digest_file=layout.digest_file, image=IMAGE, termination_log=log
    )
    assert log.read_text() == message
    assert json.loads(message) == {
        "digest": layout.manifest_digest,
        "size": layout.size,
        "image": f"{IMAGE}@{layout.manifest_digest}",
    }
    # What the operator reads back from the pod is what was written.
    assert results.parse_result(log.read_text()) == results.BuildResult(
        layout.manifest_digest, layout.size
    )
    # The kubelet keeps at most 4096 bytes of a termination message.
    assert len(message.encode()) < 4096


def test_report_writes_nothing_on_error(layout: Layout, tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    layout.digest_file.write_text("sha256:" + "0" * 64)
    with pytest.raises(results.ResultError):
        reporter.report(
            oci_layout=layout.path,
            digest_file=layout.digest_file,
            image=IMAGE,
            termination_log=log,
        )
    assert not log.exists()


# --- several platforms: the layouts of each Kaniko run and what publish pushed -----------------

INDEX = "sha256:" + "1d" * 32


def two_platforms(root: Path) -> tuple[list[tuple[str, Path]], Path, Layout, Layout]:
    """Two real OCI layouts (amd64 smaller, arm64 bigger) and publish's published.json."""
    amd64 = write_layout(root / "linux-amd64", architecture="amd64", layers=(b"\x1f\x8b a" * 90,))
    arm64 = write_layout(
        root / "linux-arm64", architecture="arm64", layers=(b"\x1f\x8b b" * 400, b"\x1f\x8b c")
    )
    published = root / "published.json"
    published.write_text(
        results.Published(
            index_digest=INDEX,
            platforms=(
                ("linux/amd64", amd64.manifest_digest),
                ("linux/arm64", arm64.manifest_digest),
            ),
            tags=("latest",),
        ).to_json()
    )
    layouts = [("linux/amd64", amd64.path), ("linux/arm64", arm64.path)]
    return layouts, published, amd64, arm64


def test_two_platforms_index_digest_largest_size_and_each_platform(tmp_path: Path) -> None:
    layouts, published, amd64, arm64 = two_platforms(tmp_path)
    result = reporter.read_index_result(layouts, published)
    assert result.digest == INDEX
    assert arm64.size > amd64.size
    assert result.size == arm64.size
    assert result.platforms == (
        results.PlatformResult("linux/amd64", amd64.manifest_digest, amd64.size),
        results.PlatformResult("linux/arm64", arm64.manifest_digest, arm64.size),
    )


def test_two_platforms_termination_message(tmp_path: Path) -> None:
    layouts, published, amd64, arm64 = two_platforms(tmp_path)
    log = tmp_path / "termination-log"
    message = reporter.report(
        platform_layouts=layouts, published_file=published, image=IMAGE, termination_log=log
    )
    assert log.read_text() == message
    assert json.loads(message) == {
        "digest": INDEX,
        "image": f"{IMAGE}@{INDEX}",
        "size": arm64.size,
        "platforms": [
            {"platform": "linux/amd64", "digest": amd64.manifest_digest, "size": amd64.size},
            {"platform": "linux/arm64", "digest": arm64.manifest_digest, "size": arm64.size},
        ],
    }
    assert results.parse_result(message) == reporter.read_index_result(layouts, published)
    assert len(message.encode()) < 4096


def test_a_layout_that_is_not_what_publish_pushed(tmp_path: Path) -> None:
    layouts, published, _, _ = two_platforms(tmp_path)
    # Each platform now points at the other's layout.
    swapped = [(p, path) for (p, _), (_, path) in zip(layouts, reversed(layouts), strict=True)]
    with pytest.raises(results.ResultError, match="publish pushed"):
        reporter.read_index_result(swapped, published)


def test_an_image_built_for_another_platform(tmp_path: Path) -> None:
    # Kaniko wrote amd64 into the arm64 run's config: the platform was not honoured.
    layout = write_layout(tmp_path / "linux-arm64", architecture="amd64")
    published = tmp_path / "published.json"
    published.write_text(
        results.Published(INDEX, (("linux/arm64", layout.manifest_digest),), ("v1",)).to_json()
    )
    with pytest.raises(results.ResultError, match="config says linux/amd64"):
        reporter.read_index_result([("linux/arm64", layout.path)], published)


@pytest.mark.parametrize("variant", ["v7", ""])
def test_arm_variant_from_the_config_or_absent_as_kaniko_1_24_writes_it(
    tmp_path: Path, variant: str
) -> None:
    layout = write_layout(tmp_path / "arm", architecture="arm", variant=variant)
    published = tmp_path / "published.json"
    published.write_text(
        results.Published(INDEX, (("linux/arm/v7", layout.manifest_digest),), ("v1",)).to_json()
    )
    result = reporter.read_index_result([("linux/arm/v7", layout.path)], published)
    assert result.platforms[0].platform == "linux/arm/v7"


def test_no_published_file(tmp_path: Path) -> None:
    layouts, published, _, _ = two_platforms(tmp_path)
    published.unlink()
    with pytest.raises(results.ResultError, match="publish wrote no result"):
        reporter.read_index_result(layouts, published)


def test_garbage_published_file(tmp_path: Path) -> None:
    layouts, published, _, _ = two_platforms(tmp_path)
    published.write_text('{"index": "sha256:nope", "platforms": [], "tags": []}')
    with pytest.raises(results.ResultError, match="not a sha256 digest"):
        reporter.read_index_result(layouts, published)
