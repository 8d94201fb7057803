"""Which of a GoImageBuild's builds to stop or forget.

Builds of older generations that still run are stopped (a new spec supersedes
them); finished ones are kept as history, the newest `keep` of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class BuildRecord:
    name: str
    created: str  # RFC 3339, so it sorts as text
    finished: bool


def builds_to_remove(records: Iterable[BuildRecord], *, current: str, keep: int) -> list[str]:
    """Names of the builds to delete, besides `current`, oldest first."""
    others = sorted((r for r in records if r.name != current), key=lambda r: (r.created, r.name))
    finished = [r.name for r in others if r.finished]
    expired = set(finished[: max(len(finished) - keep, 0)])
    return [r.name for r in others if not r.finished or r.name in expired]
