"""The build's result as the `report` step writes it, and as the status shows it.

The report container's termination message is one JSON object:
`{"digest": "sha256:...", "size": 8123456, "image": "repo@sha256:..."}`.
Size is what a registry serves for the manifest: the config blob plus the
compressed layers, the figure `crane manifest` users add up.

A build of several platforms adds `platforms: [{platform, digest, size}]`, one
entry per platform image; then `digest` and `image` name the OCI image index
pushed under the tags, and `size` is the largest platform image (what
output.maxSize is held against: each platform must fit). At most eight
platforms of about 130 bytes each keep the message far below the kubelet's
4 KiB.

Every build also names the SBOM and the provenance that `publish` attached to
it (OCI artifacts whose subject is the image, or the index):
`"sbom": {"digest": "sha256:...", "mediaType": "application/spdx+json"}` and
`"provenance": {"digest": "sha256:..."}`, about 190 bytes together.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


class ResultError(ValueError):
    """The report step's output is missing or malformed."""


@dataclass(frozen=True)
class PlatformResult:
    """One platform's image of a multi-platform build."""

    platform: str
    digest: str
    size: int

    def as_status(self) -> dict[str, Any]:
        return {"platform": self.platform, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Artifact:
    """An OCI artifact `publish` attached to the image: its manifest's digest, the media
    type of its document, and the digest of the manifest it refers to (its subject)."""

    digest: str
    media_type: str
    subject: str = ""

    def as_status(self) -> dict[str, str]:
        return {"digest": self.digest, "mediaType": self.media_type}

    def as_json(self) -> dict[str, str]:
        return {**self.as_status(), "subject": self.subject}

    @classmethod
    def from_json(cls, raw: object, what: str) -> Artifact | None:
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            raise ResultError(f"a bad {what} entry: {str(raw)[:200]!r}")
        try:
            return cls(
                digest=check_digest(str(raw["digest"])),
                media_type=str(raw.get("mediaType") or ""),
                subject=check_digest(str(raw["subject"])) if raw.get("subject") else "",
            )
        except (KeyError, TypeError) as error:
            raise ResultError(f"a bad {what} entry ({error!r}): {str(raw)[:200]!r}") from None


@dataclass(frozen=True)
class BuildResult:
    digest: str
    size: int
    platforms: tuple[PlatformResult, ...] = ()
    sbom: Artifact | None = None
    provenance: Artifact | None = None

    def image(self, repository: str) -> str:
        return f"{repository}@{self.digest}"

    def to_message(self, repository: str) -> str:
        data: dict[str, Any] = {
            "digest": self.digest,
            "size": self.size,
            "image": self.image(repository),
        }
        if self.platforms:
            data["platforms"] = [p.as_status() for p in self.platforms]
        if self.sbom is not None:
            data["sbom"] = self.sbom.as_status()
        if self.provenance is not None:
            data["provenance"] = {"digest": self.provenance.digest}
        return json.dumps(data, sort_keys=True)

    def over(self, budget: int) -> tuple[str, ...]:
        """The platforms whose image is bigger than `budget` (of several; else empty)."""
        return tuple(p.platform for p in self.platforms if p.size > budget)


@dataclass(frozen=True)
class Published:
    """What the `publish` step pushed (published.json), which `report` checks against.

    One platform: Kaniko pushed the image; publish pushed only the SBOM and the
    provenance, so `index_digest` is "" and `platforms` and `tags` are empty.
    """

    index_digest: str
    platforms: tuple[tuple[str, str], ...]  # (platform, manifest digest), in the spec's order
    tags: tuple[str, ...]
    sbom: Artifact | None = None
    provenance: Artifact | None = None
    # Several platforms: each platform image's own SBOM, (platform, artifact).
    platform_sboms: tuple[tuple[str, Artifact], ...] = ()

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "index": self.index_digest or None,
            "platforms": [{"platform": p, "digest": d} for p, d in self.platforms],
            "tags": list(self.tags),
        }
        if self.sbom is not None:
            data["sbom"] = self.sbom.as_json()
        if self.provenance is not None:
            data["provenance"] = self.provenance.as_json()
        if self.platform_sboms:
            data["platformSboms"] = [{"platform": p, **a.as_json()} for p, a in self.platform_sboms]
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Published:
        try:
            data = json.loads(text)
            platforms = tuple((str(p["platform"]), str(p["digest"])) for p in data["platforms"])
            tags = tuple(str(tag) for tag in data["tags"])
            index = str(data.get("index") or "")
            raw_sboms = data.get("platformSboms") or []
            platform_sboms = [(str(p["platform"]), p) for p in raw_sboms]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ResultError(f"publish wrote no usable result: {error!r}") from None
        sboms = []
        for platform, raw in platform_sboms:
            artifact = Artifact.from_json(raw, "platform SBOM")
            if artifact is not None:
                sboms.append((platform, artifact))
        return cls(
            index_digest=check_digest(index) if index else "",
            platforms=tuple((p, check_digest(d)) for p, d in platforms),
            tags=tags,
            sbom=Artifact.from_json(data.get("sbom"), "SBOM"),
            provenance=Artifact.from_json(data.get("provenance"), "provenance"),
            platform_sboms=tuple(sboms),
        )


