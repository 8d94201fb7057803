"""`make bench`: the operator's reaction, burst, API cost and footprint, each beside its floor.

One control plane (cluster/control-plane.sh, in a temp dir) for the whole run.
First the operator's runs, with the operator as its own process; then, with it
stopped, the floor runs: the same object writes issued by this client directly.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from testkit import control_plane, crds
from testkit.control_plane import ControlPlane
from testkit.kubectl import make_kubectl
from testkit.operator_process import Footprint, OperatorProcess, operator_env
from testkit.paths import REPO_ROOT

from bench import apicost, failover, workload
from bench.cluster import CONTROLLER_MANAGER_QPS, raise_controller_manager_qps
from bench.heap import traced_env
from bench.kube import BATCH, CORE, GIB, Kube, RequestKey
from bench.report import Row, ms, percentile, ratio, secs, write_results
from goimage.config import load_settings
from goimage.core import events, naming
from goimage.core.settings import Settings

RESULTS = REPO_ROOT / "bench" / "results.md"
FINDINGS = REPO_ROOT / "bench" / "findings.md"
WAIT_S = int(os.environ.get("BENCH_WAIT_S", "300"))
SETTLE_S = 5.0
SWEEP = (8, 16, 32, 64)

React = Callable[[dict[str, Any]], None]


@dataclasses.dataclass
class Burst:
    builds: int
    applied_s: float
    """Start -> every GoImageBuild created."""
    jobs_s: float
    """Start -> every Job seen."""
    pods_s: float
    """Start -> every Pod seen (the Job controller's work)."""
    statuses_s: float
    """Operator: last pod write returned -> every status Succeeded. Floor: the status patches."""
    pod_writes_s: float
    """Operator: first pod write -> last pod write returned."""
    first_write_to_all_s: float
    api: Counter[RequestKey]
    """The API server's count for the window, less this client's own requests."""
    events_by_source: Counter[str]
    watch_reconnects: int
    """Watches of this client the API server ended (it was too slow to read them)."""
    load: float = dataclasses.field(default_factory=lambda: os.getloadavg()[0])
    """The machine's 1-minute load average at the end: other work shares the cores."""


def _wait_serviceaccount(kube: Kube, namespace: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        items = kube.list(CORE, "serviceaccounts", namespace)["items"]
        if any(sa["metadata"]["name"] == "default" for sa in items):
            return
        time.sleep(0.2)
    raise TimeoutError(f"no default ServiceAccount in {namespace}")


def make_namespace(kube: Kube, name: str) -> str:
    kube.create_namespace(name)
    _wait_serviceaccount(kube, name)
    return name


def delete_namespace(kube: Kube, name: str, timeout: float = 180) -> float:
    started = time.monotonic()
    kube.delete_namespace(name)
    while kube.namespace_exists(name):
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"namespace {name} still exists after {timeout}s")
        time.sleep(0.5)
    return time.monotonic() - started


def clear_bench_namespaces(kube: Kube, timeout: float = 600) -> None:
    """Delete every `bench-` namespace, all at once, and wait until they are gone."""
    listed = kube.list(CORE, "namespaces")["items"]
    names = [ns["metadata"]["name"] for ns in listed if ns["metadata"]["name"].startswith("bench-")]
    for name in names:
        kube.delete_namespace(name)
    deadline = time.monotonic() + timeout
    for name in names:
        while kube.namespace_exists(name):
            if time.monotonic() > deadline:
                raise TimeoutError(f"namespace {name} still exists after {timeout}s")
            time.sleep(0.5)
    print(f"deleted {len(names)} benchmark namespaces", flush=True)


def warm_up(kube: Kube) -> None:
    """A plain Job gets its pod: the restarted controller-manager works."""
    namespace = make_namespace(kube, "bench-warmup")
    seen = workload.Watches(kube, namespace, builds=False)
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "warm-up", "namespace": namespace},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "warm-up.invalid/none"}],
                }
            }
        },
    }
    kube.create(BATCH, "jobs", job)
    seen.pods_added.wait(["warm-up"], 120)
    seen.stop()
    delete_namespace(kube, namespace)


# --- reaction latency ---------------------------------------------------------------------------


