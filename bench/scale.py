"""`make bench-scale`: the operator with thousands of finished builds: memory, CPU, restart.

What a cluster with 10,000 GoImageBuilds costs the operator, and what its
restart costs the API server. The finished builds are made without an
operator (it would take ~10 minutes of its CPU on two cores to make them):
this client creates each GoImageBuild, the ConfigMap and Job the operator's
own builders make, the pod status a kubelet would write, the status the
operator's own core derives from them, and the diffbase annotation kopf's own
storage would keep. So a restarted operator finds exactly what its earlier
run left. `--real N` first lets the operator build N of them itself, stopped
afterwards: the restart treats both alike, or the synthetic ones are wrong.

Then: an operator started against them. Ready is its first idle moment (its
CPU under 2% of a core over one second) after its liveness probe answers; its
API requests from start until then, by verb (the API server's count, less
this client's own); its peak RSS and CPU. Goal: only lists and watches.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import kopf
from testkit import control_plane, crds
from testkit.control_plane import ControlPlane
from testkit.kubectl import make_kubectl
from testkit.operator_process import Footprint, OperatorProcess, operator_env
from testkit.paths import REPO_ROOT

from bench import apicost, workload
from bench.cluster import controller_manager_stopped, raise_controller_manager_qps
from bench.heap import traced_env
from bench.kube import BATCH, CORE, GIB, Kube, RequestKey
from bench.report import Row, write_results
from bench.run import make_namespace, warm_up
from goimage.config import load_settings
from goimage.core import naming, reconcile, status_update
from goimage.core.merge_patch import apply_merge_patch
from goimage.core.plan import plan_build
from goimage.core.settings import Settings
from goimage.handlers.startup import KOPF_PREFIX

RESULTS = REPO_ROOT / "bench" / "results-scale.md"
FINDINGS = REPO_ROOT / "bench" / "findings.md"
WAIT_S = 1800.0
SCALE_NAMESPACE = "bench-scale"
# The goals for the operator's peak RSS, by the number of finished builds.
RSS_GOALS_MIB = {1_000: 150, 10_000: 600}
POD_RETENTION = "24h"
NOW = workload.NOW


def create_goimagebuild(kube: Kube, namespace: str, index: int) -> dict[str, Any]:
    """The benchmarks' sample build (bench/workload.py), at its pinned commit."""
    return kube.create(GIB, naming.PLURAL, workload.goimagebuild(namespace, index))


def diffbase_patch(created: dict[str, Any]) -> dict[str, Any]:
    """The annotation kopf writes once it handled `created`, made by kopf's own storage."""
    storage = kopf.AnnotationsDiffBaseStorage(prefix=KOPF_PREFIX, key="last-handled-configuration")
    body = kopf.Body(cast(kopf.RawBody, created))
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=storage.build(body=body))
    return dict(patch)


def final_status(
    created: dict[str, Any], job: dict[str, Any], pod: dict[str, Any]
) -> dict[str, Any]:
    """The status the operator ends with: Pending when it starts the build, then each
    patch its core derives from the finished Job and pod (its status included), until
    none is left."""
    plan = plan_build(created)
    decision = reconcile.decide(plan, [], current_status={}, history_limit=2, now=NOW)
    known: dict[str, Any] = dict(decision.status or {})
    finished_pod = {
        **pod,
        status_update.FINGERPRINT: status_update.pod_fingerprint(pod.get("spec") or {}),
    }
    for _ in range(5):
        patch = status_update.status_update(job=job, pod=finished_pod, known=known, now=NOW)
        if patch is None:
            return known
        known = apply_merge_patch(known, patch)
    raise AssertionError(f"the core's status of {plan.object_name} does not settle: {known}")


