"""What the indexes keep of each object, and kopf's wait for them at start.

The indexes keep only what the handlers read (memory per build); the core
must derive the same status from the kept parts as from the whole objects.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any, cast

import kopf
import pytest
from kopf._cogs.aiokits import aiotoggles
from tests.unit import factories
from tests.unit.test_status import (
    NOW,
    job_complete,
    job_failed,
    job_running,
    pod_build_failed,
    pod_succeeded,
)

from goimage.core import kept, naming, status, status_update
from goimage.handlers import indexes

MANAGED_FIELDS = [{"manager": "kube-controller-manager", "fieldsV1": {"f:status": {}}}]
FOREIGN = {
    "kubectl.kubernetes.io/last-applied-configuration": '{"spec": "the whole of it"}',
    "kopf.goimage.dev/last-handled-configuration": '{"spec": "the whole of it again"}',
}


def as_served(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` with what the API server and other clients add: managedFields, annotations."""
    served = copy.deepcopy(obj)
    served["metadata"]["managedFields"] = copy.deepcopy(MANAGED_FIELDS)
    served["metadata"]["annotations"] = {**served["metadata"].get("annotations", {}), **FOREIGN}
    return served


def pod_of(job: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
    """`pod` as the Job controller makes it: the Job's template, its controller reference."""
    pod = copy.deepcopy(pod)
    pod["spec"] = copy.deepcopy(job["spec"]["template"]["spec"])
    pod["metadata"]["ownerReferences"] = [
        {"kind": "Job", "name": job["metadata"]["name"], "uid": job["metadata"]["uid"],
         "controller": True}
    ]  # fmt: skip
    return as_served(pod)


def index(function: Any, obj: dict[str, Any], **kwargs: Any) -> dict[Any, Any]:
    """An index function called as kopf calls it (the arguments it reads)."""
    body = kopf.Body(cast(kopf.RawBody, obj))
    entries: dict[Any, Any] = function(namespace="team-a", body=body, **kwargs)
    return entries


def indexed_job(job: dict[str, Any]) -> dict[str, Any]:
    [value] = index(indexes.build_jobs, job, labels=job["metadata"]["labels"]).values()
    return dict(value)


def indexed_pod(pod: dict[str, Any]) -> dict[str, Any]:
    [value] = index(indexes.build_pods, pod).values()
    return dict(value)


def whole_pod(pod: dict[str, Any]) -> dict[str, Any]:
    """A pod with every field and its fingerprint: what the handlers had before."""
    fingerprint = status_update.pod_fingerprint(pod.get("spec") or {})
    return copy.deepcopy(pod) | {status_update.FINGERPRINT: fingerprint}


JOBS = {"running": job_running, "complete": job_complete}
PODS = {
    "succeeded": pod_succeeded,
    "build failed": lambda: pod_build_failed("main.go:3: undefined: x"),
}


# The objects as the API server serves them, or as handlers/slim_watch.py hands them to
# kopf (then to the indexes and handlers): the same statuses either way.
ARRIVING = ("whole", "kept view")


def arriving(how: str, obj: dict[str, Any], keep: Any) -> dict[str, Any]:
    return dict(keep(copy.deepcopy(obj))) if how == "kept view" else obj


@pytest.mark.parametrize("how", ARRIVING)
@pytest.mark.parametrize("job_kind", JOBS)
@pytest.mark.parametrize("pod_kind", PODS)
def test_the_core_derives_the_same_status_from_what_the_indexes_keep(
    job_kind: str, pod_kind: str, how: str
) -> None:
    job = as_served(JOBS[job_kind]())
    pod = pod_of(job, PODS[pod_kind]())
    kept_job = indexed_job(arriving(how, job, kept.job))
    kept_pod = indexed_pod(arriving(how, pod, kept.pod))
    full = status.status_from_build(job=job, pod=whole_pod(pod), previous={}, now=NOW)
    derived = status.status_from_build(job=kept_job, pod=kept_pod, previous={}, now=NOW)
    assert derived == full
    assert status_update.runs_template(kept_pod, kept_job)
    assert status_update.runs_template(kept.pod(pod), kept.job(job))
    assert history_fields(kept_job) == history_fields(job)


def test_a_failed_job_reads_the_same_from_its_kept_parts() -> None:
    job = as_served(job_failed("DeadlineExceeded", "Job was active longer than specified"))
    kept = indexed_job(job)
    assert status.status_from_build(job=kept, pod=None, previous={}, now=NOW) == (
        status.status_from_build(job=job, pod=None, previous={}, now=NOW)
    )


def history_fields(job: dict[str, Any]) -> tuple[Any, ...]:
    meta = job["metadata"]
    return (meta["name"], meta.get("creationTimestamp"), meta.get("labels"), job.get("status"))


def test_a_pod_of_another_template_still_differs_from_the_kept_job() -> None:
    job = as_served(job_running())
    pod = pod_of(job, factories.with_values(pod_succeeded(), {}))
    pod["spec"]["initContainers"][0]["args"] = ["--destination=elsewhere.example/x"]
    assert not status_update.runs_template(indexed_pod(pod), indexed_job(job))


def test_the_indexes_keep_no_managed_fields_and_only_the_operators_annotations() -> None:
    job = as_served(job_running())
    template_fingerprint = status_update.pod_fingerprint(job["spec"]["template"]["spec"])
    for indexed in (indexed_job(job), indexed_job(kept.job(job)), kept.job(job)):
        assert "managedFields" not in indexed["metadata"]
        assert indexed["metadata"]["annotations"] == job_running()["metadata"]["annotations"]
        assert "template" not in indexed["spec"]
        assert indexed[status_update.FINGERPRINT] == template_fingerprint
    pod = pod_of(job, pod_succeeded())
    assert set(kept.pod(pod)) <= {"apiVersion", "kind", "metadata", "status", "fingerprint"}
    assert kept.pod(pod)[status_update.FINGERPRINT] == template_fingerprint


def test_a_goimagebuild_arrives_without_managed_fields_and_kubectls_copy_of_its_spec() -> None:
    body = as_served(factories.body())
    slim = kept.goimagebuild(body)
    assert "managedFields" not in slim["metadata"]
    assert slim["metadata"]["annotations"] == {
        "kopf.goimage.dev/last-handled-configuration": FOREIGN[
            "kopf.goimage.dev/last-handled-configuration"
        ]
    }
    assert slim["spec"] == body["spec"]


def test_a_resolve_job_arrives_whole_but_its_managed_fields() -> None:
    job = as_served(job_running())
    job["metadata"]["labels"][naming.LABEL_COMPONENT] = naming.COMPONENT_RESOLVE
    expected = copy.deepcopy(job)
    del expected["metadata"]["managedFields"]
    assert kept.job(job) == expected
    assert kept.pod(job) == expected


def test_a_goimagebuild_keeps_its_rebuild_token_and_status() -> None:
    body = as_served(factories.body())
    body["metadata"]["annotations"][naming.ANNOTATION_REBUILD] = "2026-01-01"
    body["status"] = {"phase": "Building", "buildId": "3-x"}
    entries = index(indexes.goimagebuilds, body, uid=factories.UID)
    value = entries[("team-a", factories.UID)]
    assert value["metadata"]["annotations"] == {naming.ANNOTATION_REBUILD: "2026-01-01"}
    assert status_update.current_build_id(value) == status_update.current_build_id(body)
    assert value["status"] == body["status"]


# --- kopf's wait for its indexes ----------------------------------------------------------------


def test_kopf_toggle_sets_are_patched() -> None:
    assert indexes.LINEAR_TOGGLE_SETS


def _start_like_kopf(objects: int) -> tuple[int, bool]:
    """`objects` workers as kopf's start makes them: a toggle each, dropped once indexed,
    then each waits for all. How often the set's state was computed, and whether all woke."""
    calls = 0

    def counting_all(states: Any) -> bool:
        nonlocal calls
        calls += 1
        return all(states)

    async def main() -> bool:
        indexed = aiotoggles.ToggleSet(counting_all)
        resource = await indexed.make_toggle(name="the resource's listing")

        async def worker(toggle: aiotoggles.Toggle) -> None:
            await indexed.drop_toggle(toggle)
            await indexed.wait_for(True)

        tasks = []
        for index in range(objects):
            toggle = await indexed.make_toggle(name=str(index))
            tasks.append(asyncio.create_task(worker(toggle)))
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert indexed.is_off()
        assert not any(task.done() for task in tasks)
        await indexed.drop_toggle(resource)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
        return indexed.is_on()

    all_woke = asyncio.run(main())
    return calls, all_woke


def test_every_waiter_wakes_once_all_are_indexed_and_the_work_is_linear() -> None:
    small_calls, small_done = _start_like_kopf(200)
    large_calls, large_done = _start_like_kopf(800)
    assert small_done
    assert large_done
    # Quadratic (every make and drop waking every waiter) would be 16 times as many.
    assert large_calls < 5 * small_calls