def reaction(
    kube: Kube,
    namespace: str,
    count: int,
    *,
    gap_s: float,
    react: React | None = None,
    at: Callable[[int], None] | None = None,
) -> list[float]:
    """GoImageBuild created (its create call returned) -> its Job's ADDED event, one at a time."""
    seen = workload.Watches(kube, namespace, pods=False, builds=False)
    latencies = []
    try:
        for index in range(count):
            created = workload.create_goimagebuild(kube, namespace, index)
            returned = time.monotonic()
            if react is not None:
                react(created)
            job_seen = seen.jobs_added.wait([workload.job_name(index)], 30)
            latencies.append(job_seen - returned)
            if at is not None:
                at(index + 1)
            time.sleep(gap_s)
    finally:
        seen.stop()
    return latencies


# --- burst --------------------------------------------------------------------------------------


def _events_by_source(kube: Kube, namespace: str) -> Counter[str]:
    events = kube.list(CORE, "events", namespace)["items"]
    return Counter(
        (event.get("source") or {}).get("component") or event.get("reportingComponent") or "?"
        for event in events
    )


def burst(
    kube: Kube,
    namespace: str,
    count: int,
    *,
    workers: int,
    react: React | None = None,
    status_writer: Callable[[workload.Watches, list[str]], None] | None = None,
) -> Burst:
    """`count` GoImageBuilds at once; then every pod succeeds; then every status is Succeeded.

    With `react` (the floor), each GoImageBuild's ConfigMap and Job are created by
    this client right after it, and `status_writer` writes every status itself.
    """
    names = [workload.job_name(index) for index in range(count)]
    builds = [workload.build_name(index) for index in range(count)]
    seen = workload.Watches(kube, namespace)
    try:
        own_before = Counter(kube.sent)
        before, _ = apicost.scrape(kube)
        started = time.monotonic()

        def apply(index: int) -> None:
            created = workload.create_goimagebuild(kube, namespace, index)
            if react is not None:
                react(created)

        workload.concurrently(apply, range(count), workers)
        applied = time.monotonic()
        jobs = seen.jobs_added.wait(names, WAIT_S)
        pods = seen.pods_added.wait(names, WAIT_S)

        if status_writer is not None:  # the floor: its own status writes, timed
            status_started = time.monotonic()
            status_writer(seen, builds)
            statuses = seen.succeeded.wait(builds, WAIT_S) - status_started

        def finish(name: str) -> float:
            workload.succeed_pod(kube, seen.pods_added.objects[name])
            return time.monotonic()

        first_write = time.monotonic()
        last_write = max(workload.concurrently(finish, names, workers))
        if status_writer is None:  # the operator's: last pod written -> every status
            statuses = seen.succeeded.wait(builds, WAIT_S) - last_write
        all_succeeded = seen.succeeded.wait(builds, WAIT_S)
        seen.jobs_complete.wait(names, WAIT_S)
        time.sleep(SETTLE_S)
        own = Counter(kube.sent) - own_before
        after, _ = apicost.scrape(kube)
        reconnects = seen.reconnects
    finally:
        seen.stop()
    return Burst(
        builds=count,
        applied_s=applied - started,
        jobs_s=jobs - started,
        pods_s=pods - started,
        statuses_s=statuses,
        pod_writes_s=last_write - first_write,
        first_write_to_all_s=all_succeeded - first_write,
        api=apicost.without_own(apicost.difference(after, before), own),
        events_by_source=_events_by_source(kube, namespace),
        watch_reconnects=reconnects,
    )


def floor_status_writer(kube: Kube, workers: int) -> Callable[[workload.Watches, list[str]], None]:
    """The floor's status writes: the Succeeded status the operator's core derives, patched."""

    def write(seen: workload.Watches, builds: list[str]) -> None:
        def patch(index: int) -> None:
            name = workload.job_name(index)
            job, pod = seen.jobs_added.objects[name], seen.pods_added.objects[name]
            status = workload.succeeded_build_status(job, pod)
            namespace = job["metadata"]["namespace"]
            kube.patch_status(GIB, namespace, naming.PLURAL, builds[index], status)

        workload.concurrently(patch, range(len(builds)), workers)

    return write


