"""Statuses of builds the operator does not run (yet): refused, queued."""

from __future__ import annotations

from tests.unit import factories

from goimage.core import naming, status, status_update
from goimage.core.conditions import Reason

NOW = "2026-01-01T00:00:00Z"
LATER = "2026-01-01T00:05:00Z"


def test_policy_violation_is_failed_without_a_job_and_keeps_its_time() -> None:
    patch = status.status_for_policy_violation(
        generation=2, messages=["a: no", "b: no"], previous={}, now=NOW
    )
    assert patch["phase"] == "Failed"
    assert patch["failure"] == {"reason": "PolicyViolation", "message": "a: no; b: no"}
    ready = patch["conditions"][0]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "PolicyViolation",
        "a: no; b: no",
    )
    again = status.status_for_policy_violation(
        generation=2, messages=["a: no", "b: no"], previous=patch, now=LATER
    )
    assert not status.would_change(again, patch)


def test_queued_says_its_place_and_keeps_its_time() -> None:
    plan = factories.plan()
    patch = status.status_for_queued(
        plan, position=2, waiting=3, limit=1, policy="team-builds", previous={}, now=NOW
    )
    assert patch["phase"] == "Pending"
    assert patch["queuedSince"] == NOW
    assert patch["jobName"] is None
    ready = patch["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", str(Reason.QUEUED))
    assert ready["message"] == (
        "build 3 is queued: number 2 of 3 waiting in namespace team-a, where 1 may build at "
        'once (maxConcurrentBuilds of GoImageBuildPolicy "team-builds"); '
        "it starts when a slot frees"
    )
    moved = status.status_for_queued(
        plan, position=1, waiting=2, limit=1, policy="team-builds", previous=patch, now=LATER
    )
    assert moved["queuedSince"] == NOW
    assert "number 1 of 2" in moved["conditions"][0]["message"]


def test_controller_uid() -> None:
    owned = {"ownerReferences": [{"uid": "a"}, {"uid": "b", "controller": True}]}
    assert naming.controller_uid(owned) == "b"
    assert naming.controller_uid({"ownerReferences": [{"uid": "a"}]}) is None
    assert naming.controller_uid({}) is None


def pod_spec(report_image: str = "reporter:1") -> dict[str, object]:
    return {
        "initContainers": [{"name": "build", "image": "kaniko:1", "args": ["--x"]}],
        "containers": [{"name": "report", "image": report_image}],
        "volumes": [{"name": "out", "emptyDir": {}}],
        "nodeName": "n1",
    }


def test_a_pod_runs_its_jobs_template_when_its_containers_and_volumes_are_the_same() -> None:
    job = {"metadata": {}, "spec": {"template": {"spec": pod_spec()}}}
    same = {
        status_update.FINGERPRINT: status_update.pod_fingerprint(pod_spec() | {"nodeName": "n2"})
    }
    other = {status_update.FINGERPRINT: status_update.pod_fingerprint(pod_spec("evil:1"))}
    assert status_update.runs_template(same, job)
    assert not status_update.runs_template(other, job)
    assert not status_update.runs_template({}, job)


def test_only_a_job_the_build_controls_runs_its_current_build() -> None:
    owner = {"metadata": {"uid": "u1", "generation": 3}}
    labels = {naming.LABEL_BUILD_ID: "3"}
    owned = {"metadata": {"labels": labels, "ownerReferences": [{"uid": "u1", "controller": True}]}}
    copied = {"metadata": {"labels": labels}}
    assert status_update.runs_current_build(owned, owner)
    assert not status_update.runs_current_build(copied, owner)