def build_pod(job: dict[str, Any]) -> dict[str, Any]:
    """The pod the Job controller makes for `job` (as the API server returned it):
    its template, the Job's labels for it, controlled by the Job."""
    meta = job["metadata"]
    template = job["spec"]["template"]
    labels = dict(template["metadata"].get("labels") or {}) | {
        "batch.kubernetes.io/controller-uid": meta["uid"],
        "controller-uid": meta["uid"],
        workload.JOB_NAME_LABEL: meta["name"],
        "job-name": meta["name"],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{meta['name']}-{meta['uid'][:5]}",
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": dict(template["metadata"].get("annotations") or {}),
            "ownerReferences": [
                {"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"],
                 "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}
            ],
        },
        "spec": template["spec"],
    }  # fmt: skip


def complete_job_status() -> dict[str, Any]:
    """A finished Job's status, as the Job controller writes it (the API server requires
    SuccessCriteriaMet before Complete, and start and completion times)."""
    conditions = [
        {"type": kind, "status": "True", "lastProbeTime": NOW, "lastTransitionTime": NOW,
         "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"}
        for kind in ("SuccessCriteriaMet", "Complete")
    ]  # fmt: skip
    return {
        "conditions": conditions,
        "startTime": NOW,
        "completionTime": NOW,
        "succeeded": 1,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
    }


def populate(
    kube: Kube, namespace: str, indexes: range, settings: Settings, workers: int
) -> dict[str, float]:
    """`count` finished builds in `namespace`, as an operator, the Job controller and a
    kubelet would have left them; every object written by this client (with no
    controller-manager: see `bench.cluster.controller_manager_stopped`)."""
    started = time.monotonic()
    finished_at = finished_now()
    done = 0
    lock = threading.Lock()

    def make(index: int) -> None:
        nonlocal done
        build = create_goimagebuild(kube, namespace, index)
        name = build["metadata"]["name"]
        path = f"{GIB}/namespaces/{namespace}/{naming.PLURAL}/{name}"
        build = kube.request(
            "PATCH", path, body=diffbase_patch(build),
            content_type="application/merge-patch+json",
            count=("PATCH", naming.PLURAL, ""),
        )  # fmt: skip
        configmap, job = workload.children(build, settings)
        kube.create(CORE, "configmaps", configmap)
        job = kube.create(BATCH, "jobs", job)
        pod = kube.create(CORE, "pods", build_pod(job))
        pod_status = workload.succeeded_pod_status(pod, finished_at)
        kube.patch_status(CORE, namespace, "pods", pod["metadata"]["name"], pod_status)
        job_status = complete_job_status()
        kube.patch_status(BATCH, namespace, "jobs", job["metadata"]["name"], job_status)
        status = final_status(build, job | {"status": job_status}, pod | {"status": pod_status})
        kube.patch_status(GIB, namespace, naming.PLURAL, name, status)
        with lock:
            done += 1
            if done % 1000 == 0:
                print(f"  {done:,} finished builds after {time.monotonic() - started:.0f}s")

    workload.concurrently(make, indexes, workers)
    made = time.monotonic() - started
    print(f"  {len(indexes):,} finished builds (8 writes each) in {made:.0f}s")
    return {"statuses": made}


def finished_now() -> str:
    """Pods finish now (their time, not the fixed NOW): within the operator's retention."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass
class Restart:
    live_s: float
    """Process start -> its liveness probe answers."""
    ready_s: float
    """Process start -> its first idle second after that."""
    footprint: Footprint
    requests: Counter[RequestKey]
    """Every client's requests from start to ready, less this client's own."""


def _quiet_since(operator: OperatorProcess, started: float, limit_s: float) -> float:
    """Seconds from `started` to the start of the operator's first idle second."""
    while time.monotonic() - started < limit_s:
        window_start = time.monotonic()
        before = operator.footprint().cpu_s
        time.sleep(1.0)
        if operator.footprint().cpu_s - before < 0.02:
            return window_start - started
    raise TimeoutError(f"the operator was still busy after {limit_s:.0f}s")


def restart(kube: Kube, operator: OperatorProcess) -> Restart:
    """Start `operator` against what exists; its time to ready and its API requests."""
    own_before = Counter(kube.sent)
    before, _ = apicost.scrape(kube)
    started = time.monotonic()
    operator.start()
    live = time.monotonic() - started
    ready = _quiet_since(operator, started, WAIT_S)
    footprint = operator.footprint()
    after, _ = apicost.scrape(kube)
    own = Counter(kube.sent) - own_before
    requests = apicost.without_own(apicost.difference(after, before), own)
    return Restart(live, ready, footprint, +requests)