def sweep_concurrency(kube: Kube, settings: Settings, count: int) -> tuple[int, dict[int, float]]:
    """The floor's best concurrency: builds/s of GoImageBuild + ConfigMap + Job creates."""
    rates: dict[int, float] = {}
    for workers in SWEEP:
        namespace = make_namespace(kube, f"bench-sweep-{workers}")
        seen = workload.Watches(kube, namespace, builds=False)
        names = [workload.job_name(index) for index in range(count)]
        started = time.monotonic()

        def apply(index: int, namespace: str = namespace) -> None:
            created = workload.create_goimagebuild(kube, namespace, index)
            workload.create_children(kube, created, settings)

        workload.concurrently(apply, range(count), workers)
        rates[workers] = count / (seen.jobs_added.wait(names, WAIT_S) - started)
        seen.pods_added.wait(names, WAIT_S)  # the Job controller done: no load left behind
        seen.stop()
        print(f"  floor concurrency {workers:>2}: {rates[workers]:.0f} builds/s")
    best = max(rates, key=lambda workers: rates[workers])
    return best, rates


# --- the run ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Options:
    latency_builds: int
    burst_builds: int
    workers: int
    gap_s: float
    idle_s: float
    noise_pods: int
    sweep_builds: int
    profile: Path | None
    output: Path
    failover_runs: int = 3
    heap: Path | None = None


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def _unrelated_pods(
    kube: Kube, operator: OperatorProcess, count: int, workers: int
) -> tuple[float, int]:
    """Operator CPU seconds for `count` pods not of ours, created then given a status."""
    namespace = make_namespace(kube, "bench-unrelated")

    def pod(index: int) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"other-{index}", "namespace": namespace, "labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "other.invalid/app"}]},
        }

    status = {"phase": "Running", "startTime": workload.NOW}
    before = operator.footprint()
    workload.concurrently(lambda i: kube.create(CORE, "pods", pod(i)), range(count), workers)
    workload.concurrently(
        lambda i: kube.patch_status(CORE, namespace, "pods", f"other-{i}", status),
        range(count),
        workers,
    )
    time.sleep(SETTLE_S)
    cpu = operator.footprint().cpu_s - before.cpu_s
    delete_namespace(kube, namespace)
    return cpu, 2 * count


def _wait_quiet(operator: OperatorProcess, *, window_s: float = 2.0, limit_s: float = 120) -> float:
    """Wait until the operator spends under 2% of a CPU over `window_s`; seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        before = operator.footprint().cpu_s
        time.sleep(window_s)
        if operator.footprint().cpu_s - before < 0.02 * window_s:
            break
    return time.monotonic() - started


class ProfileRecorder:
    """py-spy attached to the operator for one phase (``--profile DIR``), if py-spy is installed."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, pid: int, name: str) -> None:
        if self.directory is None:
            return
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not os.access(spy, os.X_OK):
            print("  profile: py-spy is not installed (.venv/bin/pip install py-spy)")
            self.directory = None
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        out = self.directory / f"{name}.txt"
        self.process = subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
             "--threads", "--gil", "--nonblocking", "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(1)  # attached before the phase starts

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(2)  # SIGINT: py-spy writes its output and exits
            self.process.wait(timeout=60)
            self.process = None


@dataclasses.dataclass
class OperatorFigures:
    """What the operator's runs measured, one operator process for all of them."""

    watch_streams: Counter[RequestKey]
    """Watches the operator opened at start (the API server's count of open streams)."""
    latencies: list[float]
    burst: Burst
    burst_cpu_s: float
    prints: list[tuple[int, Footprint]]
    """Its footprint after so many GoImageBuilds: at start, mid-reaction, after the burst."""
    idle_cpu_s: float
    idle_api: Counter[RequestKey]
    noise_cpu_s: float
    noise_events: int


@dataclasses.dataclass
class FloorFigures:
    """What the floor's runs measured: this client's writes, no operator."""

    latencies: list[float]
    best_workers: int
    rates: dict[int, float]
    burst: Burst


# --- the operator's runs ------------------------------------------------------------------------


