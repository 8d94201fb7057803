"""image_files: a file read out of an OCI layout's image, layers applied as a runtime would."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.unit.go_binaries import GoBinaries, go_binaries
from tests.unit.oci_layouts import write_layout

from goimage.core import buildinfo, image_files
from goimage.core.image_files import ImageFileError

BINARY = "/usr/local/bin/gitback"  # oci_layouts' config Entrypoint


@dataclass(frozen=True)
class Entry:
    name: str
    data: bytes = b""
    kind: bytes = tarfile.REGTYPE
    link: str = ""


def tar(*entries: Entry, compress: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = entry.kind
            info.linkname = entry.link
            info.size = len(entry.data) if entry.kind == tarfile.REGTYPE else 0
            info.mode = 0o755
            archive.addfile(info, io.BytesIO(entry.data) if entry.kind == tarfile.REGTYPE else None)
    raw = buffer.getvalue()
    # mtime=0: the same entries give the same layer, as a reproducible build's.
    return gzip.compress(raw, mtime=0) if compress else raw


def directory(name: str) -> Entry:
    return Entry(name, kind=tarfile.DIRTYPE)


def read(tmp_path: Path, *layers: bytes, path: str = BINARY) -> image_files.ImageFile:
    layout = write_layout(tmp_path, layers=layers)
    return image_files.read_file(layout.path, path)


def test_reads_a_file(tmp_path: Path) -> None:
    layer = tar(directory("usr/local/bin"), Entry("usr/local/bin/gitback", b"\x7fELF binary"))
    found = read(tmp_path, layer)
    assert (found.path, found.data, found.layer) == (BINARY, b"\x7fELF binary", 0)


def test_member_names_with_dot_slash_and_uncompressed_layers(tmp_path: Path) -> None:
    layer = tar(Entry("./usr/local/bin/gitback", b"dot"), compress=False)
    assert read(tmp_path, tar(Entry("etc/passwd", b"root")), layer).data == b"dot"


def test_last_layer_wins(tmp_path: Path) -> None:
    first = tar(Entry("usr/local/bin/gitback", b"old"))
    second = tar(Entry("etc/motd", b"hi"))
    third = tar(Entry("usr/local/bin/gitback", b"new"))
    found = read(tmp_path, first, second, third)
    assert (found.data, found.layer) == (b"new", 2)


def test_earlier_layer_when_later_ones_do_not_touch_it(tmp_path: Path) -> None:
    found = read(tmp_path, tar(Entry("usr/local/bin/gitback", b"base")), tar(Entry("x", b"")))
    assert (found.data, found.layer) == (b"base", 0)


def test_whiteout_deletes(tmp_path: Path) -> None:
    first = tar(Entry("usr/local/bin/gitback", b"old"))
    second = tar(Entry("usr/local/bin/.wh.gitback"))
    with pytest.raises(ImageFileError, match="not in the image"):
        read(tmp_path, first, second)


def test_whiteout_of_a_parent_directory_deletes(tmp_path: Path) -> None:
    first = tar(Entry("usr/local/bin/gitback", b"old"))
    second = tar(Entry("usr/.wh.local"))
    with pytest.raises(ImageFileError, match="not in the image"):
        read(tmp_path, first, second)


def test_file_added_after_a_whiteout(tmp_path: Path) -> None:
    layers = (
        tar(Entry("usr/local/bin/gitback", b"one")),
        tar(Entry("usr/local/bin/.wh.gitback")),
        tar(Entry("usr/local/bin/gitback", b"three")),
    )
    assert read(tmp_path, *layers).data == b"three"


def test_opaque_directory_hides_lower_layers_only(tmp_path: Path) -> None:
    lower = tar(Entry("usr/local/bin/gitback", b"old"), Entry("usr/local/bin/other", b"o"))
    upper = tar(Entry("usr/local/bin/.wh..wh..opq"), Entry("usr/local/bin/other", b"new other"))
    layout = write_layout(tmp_path, layers=(lower, upper))
    with pytest.raises(ImageFileError, match="not in the image"):
        image_files.read_file(layout.path, BINARY)
    assert image_files.read_file(layout.path, "/usr/local/bin/other").data == b"new other"


def test_file_in_place_of_a_parent_directory_hides(tmp_path: Path) -> None:
    lower = tar(Entry("usr/local/bin/gitback", b"old"))
    upper = tar(Entry("usr/local", b"now a file"))
    with pytest.raises(ImageFileError, match="not in the image"):
        read(tmp_path, lower, upper)


def test_symbolic_links_are_followed(tmp_path: Path) -> None:
    lower = tar(Entry("opt/app/gitback-1.0", b"real"))
    upper = tar(
        Entry("usr/local/bin/gitback", kind=tarfile.SYMTYPE, link="../../../opt/app/current"),
        Entry("opt/app/current", kind=tarfile.SYMTYPE, link="/opt/app/gitback-1.0"),
    )
    found = read(tmp_path, lower, upper)
    assert (found.path, found.data, found.layer) == ("/opt/app/gitback-1.0", b"real", 0)


def test_symbolic_link_loop(tmp_path: Path) -> None:
    layer = tar(
        Entry("usr/local/bin/gitback", kind=tarfile.SYMTYPE, link="loop"),
        Entry("usr/local/bin/loop", kind=tarfile.SYMTYPE, link="gitback"),
    )
    with pytest.raises(ImageFileError, match="too many levels"):
        read(tmp_path, layer)


def test_hard_link(tmp_path: Path) -> None:
    layer = tar(
        Entry("usr/bin/gitback", b"linked"),
        Entry("usr/local/bin/gitback", kind=tarfile.LNKTYPE, link="usr/bin/gitback"),
    )
    assert read(tmp_path, layer).data == b"linked"


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ImageFileError, match="not a regular file"):
        read(tmp_path, tar(directory("usr/local/bin/gitback")))


def test_corrupt_layer_is_refused(tmp_path: Path) -> None:
    layer = tar(Entry("usr/local/bin/gitback", b"x"))
    layout = write_layout(tmp_path, layers=(layer,))
    blob = layout.path / "blobs" / "sha256" / hashlib.sha256(layer).hexdigest()
    blob.write_bytes(layer[:-1] + bytes([layer[-1] ^ 0xFF]))
    with pytest.raises(ImageFileError, match="does not match its digest"):
        image_files.read_file(layout.path, BINARY)


def test_layer_that_is_not_a_tar(tmp_path: Path) -> None:
    layout = write_layout(tmp_path)  # its layers: gzip's magic and then garbage
    with pytest.raises(ImageFileError, match="is not a gzip-compressed tar"):
        image_files.read_file(layout.path, BINARY)


def test_missing_layout(tmp_path: Path) -> None:
    with pytest.raises(ImageFileError, match="no OCI layout"):
        image_files.read_file(tmp_path, BINARY)


def test_entrypoint_and_manifest(tmp_path: Path) -> None:
    layout = write_layout(tmp_path, layers=(tar(Entry("a", b"a")),))
    assert image_files.entrypoint(layout.path) == BINARY
    digest, manifest = image_files.image_manifest(layout.path)
    assert digest == layout.manifest_digest
    assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert image_files.image_manifest(layout.path, digest=layout.manifest_digest)[0] == digest
    with pytest.raises(ImageFileError, match="0 manifests"):
        image_files.image_manifest(layout.path, digest="sha256:" + "0" * 64)


def _blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def test_platform_from_an_image_index(tmp_path: Path) -> None:
    """A multi-platform layout: index.json names an image index of two images."""
    layout = write_layout(tmp_path, layers=(tar(Entry("usr/local/bin/gitback", b"amd64")),))
    amd64_digest, amd64 = image_files.image_manifest(layout.path)
    arm_layer = tar(Entry("usr/local/bin/gitback", b"arm64"))
    arm64 = dict(amd64)
    arm64["layers"] = [
        {"mediaType": amd64["layers"][0]["mediaType"], **_blob(layout.path, arm_layer)}
    ]
    arm64_descriptor = _blob(layout.path, json.dumps(arm64).encode())
    manifest_type = "application/vnd.oci.image.manifest.v1+json"
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": manifest_type,
                "digest": amd64_digest,
                "size": 1,
                "platform": {"os": "linux", "architecture": "amd64"},
            },
            {
                "mediaType": manifest_type,
                **arm64_descriptor,
                "platform": {"os": "linux", "architecture": "arm64"},
            },
        ],
    }
    index_descriptor = _blob(layout.path, json.dumps(index).encode())
    (layout.path / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [{"mediaType": index["mediaType"], **index_descriptor}],
            }
        )
    )
    assert image_files.read_file(layout.path, BINARY, platform="linux/arm64").data == b"arm64"
    assert image_files.read_file(layout.path, BINARY, platform="linux/amd64").data == b"amd64"
    with pytest.raises(ImageFileError, match="2 manifests"):
        image_files.read_file(layout.path, BINARY)


def test_real_go_binary_out_of_an_image(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    built: GoBinaries = go_binaries(tmp_path_factory)
    base = tar(directory("etc"), Entry("etc/passwd", b"nonroot:x:65532:65532::/:/sbin/nologin\n"))
    app = tar(directory("usr/local/bin"), Entry("usr/local/bin/gitback", built.uuidgen_arm64.data))
    found = read(tmp_path, base, app)
    assert found.data == built.uuidgen_arm64.data
    assert buildinfo.elf_info(found.data).arch == "arm64"
    assert buildinfo.read_build_info(found.data).deps[0].path == "github.com/google/uuid"
