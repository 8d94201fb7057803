"""Build speed on the real node: the sample apps built by the deployed operator, cold and
warm, against the same app's `go build` on the host.

The node is the e2e tier's (`cluster/cluster.sh up`: kubelet, containerd, a
registry, a git server and a GOPROXY on this machine); the operator is this
checkout's, built by Kaniko there and installed with the Helm chart (`make image`,
`make deploy`). For each app in examples/, three builds in a row:

- cold: a repository and image name never used, so Kaniko's layer cache is empty;
- warm, same commit: the rebuild annotation, nothing changed (every layer cached);
- warm, source change: one line of main.go changed, then the rebuild annotation
  (the module layer cached, the compile runs again).

Each is timed from the API call that asks for the build (create, annotate) to
the status Succeeded at that generation with a new Job, read by polling the
GoImageBuild every 0.1 s. Kaniko's log with the kubelet's timestamps (`kubectl
logs --timestamps`, the same clock) says where the time went.

The floor is the same app's `go build` on the host with the Dockerfile's flags
(CGO_ENABLED=0, -trimpath, -buildvcs=false, the ldflags): cold with empty module
and build caches (modules from the node's GOPROXY), warm with the caches the
previous build left, the same change made. It makes no image: the ratio is what
an image build in a pod costs over the compile itself.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from testkit import commands, node
from testkit.examples import copy_example, example_spec
from testkit.kubectl import make_kubectl
from testkit.node import CLUSTER_DIR, Cluster, deploy_operator

from bench.kube import GIB, Kube
from bench.report import Row, ratio, write_results

NAMESPACE = "goimage-bench"
BUILD_TIMEOUT_S = 900
POLL_S = 0.1


@dataclasses.dataclass(frozen=True)
class App:
    name: str
    package: str
    edit: str
    """A one-line change to main.go, "old=>new": the source change of the warm build."""


APPS = (
    App("hello", "./cmd/hello", 'fmt.Printf("hello, %s=>fmt.Printf("hello there, %s'),
    App("uuidgen", ".", 'Printf("uuid(=>Printf("UUID('),
)


@dataclasses.dataclass(frozen=True)
class Timed:
    """One build through the operator, and where its time went."""

    total_s: float
    """The API call that asked for it -> status Succeeded at that generation."""
    phases: dict[str, float]
    digest: str
    size: int


# --- where a build's time goes -----------------------------------------------------------------

# Kaniko's log line -> the phase that runs until the next line (first match wins).
_KANIKO_PHASES: tuple[tuple[str, str], ...] = (
    ("Unpacking rootfs", "unpack base image"),
    ("Taking snapshot of full filesystem", "snapshot filesystem"),
    ("Running: [/bin/sh -c go build", "go build"),
    ("Running: [/bin/sh -c go mod download", "go mod download + std packages"),
    ("Running: ", "other RUN"),
    ("Found cached layer, extracting", "extract cached layers"),
    ("Deleting filesystem", "clear stage filesystem"),
    ("Pushing", "push"),
    ("Pushed", "push"),
)
# Kaniko pushes cache layers in the background: their lines land inside later steps.
_CACHE_PUSH = re.compile(r"Pushing layer |Push(?:ing image to|ed) \S*/cache[:@]")
# Kaniko's own lines (--log-format=text): logrus's key=value form.
_KANIKO_LINE = re.compile(r'^(time="[^"]*" )?level=\w+ ')
_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z ")


def _instant(text: str) -> float:
    """An RFC 3339 time (kubelet's, nanoseconds or seconds) as a Unix timestamp."""
    match = _TIMESTAMP.match(text + " ")
    if not match:
        raise ValueError(f"not a timestamp: {text!r}")
    whole = datetime.datetime.fromisoformat(match[1]).replace(tzinfo=datetime.UTC)
    return whole.timestamp() + float(f"0.{match[2] or 0}")


def kaniko_phases(log: str) -> dict[str, float]:
    """Seconds per phase of a Kaniko run, from its log with kubelet timestamps: each line's
    time until the next line goes to the phase the line starts. A line that is not
    Kaniko's own (a RUN's output, git's progress) or that reports a cache layer's
    background push stays in the phase it is part of."""
    stamped = []
    for line in log.splitlines():
        match = _TIMESTAMP.match(line)
        if match:
            stamped.append((_instant(line), line[match.end() :]))
    phases: defaultdict[str, float] = defaultdict(float)
    phase = "other"
    for (at, message), (following, _) in itertools.pairwise(stamped):
        if _KANIKO_LINE.match(message) and not _CACHE_PUSH.search(message):
            phase = next((name for marker, name in _KANIKO_PHASES if marker in message), "other")
        phases[phase] += following - at
    return dict(phases)


def build_phases(asked: float, done: float, log: str) -> dict[str, float]:
    """The build's wall time split at Kaniko's first and last log lines (kubelet
    timestamps, the same clock as this client's): what comes before Kaniko logs,
    Kaniko's phases, and what comes after. The parts add up to the total."""
    stamps = [_instant(line) for line in log.splitlines() if _TIMESTAMP.match(line)]
    if not stamps:
        return {"whole build (Kaniko logged nothing)": done - asked}
    phases = {
        "create -> Kaniko's first line (reconcile, Job, pod start, git clone)": stamps[0] - asked,
        **kaniko_phases(log),
        "Kaniko's last line -> status Succeeded (report step, status write)": done - stamps[-1],
    }
    return {name: seconds for name, seconds in phases.items() if seconds >= 0.05}


# --- the floor: go build on the host ---------------------------------------------------------


def host_go_build(source: Path, app: App, caches: Path, goproxy: str) -> float:
    """Seconds of `go mod download` + `go build` of `source` as the Dockerfile runs them,
    with the module and build caches under `caches` (empty the first time)."""
    env = {
        **os.environ,
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=mod",
        "GOPROXY": goproxy,
        "GOSUMDB": "off",
        "GOCACHE": str(caches / "build"),
        "GOMODCACHE": str(caches / "mod"),
    }
    started = time.monotonic()
    for command in (
        ["go", "mod", "download"],
        ["go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w",
         "-o", str(caches / app.name), app.package],
    ):  # fmt: skip
        commands.run(command, cwd=source, env=env, timeout=600)
    return time.monotonic() - started


def floor_builds(app: App, goproxy: str, workdir: Path) -> dict[str, float]:
    caches = workdir / f"caches-{app.name}"
    source = copy_example(app.name, workdir / f"host-{app.name}")
    cold = host_go_build(source, app, caches, goproxy)
    same = host_go_build(source, app, caches, goproxy)
    changed = copy_example(app.name, workdir / f"host-{app.name}-changed", app.edit)
    return {
        "cold": cold,
        "same commit": same,
        "source change": host_go_build(changed, app, caches, goproxy),
    }


# --- builds through the operator -----------------------------------------------------------


class Builds:
    """GoImageBuilds on the node, timed from the API call to status Succeeded."""

    def __init__(self, cluster: Cluster, kube: Kube) -> None:
        self.cluster = cluster
        self.kube = kube
        self.kubectl = make_kubectl(cluster.env)

    def _path(self, name: str = "") -> str:
        base = f"{GIB}/namespaces/{NAMESPACE}/goimagebuilds"
        return f"{base}/{name}" if name else base

    def _wait(self, name: str, asked: float, previous_job: str) -> dict[str, Any]:
        deadline = time.monotonic() + BUILD_TIMEOUT_S
        while time.monotonic() < deadline:
            body = self.kube.request("GET", self._path(name), count=None)
            status = body.get("status") or {}
            current = status.get("observedGeneration") == body["metadata"]["generation"]
            job = status.get("jobName")
            if current and job and job != previous_job and status.get("phase") == "Succeeded":
                return dict(status)
            if current and job and job != previous_job and status.get("phase") == "Failed":
                raise RuntimeError(f"build {name} failed: {status.get('failure')}")
            time.sleep(POLL_S)
        raise RuntimeError(f"build {name} not done in {BUILD_TIMEOUT_S}s (asked at {asked})")

    def _timed(
        self,
        name: str,
        ask: Callable[[], None],
        previous_job: str,
        steps: tuple[str, ...] = ("build",),
    ) -> Timed:
        asked = time.time()
        ask()
        status = self._wait(name, asked, previous_job)
        done = time.time()
        job = status["jobName"]
        # The Kaniko steps run one after the other: their logs in order are one timeline.
        log = "".join(
            self.kubectl("logs", "-n", NAMESPACE, f"job/{job}", "-c", step, "--timestamps").stdout
            for step in steps
        )
        return Timed(
            total_s=done - asked,
            phases=build_phases(asked, done, log),
            digest=status["digest"],
            size=int(status["size"]),
        )

    def cold(self, body: dict[str, Any], steps: tuple[str, ...] = ("build",)) -> Timed:
        body = {**body, "metadata": {**body["metadata"], "namespace": NAMESPACE}}

        def ask() -> None:
            self.kube.create(GIB, "goimagebuilds", body)

        return self._timed(body["metadata"]["name"], ask, "", steps)

    def rebuild(self, name: str, token: str, steps: tuple[str, ...] = ("build",)) -> Timed:
        previous = self.kube.request("GET", self._path(name), count=None)["status"]["jobName"]
        patch = {"metadata": {"annotations": {"goimage.dev/rebuild": token}}}

        def ask() -> None:
            self.kube.request(
                "PATCH",
                self._path(name),
                body=patch,
                content_type="application/merge-patch+json",
                count=None,
            )

        return self._timed(name, ask, previous, steps)


# --- the section ---------------------------------------------------------------------------


def _phase_note(timed: Timed) -> str:
    parts = sorted(timed.phases.items(), key=lambda item: -item[1])
    return "; ".join(f"{name} {seconds:.1f} s" for name, seconds in parts)


def measure_app(builds: Builds, app: App, workdir: Path) -> list[Row]:
    cluster = builds.cluster
    repo = f"bench-{app.name}-{secrets.token_hex(3)}"
    try:
        cluster.publish(copy_example(app.name, workdir / repo), repo)
        body = example_spec(app.name, cluster, repo, prefix="bench")
        runs = {"cold": builds.cold(body), "same commit": builds.rebuild(repo, "bench-same")}
        cluster.publish(copy_example(app.name, workdir / f"{repo}-changed", app.edit), repo)
        runs["source change"] = builds.rebuild(repo, "bench-changed")
    finally:
        shutil.rmtree(CLUSTER_DIR / "git" / f"{repo}.git", ignore_errors=True)
    floors = floor_builds(app, cluster.goproxy_url, workdir)
    labels = {
        "cold": "cold (empty layer cache)",
        "same commit": "warm, same commit (rebuild)",
        "source change": "warm, one line of main.go changed",
    }
    floor_how = {
        "cold": "host: go mod download + go build, empty module and build caches",
        "same commit": "host: the same go build again, caches warm",
        "source change": "host: go build after the same change, caches warm",
    }
    rows = []
    for key, timed in runs.items():
        floor = floors[key]
        same_digest = key == "same commit" and timed.digest == runs["cold"].digest
        rows.append(
            Row(
                f"build {app.name}: {labels[key]}",
                f"{timed.total_s:.1f} s",
                f"{floor:.2f} s",
                ratio(timed.total_s, floor),
                note=f"image {timed.size / 1024:.0f} KiB"
                + (", same digest as cold" if same_digest else "")
                + f"; floor: {floor_how[key]}; where the time went: {_phase_note(timed)}",
            )
        )
        print(f"  {rows[-1].figure}: {rows[-1].value} (floor {rows[-1].floor})", flush=True)
    return rows


TWO_PLATFORMS = ("linux/amd64", "linux/arm64")


def measure_platforms(builds: Builds, workdir: Path) -> list[Row]:
    """examples/uuidgen for two platforms against the same commit for one: cold (each
    its own empty layer cache) and warm (a rebuild of the same commit)."""
    cluster = builds.cluster
    repo = f"bench-platforms-{secrets.token_hex(3)}"
    steps = tuple(f"build-{p.replace('/', '-')}" for p in TWO_PLATFORMS)
    try:
        cluster.publish(copy_example("uuidgen", workdir / repo), repo)
        one = example_spec("uuidgen", cluster, repo, prefix="bench")
        one["metadata"]["name"] = f"{repo}-one"
        one["spec"]["output"]["image"] += "-one"
        two = example_spec(
            "uuidgen", cluster, repo, prefix="bench", **{"output.platforms": list(TWO_PLATFORMS)}
        )
        two["metadata"]["name"] = f"{repo}-two"
        two["spec"]["output"]["image"] += "-two"
        runs = {
            "cold": (builds.cold(one), builds.cold(two, steps)),
            "same commit": (
                builds.rebuild(f"{repo}-one", "bench-same"),
                builds.rebuild(f"{repo}-two", "bench-same", steps),
            ),
        }
    finally:
        shutil.rmtree(CLUSTER_DIR / "git" / f"{repo}.git", ignore_errors=True)
    rows = []
    for key, (single, double) in runs.items():
        rows.append(
            Row(
                f"build uuidgen for linux/amd64 + linux/arm64: {key}",
                f"{double.total_s:.1f} s",
                f"{single.total_s:.1f} s",
                ratio(double.total_s, single.total_s),
                note="floor: the same commit built for linux/amd64 alone, the same way; "
                f"largest platform image {double.size / 1024:.0f} KiB; "
                f"where the two-platform build's time went: {_phase_note(double)}",
            )
        )
        print(f"  {rows[-1].figure}: {rows[-1].value} (floor {rows[-1].floor})", flush=True)
    return rows


def measure_node_builds() -> list[Row]:
    """Real-node build figures: cold and warm builds of examples/ against host `go build`."""
    if os.geteuid() != 0:
        # No row rather than a "not measured" one: the last results stay as they are.
        raise SystemExit("make bench-builds: the node needs root (mounts, a bridge, iptables)")
    print("build speed on a real node: cluster/cluster.sh up, make image, make deploy", flush=True)
    was_up = node.is_up()
    cluster = node.up()
    kube = Kube(Path(cluster.kubeconfig), pool=4)
    workdir = Path(tempfile.mkdtemp(prefix="goimage-bench-node-"))
    try:
        deploy_operator(cluster)
        builds = Builds(cluster, kube)
        if kube.namespace_exists(NAMESPACE):
            kube.delete_namespace(NAMESPACE)
            while kube.namespace_exists(NAMESPACE):
                time.sleep(0.5)
        kube.create_namespace(NAMESPACE)
        rows = []
        for app in APPS:
            rows += measure_app(builds, app, workdir)
        rows += measure_platforms(builds, workdir)
        kube.delete_namespace(NAMESPACE)
        return rows
    finally:
        kube.close()
        shutil.rmtree(workdir, ignore_errors=True)
        if not was_up:
            node.down()


RESULTS = Path(__file__).resolve().parent / "results-builds.md"
FINDINGS = Path(__file__).resolve().parent / "findings-builds.md"


def main() -> int:
    started = time.monotonic()
    rows = measure_node_builds()
    write_results(
        RESULTS,
        title="Benchmarks: real builds on the node, against `go build` on the host",
        intro="Written by `make bench-builds` (bench/node.py); see bench/README.md.",
        rows=rows,
        notes=[],
        findings=FINDINGS,
    )
    print(f"make bench-builds: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