def operator_reaction(
    kube: Kube, operator: OperatorProcess, namespace: str, options: Options
) -> tuple[list[float], Footprint | None]:
    """Reaction latency with the operator; its footprint at 100 builds (if it got there)."""
    at_100: list[Footprint] = []

    def footprint_at(done: int) -> None:
        if done == min(100, options.latency_builds):
            at_100.append(operator.footprint())

    print(f"reaction latency, operator: {options.latency_builds} builds one at a time ...")
    latencies = reaction(
        kube, namespace, options.latency_builds, gap_s=options.gap_s, at=footprint_at
    )
    print(f"  p50 {ms(percentile(latencies, 0.5))}, p99 {ms(percentile(latencies, 0.99))}")
    took = delete_namespace(kube, namespace)
    print(f"  deleted its namespace in {took:.1f}s")
    # The operator's last words on the deleted builds (events it retries) die down.
    time.sleep(2 * SETTLE_S)
    return latencies, (at_100[0] if at_100 else None)


def operator_burst(
    kube: Kube,
    operator: OperatorProcess,
    namespace: str,
    options: Options,
    profile: ProfileRecorder,
) -> tuple[Burst, float]:
    """The burst with the operator; the CPU seconds it spent on it."""
    print(f"burst, operator: {options.burst_builds} builds at once ({options.workers} clients) ...")
    profile.start(operator.pid, "burst")
    cpu_before = operator.footprint().cpu_s
    loaded = burst(kube, namespace, options.burst_builds, workers=options.workers)
    burst_cpu = operator.footprint().cpu_s - cpu_before
    profile.stop()
    print(f"  {loaded}"[:300])
    return loaded, burst_cpu


def operator_idle(
    kube: Kube, operator: OperatorProcess, options: Options
) -> tuple[float, Counter[RequestKey]]:
    """Once its backlog is done: the operator's CPU seconds and the API requests of all
    clients but this one over `options.idle_s`."""
    print(f"idle for {options.idle_s:.0f}s with {options.burst_builds} finished builds ...")
    backlog_s = _wait_quiet(operator)
    print(f"  (waited {backlog_s:.1f}s for the operator to finish its backlog)")
    own_before = Counter(kube.sent)
    api_before, _ = apicost.scrape(kube)
    idle_before = operator.footprint()
    time.sleep(options.idle_s)
    idle_cpu = operator.footprint().cpu_s - idle_before.cpu_s
    own = Counter(kube.sent) - own_before
    api_after, _ = apicost.scrape(kube)
    idle_api = apicost.without_own(apicost.difference(api_after, api_before), own)
    print(f"  {idle_cpu:.2f} CPU s")
    return idle_cpu, idle_api


def operator_unrelated(
    kube: Kube, operator: OperatorProcess, options: Options
) -> tuple[float, int]:
    """The operator's CPU seconds for pod events not of ours, and how many events."""
    print(f"unrelated pods: {options.noise_pods} created and given a status ...")
    noise_cpu, noise_events = _unrelated_pods(kube, operator, options.noise_pods, options.workers)
    print(f"  {noise_cpu:.2f} CPU s for {noise_events} pod events")
    return noise_cpu, noise_events


def measure_operator(
    kube: Kube,
    env: dict[str, str],
    workdir: Path,
    options: Options,
    spaces: dict[str, str],
    watches_before: Counter[RequestKey],
) -> OperatorFigures:
    """Every run with the operator as its own process, in order; the operator stopped after."""
    if options.heap is not None:
        env = traced_env(env, options.heap)
    operator = OperatorProcess(
        env=env, log_path=workdir / "operator.log", log_args=("--log-level=warning",)
    )
    profile = ProfileRecorder(options.profile)
    operator.start()
    try:
        time.sleep(3)  # its initial listings done
        if options.heap is not None:  # a traced start takes far longer
            _wait_quiet(operator)
        prints: list[tuple[int, Footprint]] = [(0, operator.footprint())]
        _, watches_after = apicost.scrape(kube)
        watch_streams = apicost.difference(watches_after, watches_before)
        print(f"operator up (pid {operator.pid}): {prints[0][1]}")
        latencies, at_100 = operator_reaction(kube, operator, spaces["latency"], options)
        if at_100 is not None:
            prints.append((min(100, options.latency_builds), at_100))
        loaded, burst_cpu = operator_burst(kube, operator, spaces["burst"], options, profile)
        prints.append((options.burst_builds, operator.footprint()))
        idle_cpu, idle_api = operator_idle(kube, operator, options)
        noise_cpu, noise_events = operator_unrelated(kube, operator, options)
    except BaseException:
        print(f"--- the operator's log (end):\n{operator.log()}", file=sys.stderr)
        raise
    finally:
        profile.stop()
        operator.stop()
    return OperatorFigures(
        watch_streams=watch_streams,
        latencies=latencies,
        burst=loaded,
        burst_cpu_s=burst_cpu,
        prints=prints,
        idle_cpu_s=idle_cpu,
        idle_api=idle_api,
        noise_cpu_s=noise_cpu,
        noise_events=noise_events,
    )


