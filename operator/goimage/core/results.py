"""The build's result as the `report` step writes it, and as the status shows it.

The report container's termination message is one JSON object:
`{"digest": "sha256:...", "size": 8123456, "image": "repo@sha256:..."}`.
Size is what a registry serves for the manifest: the config blob plus the
compressed layers, the figure `crane manifest` users add up.
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
class BuildResult:
    digest: str
    size: int

    def image(self, repository: str) -> str:
        return f"{repository}@{self.digest}"

    def to_message(self, repository: str) -> str:
        return json.dumps(
            {"digest": self.digest, "size": self.size, "image": self.image(repository)},
            sort_keys=True,
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
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ResultError(f"report step wrote a bad size: {size!r}")
    return BuildResult(digest=check_digest(str(digest)), size=size)


def human_size(size: int) -> str:
    """Bytes in binary units with one decimal: 8123456 -> '7.7 MiB'."""
    value = float(size)
    for unit in _UNITS:
        # Compare what is shown: 1048575 B is "1.0 MiB", not "1024.0 KiB".
        if round(value, 1) < 1024 or unit == _UNITS[-1]:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
