"""Which of a GoImageBuild's builds to stop or forget.

Builds of older generations that still run are stopped (a new spec supersedes
them); finished ones are kept as history, the newest `keep` of them. A build
is known by its Job: `records_from_jobs` reads what this needs from them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The Job conditions that end a Job for good (the Job controller sets them last).
_FINISHED = ("Complete", "Failed")


@dataclass(frozen=True)
class BuildRecord:
    name: str
    created: str  # RFC 3339, so it sorts as text
    finished: bool


def records_from_jobs(jobs: Iterable[Mapping[str, Any]]) -> list[BuildRecord]:
    """One record per build Job (as the API server shows it), in the order given."""
    return [
        BuildRecord(
            name=job["metadata"]["name"],
            created=job["metadata"].get("creationTimestamp") or "",
            finished=job_finished(job),
        )
        for job in jobs
    ]


def job_finished(job: Mapping[str, Any]) -> bool:
    """Whether a build's Job has ended (Complete or Failed): it no longer holds a slot."""
    return any(
        c.get("type") in _FINISHED and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


def builds_to_remove(records: Iterable[BuildRecord], *, current: str, keep: int) -> list[str]:
    """Names of the builds to delete, besides `current`, oldest first."""
    others = sorted((r for r in records if r.name != current), key=lambda r: (r.created, r.name))
    finished = [r.name for r in others if r.finished]
    expired = set(finished[: max(len(finished) - keep, 0)])
    return [r.name for r in others if not r.finished or r.name in expired]
