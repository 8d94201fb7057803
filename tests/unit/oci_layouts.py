"""A real OCI image layout on disk, as Kaniko's --oci-layout-path writes one."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    path: Path
    digest_file: Path
    manifest_digest: str
    size: int  # config blob plus layer blobs, as a registry serves them


def _blob(root: Path, data: bytes) -> tuple[str, int]:
    hex_digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256" / hex_digest).write_bytes(data)
    return f"sha256:{hex_digest}", len(data)


def write_layout(
    root: Path,
    *,
    layers: tuple[bytes, ...] = (b"\x1f\x8b layer one" * 50, b"\x1f\x8b layer two" * 700),
    media_type: str = "application/vnd.oci.image.manifest.v1+json",
    architecture: str = "amd64",
    variant: str = "",
) -> Layout:
    """Blobs with their true sha256 digests, a manifest, index.json and a digest file."""
    layout = root / "oci"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    config_data = {
        "architecture": architecture,
        "os": "linux",
        "config": {"Entrypoint": ["/usr/local/bin/gitback"], "User": "65532:65532"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64] * len(layers)},
    }
    if variant:
        config_data["variant"] = variant
    config = json.dumps(config_data).encode()
    docker = "docker" in media_type
    config_digest, config_size = _blob(layout, config)
    layer_descriptors = []
    for layer in layers:
        digest, size = _blob(layout, layer)
        layer_descriptors.append(
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip"
                if docker
                else "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": digest,
                "size": size,
            }
        )
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json"
                if docker
                else "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_size,
            },
            "layers": layer_descriptors,
        }
    ).encode()
    manifest_digest, manifest_size = _blob(layout, manifest)
    (layout / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [
                    {"mediaType": media_type, "digest": manifest_digest, "size": manifest_size}
                ],
            }
        )
    )
    digest_file = root / "digest"
    # Kaniko writes the digest without a newline.
    digest_file.write_text(manifest_digest)
    return Layout(
        path=layout,
        digest_file=digest_file,
        manifest_digest=manifest_digest,
        size=config_size + sum(len(layer) for layer in layers),
    )