def index_result(index_digest: str, platforms: tuple[PlatformResult, ...]) -> BuildResult:
    """A multi-platform build's result: the index, sized by its largest image."""
    if not platforms:
        raise ResultError("an image index without platform images")
    return BuildResult(
        digest=check_digest(index_digest),
        size=max(p.size for p in platforms),
        platforms=platforms,
    )


def manifest_size(manifest: Mapping[str, Any]) -> int:
    """Config plus compressed layer sizes of an image manifest (OCI or Docker v2)."""
    try:
        config = int(manifest["config"]["size"])
        layers = sum(int(layer["size"]) for layer in manifest["layers"])
    except (KeyError, TypeError, ValueError) as error:
        raise ResultError(f"not an image manifest: {error!r}") from None
    return config + layers


def check_digest(digest: str) -> str:
    digest = digest.strip()
    if not _DIGEST.match(digest):
        raise ResultError(f"{digest[:80]!r} is not a sha256 digest")
    return digest


def parse_result(message: str) -> BuildResult:
    """The BuildResult in a report container's termination message."""
    try:
        data = json.loads(message)
        digest, size = data["digest"], data["size"]
    except (ValueError, KeyError, TypeError) as error:
        raise ResultError(f"report step wrote no result ({error!r}): {message[:200]!r}") from None
    _check_size(size)
    return BuildResult(
        digest=check_digest(str(digest)),
        size=size,
        platforms=_platforms(data.get("platforms")),
        sbom=Artifact.from_json(data.get("sbom"), "SBOM"),
        provenance=Artifact.from_json(data.get("provenance"), "provenance"),
    )


def _check_size(size: object) -> int:
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ResultError(f"report step wrote a bad size: {size!r}")
    return size


def _platforms(raw: object) -> tuple[PlatformResult, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ResultError(f"report step wrote bad platforms: {str(raw)[:200]!r}")
    platforms = []
    for item in raw:
        try:
            platform, digest, size = item["platform"], item["digest"], item["size"]
        except (KeyError, TypeError) as error:
            raise ResultError(f"report step wrote a bad platform entry ({error!r})") from None
        platforms.append(
            PlatformResult(str(platform), check_digest(str(digest)), _check_size(size))
        )
    return tuple(platforms)


def human_size(size: int) -> str:
    """Bytes in binary units with one decimal: 8123456 -> '7.7 MiB'."""
    value = float(size)
    for unit in _UNITS:
        # Compare what is shown: 1048575 B is "1.0 MiB", not "1024.0 KiB".
        if round(value, 1) < 1024 or unit == _UNITS[-1]:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
