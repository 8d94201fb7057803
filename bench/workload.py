"""What the benchmarks create and watch: GoImageBuilds, their Jobs, Pods and statuses.

The floor's objects come from the operator's own core builders (plan, Dockerfile,
ConfigMap, Kaniko Job, status), so the floor writes exactly what the operator
writes. Pod statuses are written as testkit/kubelet_standin.py writes them
(the same function): there is no kubelet.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from testkit import kubelet_standin

from bench.kube import BATCH, CORE, GIB, RELISTED, Kube, Watch
from goimage.core import naming, status
from goimage.core.configmap import build_configmap
from goimage.core.dockerfile import render_dockerfile
from goimage.core.kaniko_job import build_kaniko_job
from goimage.core.plan import plan_build
from goimage.core.settings import Settings

REPOSITORY = "registry.invalid/bench/hello"
DIGEST = "sha256:" + "ab" * 32
SIZE = 8_123_456
NOW = kubelet_standin.NOW
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"

T = TypeVar("T")
R = TypeVar("R")


def build_name(index: int) -> str:
    return f"hello-{index:04d}"


# A pinned commit: a branch would first be resolved against the git server, and
# git.invalid answers nobody (the benchmarks never leave loopback).
COMMIT = "4f1c2b3a5d6e7f8091a2b3c4d5e6f708192a3b4c"


def job_name(index: int) -> str:
    """The operator's name for the first build's Job (and ConfigMap): `<name>-<generation>`."""
    return naming.build_object_name(build_name(index), naming.build_id(1, ""))


def goimagebuild(namespace: str, index: int) -> dict[str, Any]:
    """The integration tier's sample build (tests/integration/test_operator.py)."""
    return {
        "apiVersion": naming.API_VERSION,
        "kind": naming.KIND,
        "metadata": {"name": build_name(index), "namespace": namespace},
        "spec": {
            "source": {"git": {"url": "https://git.invalid/team/hello.git", "revision": COMMIT}},
            "go": {"package": "./cmd/hello"},
            "output": {"image": REPOSITORY, "tags": ["latest", "v1"]},
        },
    }


def create_goimagebuild(kube: Kube, namespace: str, index: int) -> dict[str, Any]:
    return kube.create(GIB, naming.PLURAL, goimagebuild(namespace, index))


def children(created: dict[str, Any], settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ConfigMap and Job the operator makes for `created` (a GoImageBuild as the API
    server returned it), made by the operator's own builders."""
    plan = plan_build(created)
    configmap = build_configmap(
        name=plan.object_name,
        namespace=plan.namespace,
        labels=plan.labels,
        owner=plan.owner,
        dockerfile=render_dockerfile(plan.spec, resource=plan.resource),
        spec=plan.raw_spec,
    )
    return configmap, build_kaniko_job(plan, settings)


def create_children(kube: Kube, created: dict[str, Any], settings: Settings) -> None:
    """The floor's reaction: what the operator writes to start a build, and nothing else."""
    configmap, job = children(created, settings)
    kube.create(CORE, "configmaps", configmap)
    kube.create(BATCH, "jobs", job)


def succeeded_pod_status(pod: dict[str, Any], at: str = NOW) -> dict[str, Any]:
    """Kaniko pushed and the report step wrote its termination message, `at`."""
    return kubelet_standin.succeeded_status(
        pod, repository=REPOSITORY, digest=DIGEST, size=SIZE, at=at
    )


def succeed_pod(kube: Kube, pod: dict[str, Any], at: str = NOW) -> None:
    meta = pod["metadata"]
    status = succeeded_pod_status(pod, at)
    kube.patch_status(CORE, meta["namespace"], "pods", meta["name"], status)


def succeeded_build_status(job: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
    """The status the operator writes when `pod` of `job` has succeeded (its core's function)."""
    finished = {**pod, "status": succeeded_pod_status(pod)}
    return status.status_from_build(job=job, pod=finished, previous={}, now=NOW)


class Seen:
    """When each named object was first seen in a state, from a watch; thread-safe."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        self._changed = threading.Condition()

    def record(self, name: str, obj: dict[str, Any], at: float) -> None:
        with self._changed:
            if name not in self.times:
                self.times[name] = at
                self.objects[name] = obj
                self._changed.notify_all()

    def wait(self, names: Iterable[str], timeout: float) -> float:
        """The time the last of `names` was seen; TimeoutError if one is not seen in time."""
        wanted = list(names)
        deadline = time.monotonic() + timeout
        with self._changed:
            while not all(name in self.times for name in wanted):
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = [name for name in wanted if name not in self.times]
                    raise TimeoutError(f"{len(missing)} not seen in {timeout}s, e.g. {missing[:3]}")
                self._changed.wait(left)
            return max(self.times[name] for name in wanted)


def _job_complete(job: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Complete" and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


class Watches:
    """Jobs, Pods and GoImageBuilds of one namespace, watched from now on."""

    def __init__(
        self, kube: Kube, namespace: str, *, pods: bool = True, builds: bool = True
    ) -> None:
        self.jobs_added = Seen()
        self.jobs_complete = Seen()
        self.pods_added = Seen()  # by the Job's name
        self.succeeded = Seen()

        def on_job(kind: str, job: dict[str, Any], at: float) -> None:
            name = job["metadata"]["name"]
            if kind in ("ADDED", RELISTED):
                self.jobs_added.record(name, job, at)
            if _job_complete(job):
                self.jobs_complete.record(name, job, at)

        def on_pod(kind: str, pod: dict[str, Any], at: float) -> None:
            job = (pod["metadata"].get("labels") or {}).get(JOB_NAME_LABEL)
            if kind in ("ADDED", RELISTED) and job:
                self.pods_added.record(job, pod, at)

        def on_build(kind: str, build: dict[str, Any], at: float) -> None:
            if (build.get("status") or {}).get("phase") == "Succeeded":
                self.succeeded.record(build["metadata"]["name"], build, at)

        self._watches = [Watch(kube, BATCH, "jobs", namespace, on_job)]
        if pods:
            self._watches.append(Watch(kube, CORE, "pods", namespace, on_pod))
        if builds:
            self._watches.append(Watch(kube, GIB, naming.PLURAL, namespace, on_build))
        for watch in self._watches:
            watch.start_and_wait()

    @property
    def reconnects(self) -> int:
        return sum(watch.reconnects for watch in self._watches)

    def stop(self) -> None:
        for watch in self._watches:
            watch.stop()


def concurrently(work: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    """`work` over `items` on `workers` threads; the first error is raised."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench") as pool:
        return list(pool.map(work, items))
