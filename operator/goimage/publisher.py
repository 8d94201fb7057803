"""The `publish` step of a multi-platform build pod: platform images, then the index.

Runs after every platform's Kaniko run (each `--no-push`, its image in an OCI
layout), in the operator image, which carries `crane`. It is the pod's only
step besides Kaniko that talks to the registry, with the same docker config
(the push Secret, $DOCKER_CONFIG) and the same plain-HTTP registries. It
pushes each platform image by digest, then one OCI image index over them
under every tag, and writes what it pushed to a JSON file for `report`.

The index is deterministic: `crane index append` without a base starts from
go-containerregistry's empty OCI index and appends one descriptor per image
(media type, size, digest, and the platform read from the image's config),
with no annotations and no timestamps. So the same platform images in the
same order (the spec's) give the same index digest, under every tag.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from goimage.core import results
from goimage.core.kaniko_job import registry_host
from goimage.core.results import Published
from goimage.reporter import layout_image

CRANE = "crane"


@dataclass(frozen=True)
class PlatformLayout:
    platform: str
    path: Path


def _flags(repository: str, insecure_registries: Sequence[str]) -> list[str]:
    # crane's --insecure allows plain HTTP (and unverified TLS) for every
    # registry of the call: set only when the output's registry is one of them.
    return ["--insecure"] if registry_host(repository) in insecure_registries else []


def push_argv(
    layout: Path, repository: str, digest: str, insecure_registries: Sequence[str] = ()
) -> list[str]:
    """crane's command that pushes one platform's OCI layout, by its digest (no tag)."""
    return [
        CRANE,
        "push",
        *_flags(repository, insecure_registries),
        str(layout),
        f"{repository}@{digest}",
    ]


def index_argv(
    repository: str,
    tag: str,
    digests: Sequence[str],
    insecure_registries: Sequence[str] = (),
) -> list[str]:
    """crane's command that pushes the index over `digests` (in order) as repository:tag."""
    manifests = [arg for digest in digests for arg in ("--manifest", f"{repository}@{digest}")]
    return [
        CRANE,
        "index",
        "append",
        *_flags(repository, insecure_registries),
        f"--tag={repository}:{tag}",
        *manifests,
    ]


def pushed_digest(stdout: str, repository: str) -> str:
    """The digest in crane's last line of output, `repository@sha256:...`."""
    lines = stdout.strip().splitlines()
    reference = lines[-1].strip() if lines else ""
    name, _, digest = reference.rpartition("@")
    if name != repository:
        raise results.ResultError(f"crane printed {reference[:200]!r}, not {repository}@<digest>")
    return results.check_digest(digest)


def _crane(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise results.ResultError(
            f"{' '.join(argv[:3])} failed ({done.returncode}): {done.stderr.strip()[-1500:]}"
        )
    return done.stdout


def publish(
    *,
    layouts: Sequence[PlatformLayout],
    repository: str,
    tags: Sequence[str],
    insecure_registries: Sequence[str] = (),
    out: Path,
) -> Published:
    """Push every platform image, then the index under every tag; write `out`."""
    platforms = []
    for layout in layouts:
        digest, _ = layout_image(layout.path)
        pushed = pushed_digest(
            _crane(push_argv(layout.path, repository, digest, insecure_registries)), repository
        )
        if pushed != digest:
            raise results.ResultError(
                f"{layout.platform}: crane pushed {pushed}, the layout holds {digest}"
            )
        platforms.append((layout.platform, digest))
    digests = [digest for _, digest in platforms]
    index_digests = {
        pushed_digest(_crane(index_argv(repository, tag, digests, insecure_registries)), repository)
        for tag in tags
    }
    if len(index_digests) != 1:
        raise results.ResultError(f"the tags got different indexes: {sorted(index_digests)}")
    published = Published(
        index_digest=index_digests.pop(), platforms=tuple(platforms), tags=tuple(tags)
    )
    out.write_text(published.to_json())
    return published
