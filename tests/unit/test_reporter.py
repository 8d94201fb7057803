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
