"""conditions: Ready, Reconciling and Stalled in the kstatus shape."""

from __future__ import annotations

from typing import Any

import pytest

from goimage.core.conditions import READY, RECONCILING, STALLED, Phase, Reason, conditions_for

T0 = "2025-11-20T10:00:00Z"
T1 = "2025-11-20T10:05:00Z"


def by_type(conditions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in conditions}


@pytest.mark.parametrize(
    ("phase", "reason", "ready", "reconciling", "stalled"),
    [
        (Phase.PENDING, Reason.PENDING, "False", "True", "False"),
        (Phase.BUILDING, Reason.BUILDING, "False", "True", "False"),
        (Phase.SUCCEEDED, Reason.SUCCEEDED, "True", "False", "False"),
        (Phase.FAILED, Reason.BUILD_FAILED, "False", "False", "True"),
        (Phase.FAILED, Reason.IMAGE_TOO_LARGE, "False", "False", "True"),
    ],
)
def test_statuses_per_phase(
    phase: Phase, reason: Reason, ready: str, reconciling: str, stalled: str
) -> None:
    made = conditions_for(phase, reason, "msg", generation=3, now=T0)
    assert [c["type"] for c in made] == [READY, RECONCILING, STALLED]
    got = by_type(made)
    assert (got[READY]["status"], got[RECONCILING]["status"], got[STALLED]["status"]) == (
        ready,
        reconciling,
        stalled,
    )
    for cond in made:
        assert cond["reason"] == str(reason)
        assert cond["observedGeneration"] == 3
        assert cond["lastTransitionTime"] == T0
        assert set(cond) == {
            "type",
            "status",
            "reason",
            "message",
            "lastTransitionTime",
            "observedGeneration",
        }


def test_messages_only_on_ready_and_active_conditions() -> None:
    failed = by_type(conditions_for(Phase.FAILED, Reason.TIMEOUT, "too slow", generation=1, now=T0))
    assert failed[READY]["message"] == "too slow"
    assert failed[STALLED]["message"] == "too slow"
    assert failed[RECONCILING]["message"] == ""
    building = by_type(
        conditions_for(Phase.BUILDING, Reason.BUILDING, "kaniko", generation=1, now=T0)
    )
    assert building[RECONCILING]["message"] == "kaniko"
    assert building[STALLED]["message"] == ""


def test_transition_time_kept_while_status_holds() -> None:
    before = conditions_for(Phase.PENDING, Reason.PENDING, "waiting", generation=2, now=T0)
    after = by_type(
        conditions_for(
            Phase.BUILDING, Reason.BUILDING, "building", generation=2, now=T1, previous=before
        )
    )
    # Pending -> Building changes no status: all three keep their time.
    assert {c["lastTransitionTime"] for c in after.values()} == {T0}
    assert after[READY]["reason"] == "Building"


def test_transition_time_moves_with_status() -> None:
    before = conditions_for(Phase.BUILDING, Reason.BUILDING, "", generation=2, now=T0)
    after = by_type(
        conditions_for(
            Phase.SUCCEEDED, Reason.SUCCEEDED, "pushed", generation=2, now=T1, previous=before
        )
    )
    assert after[READY]["lastTransitionTime"] == T1
    assert after[RECONCILING]["lastTransitionTime"] == T1
    assert after[STALLED]["lastTransitionTime"] == T0


def test_previous_without_time_uses_now() -> None:
    previous = [{"type": READY, "status": "False"}]
    made = by_type(
        conditions_for(Phase.PENDING, Reason.PENDING, "", generation=1, now=T1, previous=previous)
    )
    assert made[READY]["lastTransitionTime"] == T1


def test_reason_values_are_the_documented_set() -> None:
    assert {str(r) for r in Reason} >= {
        "SourceFailed",
        "BuildFailed",
        "PushFailed",
        "OutOfMemory",
        "Timeout",
        "ImageTooLarge",
        "InvalidSpec",
    }
    assert [str(p) for p in Phase] == ["Pending", "Building", "Succeeded", "Failed"]