def _operator(env: dict[str, str], workdir: Path, heap: Path | None) -> OperatorProcess:
    if heap is not None:
        env = traced_env(env, heap)
    # Finished pods are kept longer than a run takes: the restart measured finds every
    # build with its pod, as the bench's title says, and deletes none (the default 5m
    # retention would delete those of the first builds made, while the run goes on).
    env = env | {"GOIMAGE_FINISHED_POD_RETENTION": POD_RETENTION}
    if os.environ.get("BENCH_MALLOC_ARENA_MAX"):
        env["MALLOC_ARENA_MAX"] = os.environ["BENCH_MALLOC_ARENA_MAX"]
    return OperatorProcess(
        env=env, log_path=workdir / "operator.log", log_args=("--log-level=warning",)
    )


def real_builds(kube: Kube, env: dict[str, str], workdir: Path, namespace: str, count: int) -> None:
    """`count` builds made by the operator itself (then stopped), for the restart to compare."""
    operator = _operator(env, workdir, None)
    operator.start()
    try:
        seen = workload.Watches(kube, namespace)
        names = [workload.job_name(index) for index in range(count)]
        builds = [workload.build_name(index) for index in range(count)]
        workload.concurrently(
            lambda index: create_goimagebuild(kube, namespace, index), range(count), 8
        )
        seen.pods_added.wait(names, WAIT_S)
        workload.concurrently(
            lambda name: workload.succeed_pod(kube, seen.pods_added.objects[name], finished_now()),
            names,
            8,
        )
        seen.succeeded.wait(builds, WAIT_S)
        time.sleep(5)  # its last writes (kopf's annotations) land
        seen.stop()
    finally:
        operator.stop()


def _requests_note(requests: Counter[RequestKey]) -> str:
    return ", ".join(f"{apicost.label(k)}: {v}" for k, v in sorted(requests.items()) if v > 0)


def operator_writes(requests: Counter[RequestKey]) -> Counter[RequestKey]:
    """Writes on what the operator's code can write (the rest is the control plane's own)."""
    return Counter(
        {
            key: value
            for key, value in requests.items()
            if key[0] in apicost.WRITES and (key[1], key[2]) in apicost.OPERATOR_RESOURCES
        }
    )


def rows_for(count: int, result: Restart, populate_s: dict[str, float]) -> list[Row]:
    peak_mib = result.footprint.peak_rss_kib / 1024
    goal = RSS_GOALS_MIB.get(count)
    writes = operator_writes(result.requests)
    reads = {k: v for k, v in result.requests.items() if k[0] in (*apicost.READS, apicost.WATCH)}
    return [
        Row(
            f"restart with {count:,} finished builds: live (probe answers)",
            f"{result.live_s:.1f} s",
            note="process start → its /healthz answers",
        ),
        Row(
            f"restart with {count:,} finished builds: ready (first idle second)",
            f"{result.ready_s:.1f} s",
            note="process start → the start of its first second under 2% of a CPU",
        ),
        Row(
            f"restart with {count:,} finished builds: operator writes",
            f"{sum(writes.values())}",
            "0",
            note=_requests_note(writes) or "none",
        ),
        Row(
            f"restart with {count:,} finished builds: reads and watches (all clients)",
            f"{sum(reads.values())}",
            note=_requests_note(Counter(reads)),
        ),
        Row(
            f"operator peak RSS with {count:,} finished builds (with their Jobs and Pods)",
            f"{peak_mib:.0f} MiB",
            f"{goal} MiB" if goal else "—",
            f"{peak_mib / goal:.2f}x" if goal else "—",
            note=f"VmHWM from start to ready, the goal in the floor column "
            f"(RSS when ready {result.footprint.rss_kib / 1024:.0f} MiB); "
            f"the builds made in {populate_s.get('statuses', math.nan):.0f} s",
        ),
        Row(
            f"restart with {count:,} finished builds: operator CPU per build",
            f"{result.footprint.cpu_s / count * 1000:.1f} ms",
            note=f"{result.footprint.cpu_s:.1f} CPU s (utime+stime) from start to ready",
        ),
    ]


