"""Which build, Job, pod and steps `kubectl gib logs` reads, from objects as the API server
shows them; and how it prefixes their lines."""

from __future__ import annotations

from typing import Any

import pytest

from goimage.core import naming
from goimage.plugin import builds
from goimage.plugin.builds import Step
from goimage.plugin.logs import prefixed

UID = "uid-hello"


def job(build: str, *, created: str, uid: str = UID, name: str = "hello") -> dict[str, Any]:
    generation = build.split("-", 1)[0]
    return {
        "metadata": {
            "name": naming.build_object_name(name, build),
            "uid": f"job-{build}",
            "creationTimestamp": created,
            "labels": naming.child_labels(name, uid, int(generation), build),
        }
    }


def resource(job_name: str | None = None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "hello", "uid": UID},
        "status": {**({"jobName": job_name} if job_name else {}), **status},
    }


JOBS = [
    job("2", created="2026-01-01T00:00:02Z"),
    job("3", created="2026-01-01T00:00:03Z"),
    job("3-1a2b3c", created="2026-01-01T00:00:04Z"),
    job("3-0f0f0f", created="2026-01-01T00:00:05Z"),
    # A resource of the same name before this one was deleted: never its builds.
    job("4", created="2026-01-01T00:00:06Z", uid="uid-of-an-older-hello"),
]


def names(found: dict[str, Any] | None) -> str | None:
    return None if found is None else found["metadata"]["name"]


def test_the_current_build_is_status_job_name() -> None:
    assert names(builds.choose_job(resource("hello-3-1a2b3c"), JOBS, None)) == "hello-3-1a2b3c"
    assert builds.choose_job(resource(), JOBS, None) is None  # queued: no Job yet
    assert builds.choose_job(resource("hello-9"), JOBS, None) is None  # its Job is gone


@pytest.mark.parametrize(
    ("asked", "found"),
    [
        ("2", "hello-2"),
        ("3", "hello-3"),  # the build id 3 itself, not a rebuild of generation 3
        ("3-1a2b3c", "hello-3-1a2b3c"),
        ("hello-3-0f0f0f", "hello-3-0f0f0f"),  # a Job name
    ],
)
def test_build_n_by_id_or_job_name(asked: str, found: str) -> None:
    assert names(builds.choose_job(resource("hello-2"), JOBS, asked)) == found


def test_a_generation_with_rebuilds_means_its_newest_build() -> None:
    only_rebuilds = [j for j in JOBS if builds.build_id_of(j) != "3"]
    assert names(builds.choose_job(resource(), only_rebuilds, "3")) == "hello-3-0f0f0f"


def test_a_build_not_kept_names_those_that_are() -> None:
    with pytest.raises(builds.NoSuchBuild) as missing:
        builds.choose_job(resource(), JOBS, "4")
    assert missing.value.kept == ["2", "3", "3-1a2b3c", "3-0f0f0f"]


def test_a_long_name_finds_its_shortened_job_name() -> None:
    long = "a" * 60
    jobs = [job("7", created="2026-01-01T00:00:00Z", name=long)]
    body = {"metadata": {"name": long, "uid": UID}, "status": {}}
    assert names(builds.choose_job(body, jobs, "7")) == naming.build_object_name(long, "7")


def pod(name: str, job_uid: str, created: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": created,
            "ownerReferences": [{"uid": job_uid, "controller": True, "kind": "Job"}],
        }
    }


def test_the_pod_is_the_newest_that_the_job_controls() -> None:
    the_job = JOBS[1]
    pods = [
        pod("hello-3-old", "job-3", "2026-01-01T00:00:01Z"),
        pod("hello-3-new", "job-3", "2026-01-01T00:00:09Z"),
        pod("imposter", "job-other", "2026-01-01T00:00:10Z"),
    ]
    assert names(builds.choose_pod(the_job, pods)) == "hello-3-new"
    assert builds.choose_pod(the_job, pods[2:]) is None


def spec_pod(init: list[str], containers: list[str], **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p"},
        "spec": {
            "initContainers": [{"name": n} for n in init],
            "containers": [{"name": n} for n in containers],
        },
        "status": status,
    }


def test_steps_of_a_single_platform_build() -> None:
    assert builds.steps(spec_pod(["build"], ["report"])) == [
        Step("build", init=True),
        Step("report", init=False),
    ]


def test_steps_of_a_multi_platform_build_in_order() -> None:
    found = builds.steps(
        spec_pod(
            ["build-linux-amd64", "build-linux-arm64-v8", "publish", "something-else"],
            ["report", "sidecar"],
        )
    )
    assert [s.container for s in found] == [
        "build-linux-amd64",
        "build-linux-arm64-v8",
        "publish",
        "report",
    ]


def test_what_a_step_is_doing() -> None:
    running = {"running": {"startedAt": "t"}}
    waiting = {"waiting": {"reason": "ImagePullBackOff", "message": "no such image"}}
    p = spec_pod(
        ["build", "publish"],
        ["report"],
        phase="Pending",
        initContainerStatuses=[
            {"name": "build", "state": {"terminated": {"exitCode": 0}}},
            {"name": "publish", "state": running},
        ],
        containerStatuses=[{"name": "report", "state": waiting}],
    )
    build, publish, report = builds.steps(p)
    assert builds.has_started(p, build)
    assert builds.has_ended(p, build)
    assert builds.has_started(p, publish)
    assert not builds.has_ended(p, publish)
    assert not builds.has_started(p, report)
    assert builds.waiting_reason(p, report) == "ImagePullBackOff: no such image"
    assert not builds.pod_finished(p)


def test_an_unscheduled_pod_says_why() -> None:
    p = spec_pod(
        ["build"],
        ["report"],
        phase="Pending",
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/1 nodes are available",
            }
        ],
    )
    assert builds.waiting_reason(p, builds.steps(p)[0]) == "Unschedulable: 0/1 nodes are available"
    assert builds.waiting_reason(spec_pod(["build"], []), Step("build", init=True)) == (
        "pod is Pending"
    )


def test_status_summaries() -> None:
    failed = resource(
        "hello-3",
        phase="Failed",
        failure={"reason": "BuildPodDeleted", "message": "the build pod was deleted"},
    )
    assert builds.status_summary(failed) == (
        "phase Failed, reason BuildPodDeleted: the build pod was deleted"
    )
    queued = resource(
        phase="Pending", conditions=[{"type": "Ready", "reason": "Queued", "message": "number 2"}]
    )
    assert builds.status_summary(queued) == "phase Pending, Queued: number 2"
    finished = {
        "status": {
            "conditions": [
                {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "m"}
            ]
        }
    }
    assert builds.job_summary(finished) == "Job Failed (DeadlineExceeded: m)"
    assert builds.job_summary({"status": {}}) == "Job has not finished"


def test_lines_are_prefixed_with_their_step_across_chunks() -> None:
    chunks = [b"INFO[0000] Resolved", b" base name\nINFO[0001] Push", b"ed\n", b"no newline"]
    assert list(prefixed("build-linux-arm64", chunks)) == [
        "[build-linux-arm64] INFO[0000] Resolved base name\n",
        "[build-linux-arm64] INFO[0001] Pushed\n",
        "[build-linux-arm64] no newline\n",
    ]
    assert list(prefixed("report", [b""])) == []
