"""Failover: the time from the active replica's death to the next status write.

Two replicas of the operator (kopf peering, as the chart runs them) against
the bench's control plane. Each run: a build is running under the active
replica; the active one is stopped, SIGKILL (a lost node: the standby waits
for the dead one's record to expire) or SIGTERM (an upgrade: the old replica
deletes its record on the way out); at once the build's pod finishes (the
test's kubelet writes it), and the figure is the time from the signal until
the build's status reads Succeeded, written by the replica that took over. A
new replica is then started as the next standby, as the Deployment would.
The goal is 15 s (docs/operations.md); the lifetime is the chart's default.

`python -m bench.failover` runs this alone on a control plane of its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testkit import control_plane, crds
from testkit import kubelet_standin as kubelet
from testkit.builds import DIGEST, REPOSITORY, apply, build, current_job, wait_for, wait_phase
from testkit.control_plane import ControlPlane
from testkit.kubectl import Kubectl, make_kubectl
from testkit.operator_process import OperatorProcess, operator_env

from bench.kube import GIB, Kube
from bench.report import Row, percentile, write_results
from goimage.handlers.startup import DEFAULT_PEERING_LIFETIME_S

GOAL_S = 15.0
PEERING = "bench-failover"
NAMESPACE = "bench-failover"
POLL_S = 0.05
# kopf logs this when a replica starts to act (peering is mandatory: each starts paused).
ACTING = "Resuming operations after the pause"


@dataclasses.dataclass(frozen=True)
class Figures:
    killed: list[float]
    """SIGKILL of the active replica -> the build's status Succeeded, per run."""
    terminated: list[float]
    """SIGTERM of the active replica -> the build's status Succeeded, per run."""
    lifetime: int


class Replicas:
    """The operator's replicas, oldest (active) first."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env | {
            "GOIMAGE_PEERING": PEERING,
            "GOIMAGE_PEERING_LIFETIME": str(DEFAULT_PEERING_LIFETIME_S),
        }
        self.workdir = workdir
        self.running: list[OperatorProcess] = []
        self._started = 0

    def add(self) -> OperatorProcess:
        self._started += 1
        log_path = self.workdir / f"operator-{self._started}.log"
        process = OperatorProcess(env=self.env, log_path=log_path, log_args=("--log-format=json",))
        process.start()
        self.running.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.running:
            process.stop(kill=True)
        self.running.clear()


def _phase(kube: Kube, name: str) -> str:
    path = f"{GIB}/namespaces/{NAMESPACE}/goimagebuilds/{name}"
    body = kube.request("GET", path, count=None)
    return str((body.get("status") or {}).get("phase", ""))


def _peers(kubectl: Kubectl) -> int:
    body = json.loads(kubectl("get", "clusterkopfpeering", PEERING, "-o=json").stdout)
    return len(body.get("status") or {})


def one_run(
    kube: Kube, kubectl: Kubectl, replicas: Replicas, index: int, how: signal.Signals
) -> float:
    """A build running under the active replica; `how` sent to it; seconds until Succeeded."""
    active, standby = replicas.running[0], replicas.running[1]
    name = f"failover-{index:02d}"
    apply(kubectl, NAMESPACE, build(name))
    job = current_job(kubectl, NAMESPACE, name, active)
    pod = kubelet.pod_of(kubectl, NAMESPACE, job["metadata"]["name"])
    kubelet.start_build(kubectl, pod)
    wait_phase(kubectl, NAMESPACE, name, "Building", active)
    assert active.process is not None
    active.process.send_signal(how)
    sent = time.monotonic()
    kubelet.succeed(kubectl, pod, repository=REPOSITORY, digest=DIGEST, size=4096)
    deadline = sent + 120
    while _phase(kube, name) != "Succeeded":
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not Succeeded 120 s after {how.name}\n{standby.log()}")
        time.sleep(POLL_S)
    took = time.monotonic() - sent
    active.stop(kill=True)  # reaped (it exits by itself after SIGTERM)
    replicas.running.pop(0)
    print(f"failover run {index} ({how.name}): {took:.2f} s", flush=True)
    # The replacement pod: younger, so it stands by.
    replicas.add()
    wait_for("two live peers", lambda: _peers(kubectl) == 2, standby)
    return took


def measure(plane: ControlPlane, kube: Kube, workdir: Path, *, runs: int) -> Figures:
    """`runs` SIGKILL and `runs` SIGTERM takeovers, in the bench's control plane."""
    kubectl = make_kubectl(plane.env)
    crds.install(kubectl)
    kubectl("create", "namespace", NAMESPACE)
    kubectl("wait", "--for=create", "--timeout=60s", "-n", NAMESPACE, "serviceaccount/default")
    kubectl("create", "-f", "-", input=json.dumps(
        {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": PEERING}}
    ))  # fmt: skip
    replicas = Replicas(operator_env(plane.env), workdir)
    try:
        first = replicas.add()
        wait_for("the first replica to act", lambda: ACTING in first.full_log(), first)
        replicas.add()
        wait_for("two live peers", lambda: _peers(kubectl) == 2, first)
        time.sleep(2)
        killed = [one_run(kube, kubectl, replicas, i, signal.SIGKILL) for i in range(runs)]
        terminated = [
            one_run(kube, kubectl, replicas, runs + i, signal.SIGTERM) for i in range(runs)
        ]
    finally:
        replicas.stop_all()
        kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
        kubectl("delete", "clusterkopfpeering", PEERING, "--ignore-not-found", check=False)
    return Figures(killed=killed, terminated=terminated, lifetime=DEFAULT_PEERING_LIFETIME_S)


def rows(figures: Figures) -> list[Row]:
    """The failover rows of the results table: worst run beside the 15 s goal."""

    def runs(values: list[float]) -> str:
        return ", ".join(f"{v:.1f}" for v in values)

    worst_kill = max(figures.killed)
    worst_term = max(figures.terminated)
    return [
        Row(
            "failover: active replica SIGKILLed → next status write (worst run)",
            f"{worst_kill:.1f} s",
            f"{GOAL_S:.0f} s (goal)",
            f"{worst_kill / GOAL_S:.1f}x",
            f"{len(figures.killed)} runs: {runs(figures.killed)} s (median "
            f"{percentile(figures.killed, 0.5):.1f} s); kopf peering, lifetime "
            f"{figures.lifetime} s: the standby waits for the dead replica's record to expire",
        ),
        Row(
            "failover: active replica SIGTERMed → next status write (worst run)",
            f"{worst_term:.1f} s",
            f"{GOAL_S:.0f} s (goal)",
            f"{worst_term / GOAL_S:.1f}x",
            f"{len(figures.terminated)} runs: {runs(figures.terminated)} s; the stopping "
            "replica deletes its record, so the standby does not wait for it to expire",
        ),
    ]


@contextmanager
def _plane(workdir: Path) -> Iterator[ControlPlane]:
    with control_plane.running(workdir / "control-plane") as plane:
        yield plane


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="takeovers of each kind")
    parser.add_argument("--output", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="goimage-failover-"))
    try:
        with _plane(workdir) as plane:
            kube = Kube(plane.kubeconfig)
            figures = measure(plane, kube, workdir, runs=args.runs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    table = rows(figures)
    if args.output:
        write_results(
            args.output,
            title="Failover",
            intro="Written by `python -m bench.failover`.",
            rows=table,
            notes=[],
            findings=Path(os.devnull),
        )
    else:
        from bench.report import table as render

        print(render(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