# --- the floor's runs ---------------------------------------------------------------------------


def measure_floor(
    kube: Kube, settings: Settings, spaces: dict[str, str], options: Options
) -> FloorFigures:
    """The same runs with no operator: this client creates the children and writes statuses."""
    print(f"reaction latency, floor: {options.latency_builds} builds one at a time ...")

    def react(created: dict[str, Any]) -> None:
        workload.create_children(kube, created, settings)

    latencies = reaction(
        kube, spaces["floor-latency"], options.latency_builds, gap_s=options.gap_s, react=react
    )
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    print(f"  p50 {ms(p50)}, p99 {ms(p99)}")
    print(f"floor concurrency sweep ({options.sweep_builds} builds each) ...")
    best, rates = sweep_concurrency(kube, settings, options.sweep_builds)
    print(f"burst, floor: {options.burst_builds} builds at once ({best} clients) ...")
    floor = burst(
        kube,
        spaces["floor-burst"],
        options.burst_builds,
        workers=best,
        react=react,
        status_writer=floor_status_writer(kube, best),
    )
    print(f"  {floor}"[:300])
    return FloorFigures(latencies=latencies, best_workers=best, rates=rates, burst=floor)


# --- the table: one function per scenario -------------------------------------------------------


def reaction_rows(op: OperatorFigures, floor: FloorFigures, options: Options) -> list[Row]:
    rows = []
    for label, fraction in (("p50", 0.5), ("p99", 0.99)):
        value, base = percentile(op.latencies, fraction), percentile(floor.latencies, fraction)
        rows.append(
            Row(
                f"reaction: GoImageBuild created → Job seen, {label}",
                ms(value),
                ms(base),
                ratio(value, base),
                f"{options.latency_builds} builds one at a time, {options.gap_s:.2f} s apart; "
                "floor: this client creates the same ConfigMap + Job itself on the create's "
                "return",
            )
        )
    return rows


def burst_rows(op: OperatorFigures, floor: FloorFigures, options: Options) -> list[Row]:
    loaded, base, n = op.burst, floor.burst, options.burst_builds
    workers, best = options.workers, floor.best_workers
    return [
        Row(
            f"burst: {n:,} GoImageBuilds at once → every Job exists",
            secs(loaded.jobs_s),
            secs(base.jobs_s),
            ratio(loaded.jobs_s, base.jobs_s),
            f"applied by {workers} clients in {loaded.applied_s:.2f} s; floor: GoImageBuild + "
            f"ConfigMap + Job creates by {best} clients (best of {', '.join(map(str, SWEEP))}); "
            f"load average {loaded.load:.1f} (floor run {base.load:.1f})",
        ),
        Row(
            f"burst: last pod finished → all {n:,} Succeeded",
            secs(loaded.statuses_s),
            secs(base.statuses_s),
            ratio(loaded.statuses_s, base.statuses_s),
            f"pods: this client writes each pod's status as kubelet_standin.succeed does "
            f"(no kwok), {n:,} writes by {workers} clients in {loaded.pod_writes_s:.2f} s; "
            f"floor: the {n:,} status patches by {best} clients",
        ),
        Row(
            "burst: first pod finished → all Succeeded",
            secs(loaded.first_write_to_all_s),
            note="context: the operator works while the pod writes go on",
        ),
    ]