def measure_restart(plane: ControlPlane, workdir: Path, heap: Path | None) -> Restart:
    """An operator started against what `plane` holds; stopped after."""
    kube = Kube(plane.kubeconfig)
    operator = _operator(operator_env(plane.env), workdir, heap)
    try:
        result = restart(kube, operator)
        print(f"  live {result.live_s:.1f}s, ready {result.ready_s:.1f}s, {result.footprint}")
        print(f"  requests: {_requests_note(result.requests)}")
        if heap is not None:
            os.kill(operator.pid, signal.SIGUSR1)
            time.sleep(30)  # the snapshot written (a few seconds per 100 MiB traced)
    finally:
        operator.stop()
    return result


def prepare_plane(plane: ControlPlane, workdir: Path, args: argparse.Namespace) -> Kube:
    """CRDs, a faster controller-manager, and `args.real` builds made by the operator."""
    raise_controller_manager_qps(plane)
    crds.install(make_kubectl(plane.env))
    kube = Kube(plane.kubeconfig, pool=max(64, args.workers * 2))
    warm_up(kube)
    if args.real:
        print(f"{args.real} builds made by the operator ...")
        env = operator_env(plane.env)
        real_builds(kube, env, workdir, make_namespace(kube, "bench-real"), args.real)
    make_namespace(kube, SCALE_NAMESPACE)
    return kube


def add_builds(plane: ControlPlane, kube: Kube, indexes: range, workers: int) -> dict[str, float]:
    """Finished builds numbered `indexes`, made by this client (no controller-manager)."""
    print(f"{len(indexes):,} finished builds made by this client ...")
    settings = load_settings(operator_env(plane.env))
    with controller_manager_stopped(plane):
        return populate(kube, SCALE_NAMESPACE, indexes, settings, workers)


def counts(text: str) -> list[int]:
    """--builds: ascending totals, e.g. 1000,10000."""
    values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    if not values or values != sorted(set(values)) or values[0] <= 0:
        raise argparse.ArgumentTypeError(f"ascending positive totals, not {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument(
        "--builds", type=counts, default=[1_000, 10_000],
        help="totals to measure a restart at, ascending (default 1000,10000)",
    )  # fmt: skip
    parser.add_argument("--real", type=int, default=100, help="of them built by the operator")
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--heap", type=Path, help="tracemalloc snapshot after the restart, in DIR")
    parser.add_argument(
        "--reuse", type=Path, help="a control plane's state dir a --keep run left: restart only"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep the control plane and temp dir")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.reuse is not None:
        print(f"an operator started against the builds in {args.reuse} ...")
        measure_restart(control_plane.describe(args.reuse), args.reuse.parent, args.heap)
        return 0
    rows: list[Row] = []
    workdir = Path(tempfile.mkdtemp(prefix="goimage-bench-scale-"))
    try:
        with control_plane.running(workdir / "control-plane", keep=args.keep) as plane:
            kube = prepare_plane(plane, workdir, args)
            made = args.real
            for total in args.builds:
                times = add_builds(plane, kube, range(made, total), args.workers)
                made = total
                print(f"an operator started against {total:,} finished builds ...")
                result = measure_restart(plane, workdir, args.heap)
                rows += rows_for(total, result, times)
    finally:
        if args.keep:
            print(f"kept {workdir} (its control plane runs: --reuse {workdir / 'control-plane'})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    write_results(
        args.output,
        title="Benchmarks: the operator with thousands of finished builds",
        intro="Written by `make bench-scale` (bench/scale.py); see bench/README.md.",
        rows=rows,
        notes=[],
        findings=FINDINGS,
    )
    print(f"make bench-scale: {math.ceil(time.monotonic() - started)} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
