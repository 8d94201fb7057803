"""One file read out of an image in an OCI image layout, as a container would see it.

The build pod's `publish` step has each platform image as an OCI layout on
disk (Kaniko's --oci-layout-path) and needs the Go binary's bytes for the
SBOM. This module owns that reading: index.json -> the image manifest (the
only one, or the one with a given digest, or an image index's entry for a
platform) -> its layers, each a tar (gzip-compressed or not) checked against
its digest. Layers are looked at from the last to the first, so the last
layer that has the path wins; a whiteout (`.wh.<name>`) or an opaque
directory (`.wh..wh..opq`) in a later layer hides what earlier layers had,
as in the OCI image spec's "Representing Changes". Symbolic links are
followed (within the image); hard links resolve inside their layer.

It reads files from the layout directory and nothing else.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import posixpath
import re
import tarfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
_MAX_LINKS = 40  # as Linux's limit on symbolic links followed in one lookup


class ImageFileError(ValueError):
    """The layout, its image or the file asked for is missing or malformed."""


@dataclass(frozen=True)
class ImageFile:
    path: str  # absolute, after following symbolic links
    data: bytes
    layer: int  # index of the layer it came from, 0 = the first (base) layer


def _blob_path(layout: Path, digest: str) -> Path:
    if not _DIGEST.match(digest):
        raise ImageFileError(f"not a sha256 digest: {digest!r}")
    return layout / "blobs" / "sha256" / digest.partition(":")[2]


def _read_blob(layout: Path, digest: str) -> bytes:
    path = _blob_path(layout, digest)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ImageFileError(f"blob {digest} is missing from the layout: {err}") from err
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise ImageFileError(f"blob {digest} does not match its digest")
    return data


def _json_blob(layout: Path, digest: str) -> dict[str, Any]:
    try:
        parsed = json.loads(_read_blob(layout, digest))
    except ValueError as err:
        if isinstance(err, ImageFileError):
            raise
        raise ImageFileError(f"blob {digest} is not JSON: {err}") from err
    if not isinstance(parsed, dict):
        raise ImageFileError(f"blob {digest} is not a JSON object")
    return parsed


def _platform_of(descriptor: Mapping[str, Any]) -> str:
    platform = descriptor.get("platform") or {}
    text = f"{platform.get('os', '')}/{platform.get('architecture', '')}"
    return f"{text}/{platform['variant']}" if platform.get("variant") else text


def _pick(
    manifests: Sequence[Mapping[str, Any]], digest: str | None, platform: str | None, where: str
) -> Mapping[str, Any]:
    chosen = list(manifests)
    if digest is not None:
        chosen = [m for m in chosen if m.get("digest") == digest]
    if platform is not None and len(chosen) > 1:
        chosen = [m for m in chosen if _platform_of(m) == platform]
    if len(chosen) != 1:
        wanted = " ".join(w for w in (digest, platform) if w) or "one image"
        raise ImageFileError(f"{where} has {len(chosen)} manifests for {wanted}")
    return chosen[0]


def image_manifest(
    layout: Path, *, digest: str | None = None, platform: str | None = None
) -> tuple[str, dict[str, Any]]:
    """The image manifest's digest and content.

    index.json's only manifest, or the one with `digest`; when that is an
    image index, its entry for `platform` ("linux/arm64", "linux/arm/v7").
    """
    try:
        index = json.loads((layout / "index.json").read_text())
    except (OSError, ValueError) as err:
        raise ImageFileError(f"no OCI layout at {layout}: {err}") from err
    descriptor = _pick(index.get("manifests") or [], digest, platform, "index.json")
    for _ in range(2):  # an index may name an image index, which names the images
        manifest_digest = str(descriptor.get("digest", ""))
        manifest = _json_blob(layout, manifest_digest)
        media_type = manifest.get("mediaType") or descriptor.get("mediaType")
        if media_type not in _INDEX_TYPES:
            return manifest_digest, manifest
        descriptor = _pick(manifest.get("manifests") or [], None, platform, manifest_digest)
    raise ImageFileError("image indexes nested more than once")


def _normalize(path: str) -> str:
    """An absolute, normalized path; tar member names ("./usr/bin/x") become "/usr/bin/x"."""
    return posixpath.normpath("/" + path.lstrip("/"))


def _open_layer(data: bytes, media_type: str, digest: str) -> tarfile.TarFile:
    if "zstd" in media_type:
        raise ImageFileError(f"layer {digest} is zstd-compressed, which is not supported")
    compressed = data[:2] == b"\x1f\x8b"
    try:
        raw = gzip.decompress(data) if compressed else data
        return tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
    except (OSError, EOFError, zlib.error, tarfile.TarError) as err:
        kind = "gzip-compressed tar" if compressed else "tar"
        raise ImageFileError(f"layer {digest} is not a {kind} archive: {err}") from err


@dataclass(frozen=True)
class _Layer:
    members: dict[str, tarfile.TarInfo]  # by normalized path; the last entry of a name wins
    archive: tarfile.TarFile

    def hides(self, path: str) -> bool:
        """Does this layer delete `path` from the layers below it?"""
        parts = path.strip("/").split("/")
        for depth, name in enumerate(parts):
            parent = "/" + "/".join(parts[:depth])
            if posixpath.join(parent, _WHITEOUT + name) in self.members:
                return True
            if posixpath.join(parent, _OPAQUE) in self.members:
                return True
            # A non-directory in an ancestor directory's place replaces it.
            ancestor = self.members.get(posixpath.join(parent, name))
            if depth < len(parts) - 1 and ancestor is not None and not ancestor.isdir():
                return True
        return False


class _Stack:
    """The image's layers, each opened (and its digest checked) when first looked at."""

    def __init__(self, layout: Path, manifest: Mapping[str, Any]) -> None:
        self._layout = layout
        self._descriptors = list(manifest.get("layers") or [])
        self._opened: dict[int, _Layer] = {}

    def __len__(self) -> int:
        return len(self._descriptors)

    def __getitem__(self, index: int) -> _Layer:
        if index not in self._opened:
            descriptor = self._descriptors[index]
            digest = str(descriptor.get("digest", ""))
            data = _read_blob(self._layout, digest)
            archive = _open_layer(data, str(descriptor.get("mediaType", "")), digest)
            members = {_normalize(m.name): m for m in archive.getmembers()}
            self._opened[index] = _Layer(members, archive)
        return self._opened[index]