def api_per_build(op: OperatorFigures, floor: FloorFigures, builds: int) -> dict[RequestKey, float]:
    """The operator's API requests per build in the burst: its run less the floor's."""
    return apicost.operators(
        apicost.per_build(op.burst.api, floor.burst.api, builds),
        # The operator's own Events, and any kopf posts for it (its warnings and errors).
        op.burst.events_by_source[events.COMPONENT] + op.burst.events_by_source["kopf"],
        builds,
    )


def api_cost_rows(op: OperatorFigures, per_build: dict[RequestKey, float], n: int) -> list[Row]:
    writes = sum(v for k, v in per_build.items() if k[0] in apicost.WRITES)
    reads = sum(v for k, v in per_build.items() if k[0] in apicost.READS)
    minimum = sum(count for count, _ in apicost.MINIMUM.values())
    operator_watches = sum(v for k, v in op.watch_streams.items() if k[0] == apicost.WATCH)
    return [
        Row(
            "API requests per build: writes",
            f"{writes:.2f}",
            f"{minimum}",
            ratio(writes, minimum),
            "apiserver_request_total, operator run less floor run less this client's own, "
            f"over {n:,} builds, on the resources the operator uses; by verb below",
        ),
        Row(
            "API requests per build: reads (GET, LIST)",
            f"{reads:.2f}",
            "0",
            note="a difference of two runs: ±0.05 is the garbage collector's GETs of owners, "
            "which vary from run to run",
        ),
        Row(
            "API watches held open by the operator",
            f"{operator_watches}",
            note=", ".join(f"{k[1]}: {v}" for k, v in sorted(op.watch_streams.items()) if v > 0),
        ),
    ]


def footprint_rows(op: OperatorFigures, options: Options) -> list[Row]:
    rows = []
    for count, print_ in op.prints:
        rows.append(
            Row(
                f"operator footprint at {count:,} GoImageBuilds",
                f"{_mib(print_.peak_rss_kib)} peak RSS, {print_.cpu_s:.1f} CPU s",
                note=f"VmHWM (RSS now {_mib(print_.rss_kib)}) and utime+stime since start"
                + (
                    f"; with as many Jobs and Pods; {op.burst_cpu_s:.1f} CPU s in the burst"
                    if print_ is op.prints[-1][1]
                    else ""
                ),
            )
        )
    rows.append(
        Row(
            "operator CPU per build (burst)",
            f"{op.burst_cpu_s / options.burst_builds * 1000:.0f} ms",
            note=f"{op.burst_cpu_s:.1f} CPU s for the {options.burst_builds:,}-build burst, "
            "from the first create until every status is Succeeded",
        )
    )
    rows.append(
        Row(
            f"operator idle CPU over {options.idle_s:.0f} s, "
            f"{options.burst_builds:,} finished builds",
            f"{op.idle_cpu_s:.2f} s",
            "0 s",
            note="no polling: nothing to do until an event arrives",
        )
    )
    rows.append(
        Row(
            "operator CPU per 1,000 events of pods not its own",
            f"{op.noise_cpu_s / op.noise_events * 1000:.2f} s",
            "0 s",
            note=f"{options.noise_pods} unrelated pods created and given a status; the floor "
            "is an operator the API server sends none of them",
        )
    )
    return rows


def detail_notes(
    op: OperatorFigures, floor: FloorFigures, per_build: dict[RequestKey, float], n: int
) -> list[str]:
    lines = [
        "| request | operator per build | design minimum | why the minimum |",
        "| --- | ---: | ---: | --- |",
    ]
    for key in sorted(set(per_build) | set(apicost.MINIMUM), key=apicost.label):
        if key[0] == apicost.WATCH:
            continue  # long-running: counted as streams (the watches row), not per build
        need, why = apicost.MINIMUM.get(key, (0, ""))
        lines.append(f"| {apicost.label(key)} | {per_build.get(key, 0.0):.2f} | {need} | {why} |")
    own_idle = {k: v for k, v in op.idle_api.items() if v}
    loaded, base = op.burst, floor.burst
    return [
        "### API requests per build, by verb and resource\n\n" + "\n".join(lines),
        "### API requests during the idle period (all clients, less this one's)\n\n"
        + (", ".join(f"{apicost.label(k)}: {v}" for k, v in sorted(own_idle.items())) or "none"),
        "### Events by source in the burst namespaces\n\n"
        f"- operator run: {dict(loaded.events_by_source)}\n"
        f"- floor run: {dict(base.events_by_source)}",
        "### Floor concurrency sweep\n\n"
        + ", ".join(f"{w} clients: {r:.0f} builds/s" for w, r in floor.rates.items()),
        "### Set-up\n\n"
        f"- kube-controller-manager restarted with {' '.join(CONTROLLER_MANAGER_QPS)} "
        "(its default client limit of 20 requests/s makes the Job controller the bottleneck "
        "for pods: ~9 pods/s)\n"
        f"- pods made by the Job controller: all {n:,} seen {loaded.pods_s:.1f} s after the "
        f"burst started (floor run: {base.pods_s:.1f} s)\n"
        "- pods finished by this client writing pods/status (no kubelet, no kwok)\n"
        f"- this client's watches resumed after the API server ended them: "
        f"{loaded.watch_reconnects} (operator burst), {base.watch_reconnects} (floor burst)",
    ]


