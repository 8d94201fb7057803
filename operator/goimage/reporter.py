"""The `report` step of the build pod: Kaniko's output to a termination message.

Runs after Kaniko exited 0 (it is the pod's main container, Kaniko its init
container), so the digest file and the OCI layout describe the pushed image:
Kaniko writes both from the same image it pushed, so the manifest here is the
registry's, byte for byte. Only file I/O: no network, no credentials.
"""

from __future__ import annotations

import json
from pathlib import Path

from goimage.core import results

TERMINATION_LOG = Path("/dev/termination-log")


def read_result(oci_layout: Path, digest_file: Path) -> results.BuildResult:
    """Digest and size of the single image in an OCI layout, checked against Kaniko's digest."""
    try:
        index = json.loads((oci_layout / "index.json").read_text())
        descriptors = index["manifests"]
    except (OSError, ValueError, KeyError) as error:
        raise results.ResultError(f"no OCI layout at {oci_layout}: {error}") from None
    if len(descriptors) != 1:
        raise results.ResultError(f"expected one image in {oci_layout}, found {len(descriptors)}")
    digest = results.check_digest(str(descriptors[0].get("digest", "")))
    algorithm, _, hex_digest = digest.partition(":")
    try:
        manifest = json.loads((oci_layout / "blobs" / algorithm / hex_digest).read_bytes())
    except (OSError, ValueError) as error:
        raise results.ResultError(f"no manifest {digest} in {oci_layout}: {error}") from None
    try:
        pushed = results.check_digest(digest_file.read_text())
    except OSError as error:
        raise results.ResultError(f"Kaniko wrote no digest file: {error}") from None
    if pushed != digest:
        raise results.ResultError(f"pushed digest {pushed} differs from the layout's {digest}")
    return results.BuildResult(digest=digest, size=results.manifest_size(manifest))


def report(
    *, oci_layout: Path, digest_file: Path, image: str, termination_log: Path = TERMINATION_LOG
) -> str:
    """Write the result where the kubelet reads termination messages; return it."""
    message = read_result(oci_layout, digest_file).to_message(image)
    termination_log.write_text(message)
    return message