def _resolve_symlink(path: str, target: str) -> str:
    base = posixpath.dirname(path)
    return _normalize(target if target.startswith("/") else posixpath.join(base, target))


def read_file(
    layout: Path, path: str, *, digest: str | None = None, platform: str | None = None
) -> ImageFile:
    """The bytes of the regular file at `path` in the image (see `image_manifest`)."""
    _, manifest = image_manifest(layout, digest=digest, platform=platform)
    layers = _Stack(layout, manifest)
    wanted = _normalize(path)
    for _ in range(_MAX_LINKS):
        found = _lookup(layers, wanted)
        if found is None:
            raise ImageFileError(f"{path} is not in the image")
        index, member = found
        if member.issym():
            wanted = _resolve_symlink(wanted, member.linkname)
            continue
        if not (member.isfile() or member.islnk()):
            raise ImageFileError(f"{wanted} in the image is not a regular file")
        extracted = layers[index].archive.extractfile(member)
        if extracted is None:
            raise ImageFileError(f"{wanted} in layer {index} cannot be read")
        return ImageFile(wanted, extracted.read(), index)
    raise ImageFileError(f"{path}: too many levels of symbolic links")


def _lookup(layers: _Stack, path: str) -> tuple[int, tarfile.TarInfo] | None:
    # Symbolic links in the directories above the file are not followed: the
    # paths asked for here (an image's entrypoint) are real directories.
    for index in range(len(layers) - 1, -1, -1):
        layer = layers[index]
        member = layer.members.get(path)
        if member is not None:
            return index, member
        if layer.hides(path):
            return None
    return None


def entrypoint(layout: Path, *, digest: str | None = None, platform: str | None = None) -> str:
    """The image config's Entrypoint[0] (the operator's images: /usr/local/bin/<binary>)."""
    _, manifest = image_manifest(layout, digest=digest, platform=platform)
    config = _json_blob(layout, str((manifest.get("config") or {}).get("digest", "")))
    command = (config.get("config") or {}).get("Entrypoint") or []
    if not command or not isinstance(command[0], str):
        raise ImageFileError("the image config has no Entrypoint")
    return str(command[0])
