"""The `report` step of the build pod: the built images to a termination message.

Runs after every init container exited 0 (it is the pod's main container), so
the OCI layouts describe the pushed images: Kaniko writes its digest file and
layout from the image it pushed (one platform), and `publish` pushed each
platform's layout as it is (several), so the manifests here are the
registry's, byte for byte. What `publish` attached (the SBOM and the
provenance, in published.json) joins the result when its subject is the
image (or index) reported. Only file I/O: no network, no credentials.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from goimage.core import results

TERMINATION_LOG = Path("/dev/termination-log")


def _blob(oci_layout: Path, digest: str) -> bytes:
    algorithm, _, hex_digest = digest.partition(":")
    return (oci_layout / "blobs" / algorithm / hex_digest).read_bytes()


def layout_image(oci_layout: Path) -> tuple[str, Mapping[str, Any]]:
    """Digest and manifest of the single image in an OCI layout."""
    try:
        index = json.loads((oci_layout / "index.json").read_text())
        descriptors = index["manifests"]
    except (OSError, ValueError, KeyError) as error:
        raise results.ResultError(f"no OCI layout at {oci_layout}: {error}") from None
    if len(descriptors) != 1:
        raise results.ResultError(f"expected one image in {oci_layout}, found {len(descriptors)}")
    digest = results.check_digest(str(descriptors[0].get("digest", "")))
    try:
        manifest = json.loads(_blob(oci_layout, digest))
    except (OSError, ValueError) as error:
        raise results.ResultError(f"no manifest {digest} in {oci_layout}: {error}") from None
    if not isinstance(manifest, Mapping):
        raise results.ResultError(f"manifest {digest} in {oci_layout} is not an object")
    return digest, manifest


def image_platform(oci_layout: Path, manifest: Mapping[str, Any]) -> str:
    """os/architecture[/variant] from the image's config blob, as Kaniko wrote it."""
    try:
        config = json.loads(_blob(oci_layout, str(manifest["config"]["digest"])))
        parts = [str(config["os"]), str(config["architecture"]), str(config.get("variant") or "")]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise results.ResultError(f"no image config in {oci_layout}: {error!r}") from None
    return "/".join(part for part in parts if part)


def read_result(oci_layout: Path, digest_file: Path) -> results.BuildResult:
    """Digest and size of the single image in an OCI layout, checked against Kaniko's digest."""
    digest, manifest = layout_image(oci_layout)
    try:
        pushed = results.check_digest(digest_file.read_text())
    except OSError as error:
        raise results.ResultError(f"Kaniko wrote no digest file: {error}") from None
    if pushed != digest:
        raise results.ResultError(f"pushed digest {pushed} differs from the layout's {digest}")
    return results.BuildResult(digest=digest, size=results.manifest_size(manifest))


def _same_platform(built: str, wanted: str) -> bool:
    # Kaniko v1.24.0 writes no variant into the config (linux/arm for linux/arm/v7).
    return built == wanted or (built.count("/") == 1 and wanted.startswith(built + "/"))


def read_index_result(
    layouts: Sequence[tuple[str, Path]], published_file: Path
) -> results.BuildResult:
    """A multi-platform build: each layout's image, checked against what `publish` pushed."""
    published = _published(published_file)
    pushed = dict(published.platforms)
    platforms = []
    for platform, oci_layout in layouts:
        digest, manifest = layout_image(oci_layout)
        if pushed.get(platform) != digest:
            raise results.ResultError(
                f"{platform}: publish pushed {pushed.get(platform)}, the layout holds {digest}"
            )
        built = image_platform(oci_layout, manifest)
        if not _same_platform(built, platform):
            raise results.ResultError(f"{platform}: the image's config says {built}")
        platforms.append(results.PlatformResult(platform, digest, results.manifest_size(manifest)))
    return with_artifacts(results.index_result(published.index_digest, tuple(platforms)), published)


def _published(published_file: Path) -> results.Published:
    try:
        return results.Published.from_json(published_file.read_text())
    except OSError as error:
        raise results.ResultError(f"publish wrote no result: {error}") from None


def with_artifacts(
    result: results.BuildResult, published: results.Published
) -> results.BuildResult:
    """The result with the SBOM and provenance publish attached to its digest."""
    for artifact in (published.sbom, published.provenance):
        if artifact is not None and artifact.subject != result.digest:
            raise results.ResultError(
                f"publish attached an artifact to {artifact.subject}, not to {result.digest}"
            )
    return replace(result, sbom=published.sbom, provenance=published.provenance)


def report(
    *,
    oci_layout: Path | None = None,
    digest_file: Path | None = None,
    platform_layouts: Sequence[tuple[str, Path]] = (),
    published_file: Path | None = None,
    image: str,
    termination_log: Path = TERMINATION_LOG,
) -> str:
    """Write the result where the kubelet reads termination messages; return it."""
    if platform_layouts:
        if published_file is None:
            raise results.ResultError("several platforms need the file publish wrote")
        result = read_index_result(platform_layouts, published_file)
    elif oci_layout is not None and digest_file is not None:
        result = read_result(oci_layout, digest_file)
        if published_file is not None:
            result = with_artifacts(result, _published(published_file))
    else:
        raise results.ResultError("give --oci-layout and --digest-file, or --platform")
    message = result.to_message(image)
    termination_log.write_text(message)
    return message
