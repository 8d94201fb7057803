"""Two replicas of the operator against one control plane: one acts, the other stands by.

Both run as `goimage-operator run` with the chart's peering settings
(GOIMAGE_PEERING names a ClusterKopfPeering, kopf peering). The test plays the
kubelet (kubelet_standin) and kills the active replica the way a lost node
does (SIGKILL, no goodbye) or the way a rolling upgrade does (SIGTERM), and
reads what the API server holds: one Job per build, and the statuses the
standby writes once it takes over. On SIGTERM a handler in flight finishes
first: its log read is held in the kubelet stand-in past kopf's own 2 s.

A standby is observably idle: kopf logs every object it handles with the
object's namespace (JSON log, `k8s` reference), and the standby's log names
none of the test's namespace until it takes over.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from testkit import kubelet_standin as kubelet
from testkit.builds import (
    DIGEST,
    REPOSITORY,
    apply,
    build,
    current_job,
    items,
    status_of,
    wait_for,
    wait_phase,
)
from testkit.control_plane import ControlPlane
from testkit.crds import established
from testkit.kubectl import Kubectl
from testkit.operator_process import OperatorProcess, operator_env

from goimage.core.naming import KIND
from goimage.handlers.startup import DEFAULT_SHUTDOWN_TIMEOUT_S

# Short enough to keep this module quick, the chart's default (values.yaml).
LIFETIME_S = 10
# A takeover after SIGKILL: the dead replica's record expires (at most
# LIFETIME_S after its last keep-alive), then the standby lists and acts.
TAKEOVER_LIMIT_S = LIFETIME_S + 10
# After SIGTERM the old replica deletes its record: no waiting for it to expire.
HANDOVER_LIMIT_S = LIFETIME_S - 2
PEERING_CRD = "clusterkopfpeerings.kopf.dev"
# kopf logs this when a replica starts to act (each starts paused: peering is mandatory).
ACTING = "Resuming operations after the pause"
# ... and this when it gets SIGTERM.
SIGTERM_RECEIVED = "Signal SIGTERM is received"

# kopf's own default time for the handlers in flight after SIGTERM (queueing.exit_timeout),
# which the operator raises to its shutdown timeout (GOIMAGE_SHUTDOWN_TIMEOUT, chart default).
KOPF_EXIT_TIMEOUT_S = 2.0
# How long the kubelet stand-in keeps the log read waiting after SIGTERM: past kopf's own
# time, well within the shutdown timeout.
LOG_HOLD_S = 3 * KOPF_EXIT_TIMEOUT_S
# A failed clone: the kubelet's tail (the termination message) is Kaniko's usage text, so the
# operator reads the error from the build step's log.
USAGE_TAIL = """  -v, --verbosity string    Log level (default "info")

