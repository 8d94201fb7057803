"""Phases, reasons and the conditions that GitOps tools read.

Conditions follow kstatus: `Ready` is True only when the current generation is
built, pushed and within budget; `Reconciling` is True while a build runs;
`Stalled` is True when it failed and only a spec change (or the rebuild
annotation) will move it. With `observedGeneration` current, Argo CD, Flux and
`kubectl wait --for=condition=Ready` need no configuration.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any


class Phase(enum.StrEnum):
    PENDING = "Pending"
    BUILDING = "Building"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class Reason(enum.StrEnum):
    """Why a build is where it is; the failure ones are documented in docs/api.md."""

    PENDING = "Pending"
    BUILDING = "Building"
    SUCCEEDED = "Succeeded"
    SOURCE_FAILED = "SourceFailed"
    BUILD_FAILED = "BuildFailed"
    PUSH_FAILED = "PushFailed"
    OUT_OF_MEMORY = "OutOfMemory"
    TIMEOUT = "Timeout"
    IMAGE_TOO_LARGE = "ImageTooLarge"
    INVALID_SPEC = "InvalidSpec"
    POLICY_VIOLATION = "PolicyViolation"
    QUEUED = "Queued"
    # Pending: the API server refused the build's Job or pod for a ResourceQuota.
    WAITING_FOR_QUOTA = "WaitingForQuota"
    # Pending: git could not be asked which commit to build (down, timed out,
    # credentials refused); tried again with a growing delay.
    SOURCE_UNAVAILABLE = "SourceUnavailable"
    # Failed, not by the build's own doing: a rebuild is likely to succeed.
    BUILD_POD_DELETED = "BuildPodDeleted"
    BUILD_POD_EVICTED = "BuildPodEvicted"
    NODE_LOST = "NodeLost"
    RESULT_LOST = "ResultLost"
    # Failed: the node's disk, or the build's ephemeral-storage limit, was full.
    OUT_OF_DISK = "OutOfDisk"


READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"


def condition(
    type_: str,
    status: bool,
    *,
    reason: str,
    message: str,
    generation: int,
    now: str,
    previous: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A metav1.Condition; its lastTransitionTime moves only when its status does."""
    text = "True" if status else "False"
    since = now
    for old in previous:
        if old.get("type") == type_ and old.get("status") == text:
            since = str(old.get("lastTransitionTime") or now)
    return {
        "type": type_,
        "status": text,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
        "observedGeneration": generation,
    }


def conditions_for(
    phase: Phase,
    reason: Reason,
    message: str,
    *,
    generation: int,
    now: str,
    previous: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Ready, Reconciling and Stalled for a phase, in that order."""
    running = phase in (Phase.PENDING, Phase.BUILDING)
    failed = phase is Phase.FAILED
    settled = str(reason)

    def make(type_: str, status: bool, *, active: bool) -> dict[str, Any]:
        # Reconciling and Stalled carry the message only while they are True.
        return condition(
            type_,
            status,
            reason=settled,
            message=message if active else "",
            generation=generation,
            now=now,
            previous=previous,
        )

    return [
        make(READY, phase is Phase.SUCCEEDED, active=True),
        make(RECONCILING, running, active=running),
        make(STALLED, failed, active=failed),
    ]
