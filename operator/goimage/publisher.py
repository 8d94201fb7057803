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


# --- pin-builder: the builder stage on the build node's platform ------------------------------
#
# Kaniko pulls every stage's base for --custom-platform and ignores FROM
# --platform (see kaniko_job's docstring): from a multi-platform index such as
# Docker Hub's golang it would take the target's toolchain, which the node
# cannot run without emulation. So before the platforms' Kaniko runs, the
# step `pin-builder` resolves the builder image to the digest of the build
# node's own platform (`crane digest --platform`), and writes the Dockerfile
# with the builder stage's FROM pinned to it; a digest names one manifest,
# which go-containerregistry takes as it is, whatever the platform asked.

DOCKER_HUB = "index.docker.io"
# uname -m to the platform Go and OCI name.
_MACHINES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm/v7",
    "armv6l": "arm/v6",
    "i686": "386",
    "i386": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def node_platform(machine: str) -> str:
    """The build node's platform from `uname -m` (this step runs natively on it)."""
    try:
        return f"linux/{_MACHINES[machine]}"
    except KeyError:
        raise results.ResultError(f"unknown machine {machine!r}") from None


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    identifier: str  # ":tag" or "@sha256:..."

    @classmethod
    def parse(cls, image: str) -> ImageRef:
        """A reference as Docker reads it: `golang:1.26` is index.docker.io/library/golang."""
        name, at, digest = image.partition("@")
        tag = ""
        if ":" in name.rsplit("/", 1)[-1]:
            name, _, tag = name.rpartition(":")
        host = registry_host(name)
        path = name if host == DOCKER_HUB else name.split("/", 1)[1]
        if host in ("docker.io", "registry-1.docker.io"):
            host = DOCKER_HUB
        if host == DOCKER_HUB and "/" not in path:
            path = f"library/{path}"
        identifier = f"@{digest}" if at else f":{tag or 'latest'}"
        return cls(registry=host, repository=path, identifier=identifier)

    def at(self, host: str, prefix: str = "") -> str:
        return f"{host}/{prefix}{self.repository}{self.identifier}"


def pull_candidates(image: str, mirrors: Sequence[str], registry_maps: Sequence[str]) -> list[str]:
    """Where Kaniko would pull `image` from, in its order: the maps of its registry
    (a Docker Hub mirror is a map of index.docker.io), then the registry itself."""
    ref = ImageRef.parse(image)
    mappings = [f"{DOCKER_HUB}={mirror}" for mirror in mirrors] + list(registry_maps)
    candidates = []
    for mapping in mappings:
        registry, _, target = mapping.partition("=")
        if registry != ref.registry or not target:
            continue
        host, _, prefix = target.partition("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        candidates.append(ref.at(host, prefix))
    candidates.append(ref.at(ref.registry))
    return list(dict.fromkeys(candidates))


def digest_argv(
    reference: str, platform: str, insecure_registries: Sequence[str] = ()
) -> list[str]:
    """crane's command that prints the digest of `reference`'s image for `platform`."""
    return [
        CRANE,
        "digest",
        f"--platform={platform}",
        *_flags(reference, insecure_registries),
        reference,
    ]


def pinned_dockerfile(dockerfile: str, image: str, digest: str) -> str:
    """The Dockerfile with the builder stage's FROM naming `image` by `digest`."""
    # The repository alone: a digest names the manifest, a tag beside it would only
    # be one more thing for every reader of the reference to parse.
    base = image.partition("@")[0]
    if ":" in base.rsplit("/", 1)[-1]:
        base = base.rpartition(":")[0]
    lines = dockerfile.splitlines(keepends=True)
    for index, line in enumerate(lines):
        words = line.split()
        if words[:1] == ["FROM"] and words[-2:] == ["AS", "build"] and words[-3] == image:
            words[-3] = f"{base}@{digest}"
            lines[index] = " ".join(words) + "\n"
            return "".join(lines)
    raise results.ResultError(f"the Dockerfile has no builder stage FROM {image}")


def pin_builder(
    *,
    dockerfile: Path,
    out: Path,
    image: str,
    platform: str,
    mirrors: Sequence[str] = (),
    registry_maps: Sequence[str] = (),
    insecure_registries: Sequence[str] = (),
) -> str:
    """Write `out` (and its .dockerignore) with the builder pinned for `platform`.

    Returns the digest; tries each place Kaniko would pull from, in its order."""
    errors = []
    for candidate in pull_candidates(image, mirrors, registry_maps):
        try:
            digest = results.check_digest(
                _crane(digest_argv(candidate, platform, insecure_registries))
            )
        except results.ResultError as error:
            errors.append(f"{candidate}: {error}")
            continue
        out.write_text(pinned_dockerfile(dockerfile.read_text(), image, digest))
        # Kaniko reads <Dockerfile>.dockerignore next to the Dockerfile it builds.
        ignore = dockerfile.with_name(f"{dockerfile.name}.dockerignore")
        if ignore.exists():
            out.with_name(f"{out.name}.dockerignore").write_text(ignore.read_text())
        return digest
    raise results.ResultError(f"no {platform} image of {image}: " + "; ".join(errors))