Use "executor [command] --help" for more information about a command.
"""
CLONE_ERROR = "Error: error resolving source context: invalid branch: no-such-branch"
BUILD_LOG = f"{CLONE_ERROR}\nUsage:\n  executor [flags]\n{USAGE_TAIL}"

Replica = Callable[[str], OperatorProcess]


@pytest.fixture
def peering(crd: None, kubectl: Kubectl) -> Iterator[str]:
    """A ClusterKopfPeering of this test's own (what the chart's templates/peering.yaml makes)."""
    deadline = time.monotonic() + 60
    while not established(json.loads(kubectl("get", f"crd/{PEERING_CRD}", "-o=json").stdout)):
        assert time.monotonic() < deadline, f"{PEERING_CRD} not Established"
        time.sleep(0.2)
    name = f"failover-{secrets.token_hex(3)}"
    body = {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": name}}
    kubectl("create", "-f", "-", input=json.dumps(body))
    yield name
    kubectl("delete", "clusterkopfpeering", name, "--ignore-not-found", check=False)


@pytest.fixture
def replica(peering: str, control_plane: ControlPlane, tmp_path: Path) -> Iterator[Replica]:
    """`replica(label)`: an operator process of the peering, started (live); all stopped after."""
    started: list[OperatorProcess] = []

    def start(label: str) -> OperatorProcess:
        env = operator_env(control_plane.env) | {
            "GOIMAGE_PEERING": peering,
            "GOIMAGE_PEERING_LIFETIME": str(LIFETIME_S),
        }
        process = OperatorProcess(env=env, log_path=tmp_path / f"operator-{label}.log")
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop(kill=True)


@pytest.fixture
def kubelet_node(
    kubectl: Kubectl, namespace: str, tmp_path: Path
) -> Iterator[tuple[str, kubelet.KubeletLogs]]:
    """A Node whose kubelet (the stand-in's log endpoint) serves its pods' logs."""
    logs = kubelet.KubeletLogs(tmp_path).start()
    name = f"kubelet-{namespace}"[:63]
    kubelet.node(kubectl, name, logs.port)
    yield name, logs
    logs.stop()
    kubectl("delete", "node", name, "--wait=false", check=False)


def names(process: OperatorProcess, namespace: str) -> bool:
    """Whether any line of the process's log is about an object in `namespace`."""
    return f'"namespace": "{namespace}"' in process.full_log()


def job_names(kubectl: Kubectl, namespace: str) -> list[str]:
    return sorted(job["metadata"]["name"] for job in items(kubectl, namespace, "jobs"))


def peers(kubectl: Kubectl, peering: str) -> int:
    body = json.loads(kubectl("get", "clusterkopfpeering", peering, "-o=json").stdout)
    return len(body.get("status") or {})


def logged_at(process: OperatorProcess, message: str, *, after: str) -> float:
    """Seconds from the first log line holding `after` to the next one holding `message`."""
    stamps: list[datetime] = []
    for line in process.full_log().splitlines():
        wanted = message if stamps else after
        if line.startswith("{") and wanted in line:
            stamps.append(datetime.fromisoformat(json.loads(line)["timestamp"]))
            if len(stamps) == 2:
                return (stamps[1] - stamps[0]).total_seconds()
    raise AssertionError(f"no {message!r} after {after!r} in the log:\n{process.log()}")


def wait_acting(process: OperatorProcess) -> None:
    wait_for("the replica to act", lambda: ACTING in process.full_log(), process)


def wait_standing_by(kubectl: Kubectl, peering: str, process: OperatorProcess) -> None:
    """`process` has its record in the peering and stays paused (kopf logs nothing then)."""
    wait_for("two live peers", lambda: peers(kubectl, peering) == 2, process)
    time.sleep(2)
    assert ACTING not in process.full_log(), "a second replica acts"


def building(
    kubectl: Kubectl, namespace: str, name: str, active: OperatorProcess
) -> dict[str, Any]:
    """`name` applied, its Job made and its pod running: the build's pod."""
    apply(kubectl, namespace, build(name))
    job = current_job(kubectl, namespace, name, active)
    pod = kubelet.pod_of(kubectl, namespace, job["metadata"]["name"])
    kubelet.start_build(kubectl, pod)
    wait_phase(kubectl, namespace, name, "Building", active)
    return pod


def test_standby_takes_over_after_sigkill_and_duplicates_nothing(
    kubectl: Kubectl, namespace: str, peering: str, replica: Replica
) -> None:
    first = replica("first")
    wait_acting(first)
    second = replica("second")
    wait_standing_by(kubectl, peering, second)
    pod = building(kubectl, namespace, "hello", first)
    assert not names(second, namespace), "the standby handled the test's objects"

    first.stop(kill=True)
    killed = time.monotonic()
    # While nobody acts: the running build finishes, and a new build is applied.
    kubelet.succeed(kubectl, pod, repository=REPOSITORY, digest=DIGEST, size=4096)
    apply(kubectl, namespace, build("late"))
    assert status_of(kubectl, namespace, "hello")["phase"] == "Building"

    status = wait_phase(kubectl, namespace, "hello", "Succeeded", second)
    takeover = time.monotonic() - killed
    assert takeover < TAKEOVER_LIMIT_S, f"took over after {takeover:.1f}s"
    assert status["digest"] == DIGEST
    assert status["jobName"] == "hello-1"
    current_job(kubectl, namespace, "late", second)
    # One Job per build: the standby found hello's Job and did not make another.
    assert job_names(kubectl, namespace) == ["hello-1", "late-1"]
    print(f"takeover after SIGKILL: {takeover:.1f}s (lifetime {LIFETIME_S}s)")


def test_sigterm_hands_over_at_once_and_a_restarted_replica_stands_by(
    kubectl: Kubectl, namespace: str, peering: str, replica: Replica
) -> None:
    first = replica("first")
    wait_acting(first)
    second = replica("second")
    wait_standing_by(kubectl, peering, second)
    pod = building(kubectl, namespace, "hello", first)

    # A rolling upgrade: the old active pod gets SIGTERM; it finishes, says goodbye
    # (deletes its peering record), and the standby takes over without waiting.
    terminated = time.monotonic()
    first.stop()
    kubelet.succeed(kubectl, pod, repository=REPOSITORY, digest=DIGEST, size=4096)
    wait_phase(kubectl, namespace, "hello", "Succeeded", second)
    handover = time.monotonic() - terminated
    assert handover < HANDOVER_LIMIT_S, f"handed over after {handover:.1f}s"

    # The old pod's replacement is younger than the active one: it stands by.
    third = replica("third")
    wait_standing_by(kubectl, peering, third)
    building(kubectl, namespace, "next", second)
    assert not names(third, namespace), "the restarted replica handled the test's objects"
    assert job_names(kubectl, namespace) == ["hello-1", "next-1"]
    print(f"handover after SIGTERM: {handover:.1f}s")


def test_sigterm_lets_a_handler_in_flight_finish(
    kubectl: Kubectl,
    namespace: str,
    replica: Replica,
    kubelet_node: tuple[str, kubelet.KubeletLogs],
) -> None:
    node, logs = kubelet_node
    active = replica("only")
    wait_acting(active)
    apply(kubectl, namespace, build("hello"))
    job = current_job(kubectl, namespace, "hello", active)
    pod = kubelet.pod_of(kubectl, namespace, job["metadata"]["name"])
    kubelet.bind(kubectl, pod, node)
    kubelet.start_build(kubectl, pod)
    wait_phase(kubectl, namespace, "hello", "Building", active)

    # The clone fails; the handler asks the API server for the build step's log, and the
    # kubelet (stand-in) holds the answer: the handler is in flight.
    logs.logs[namespace, pod["metadata"]["name"], kubelet.BUILD] = BUILD_LOG
    logs.hold()
    kubelet.fail_build(kubectl, pod, log_tail=USAGE_TAIL)
    wait_for("the operator's log read", logs.requested.is_set, active)
    assert status_of(kubectl, namespace, "hello")["phase"] == "Building"

    assert active.process is not None
    active.process.send_signal(signal.SIGTERM)
    terminated = time.monotonic()
    time.sleep(LOG_HOLD_S)
    logs.release()
    try:
        code = active.process.wait(timeout=DEFAULT_SHUTDOWN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {DEFAULT_SHUTDOWN_TIMEOUT_S}s after SIGTERM:\n{active.log()}")
    exited = time.monotonic() - terminated
    read_at = logs.requests[0][0] - terminated

    # The handler finished with the log's answer, after kopf's own 2 s had passed.
    status = status_of(kubectl, namespace, "hello")
    assert status["phase"] == "Failed", (status, active.log())
    assert status["failure"]["reason"] == "SourceFailed", status["failure"]
    assert CLONE_ERROR.removeprefix("Error: ") in status["failure"]["message"]
    # kopf waited for it: nothing cancelled, no work left behind (with kopf's own 2 s it
    # logs "Unprocessed streams left" and "Handler 'pod_changed' is cancelled").
    shutdown = active.full_log().partition(SIGTERM_RECEIVED)[2]
    assert "Handler 'pod_changed' succeeded" in shutdown, shutdown
    assert "is cancelled. Will escalate" not in shutdown, shutdown
    assert "Unprocessed streams left" not in shutdown, shutdown
    assert code == 0, active.log()
    # ... and its Event was posted by the handler itself, before the process exited (kopf's
    # background poster, which stops with the operator, used to drop it).
    listed = json.loads(kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    told = [
        (e["type"], e["reason"], e["source"].get("component"))
        for e in listed
        if e["involvedObject"].get("name") == "hello" and e["involvedObject"]["kind"] == KIND
    ]
    assert ("Warning", "SourceFailed", "goimage-operator") in told, told
    finished = logged_at(active, "Handler 'pod_changed' succeeded", after=SIGTERM_RECEIVED)
    print(
        f"handler in flight from {-read_at:.1f}s before SIGTERM (its log read), answered "
        f"{LOG_HOLD_S:.0f}s after, finished {finished:.1f}s after; the process exited "
        f"{exited:.1f}s after SIGTERM (limit {DEFAULT_SHUTDOWN_TIMEOUT_S:.0f}s)"
    )


# --- the settings behind it (no control plane) ------------------------------------------------


def test_the_earlier_replica_has_the_higher_priority_and_settings_come_from_env() -> None:
    import kopf

    from goimage.handlers import startup

    assert startup.seniority(1_000_000_000) > startup.seniority(1_000_001_000) > 0
    env = {"GOIMAGE_PEERING": "goimage-operator", "GOIMAGE_PEERING_LIFETIME": "12"}
    peering = startup.peering_from_env(env, started_ns=5_000)
    assert peering == startup.Peering("goimage-operator", 12, startup.seniority(5_000))
    assert startup.peering_from_env({}, started_ns=0).name == ""  # standalone
    with pytest.raises(ValueError, match="GOIMAGE_PEERING_LIFETIME"):
        startup.peering_from_env({"GOIMAGE_PEERING_LIFETIME": "2"}, started_ns=0)

    settings = kopf.OperatorSettings()
    startup.configure_peering(settings, peering)
    assert (settings.peering.standalone, settings.peering.mandatory) == (False, True)
    assert (settings.peering.name, settings.peering.lifetime) == ("goimage-operator", 12)
    startup.configure_shutdown(settings, startup.shutdown_timeout_from_env({}))
    assert settings.queueing.exit_timeout == 20
    assert settings.process.ultimate_exiting_timeout == 25
    standalone = kopf.OperatorSettings()
    startup.configure_peering(standalone, startup.peering_from_env({}, started_ns=0))
    assert standalone.peering.standalone is True