# --- the run ------------------------------------------------------------------------------------


def run(plane: ControlPlane, workdir: Path, options: Options) -> tuple[list[Row], list[str]]:
    """Every scenario, the operator's runs then the floor's; the table's rows and notes."""
    raise_controller_manager_qps(plane)
    crds.install(make_kubectl(plane.env))
    kube = Kube(plane.kubeconfig, pool=max(64, options.workers * 2))
    warm_up(kube)
    env = operator_env(plane.env)
    settings = load_settings(env)
    spaces = {
        name: make_namespace(kube, f"bench-{name}")
        for name in ("latency", "burst", "floor-latency", "floor-burst")
    }
    _, watches_before = apicost.scrape(kube)
    op = measure_operator(kube, env, workdir, options, spaces, watches_before)
    floor = measure_floor(kube, settings, spaces, options)
    n = options.burst_builds
    per_build = api_per_build(op, floor, n)
    # The failover replicas watch the whole cluster: the floor's builds, which no
    # operator ever handled, would be theirs to start first (2,000 of them).
    clear_bench_namespaces(kube)
    rows = [
        *reaction_rows(op, floor, options),
        *burst_rows(op, floor, options),
        *api_cost_rows(op, per_build, n),
        *footprint_rows(op, options),
    ]
    if options.failover_runs:  # 0: a quicker run without the takeovers
        rows += failover.rows(failover.measure(plane, kube, workdir, runs=options.failover_runs))
    return rows, detail_notes(op, floor, per_build, n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--latency-builds", type=int, default=200)
    parser.add_argument("--burst-builds", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=32, help="clients applying the burst")
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between latency builds")
    parser.add_argument("--idle", type=float, default=30)
    parser.add_argument("--unrelated-pods", type=int, default=500)
    parser.add_argument("--sweep-builds", type=int, default=200)
    parser.add_argument(
        "--failover-runs", type=int, default=3, help="takeovers of each kind (0: none)"
    )
    parser.add_argument("--profile", type=Path, help="py-spy the operator's burst into DIR")
    parser.add_argument(
        "--heap", type=Path, help="trace the operator's allocations into DIR (python -m bench.heap)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    args = parser.parse_args(argv)
    options = Options(
        latency_builds=args.latency_builds,
        burst_builds=args.burst_builds,
        workers=args.workers,
        gap_s=args.gap,
        idle_s=args.idle,
        noise_pods=args.unrelated_pods,
        sweep_builds=args.sweep_builds,
        failover_runs=args.failover_runs,
        profile=args.profile,
        output=args.output,
        heap=args.heap,
    )
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="goimage-bench-"))
    try:
        plane_started = time.monotonic()
        with control_plane.running(workdir / "control-plane") as plane:
            print(f"control plane up in {time.monotonic() - plane_started:.1f}s: {plane.apiserver}")
            rows, notes = run(plane, workdir, options)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    write_results(
        options.output,
        title="Benchmarks: the operator against its floor",
        intro="Written by `make bench` (bench/run.py); see bench/README.md for what each "
        "figure measures and how the floor is made.",
        rows=rows,
        notes=notes,
        findings=FINDINGS,
    )
    print(f"make bench: {math.ceil(time.monotonic() - started)} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
