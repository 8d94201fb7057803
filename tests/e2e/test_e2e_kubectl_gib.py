"""`kubectl gib logs -f` on the real node: the path the integration tier cannot run (a
container's log comes from the kubelet). A real build of examples/hello through the
operator is followed from before its pod starts to its end; the followed log has Kaniko's
lines under `[build]` and the report step's JSON under `[report]`, in that order, and the
command ends by itself when the build does. Then `logs` without -f prints the same log.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from testkit.examples import example_spec
from testkit.kubectl import Kubectl
from testkit.node import Cluster
from testkit.paths import TOOLS_BIN
from tests.e2e.e2e_helpers import publish, settle

VENV_BIN = Path(sys.executable).parent
FOLLOW_TIMEOUT_S = 600


def test_logs_follow_a_running_build_to_its_end(
    operator: str,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    git_repo: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    publish(cluster, tmp_path_factory.mktemp("repo"), "hello", git_repo)
    body = example_spec("hello", cluster, git_repo)
    name = body["metadata"]["name"] = git_repo
    env = {**cluster.env, "PATH": f"{VENV_BIN}:{TOOLS_BIN}:{cluster.env.get('PATH', '')}"}
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))
    started = time.monotonic()
    followed = subprocess.run(
        [str(TOOLS_BIN / "kubectl"), "gib", "logs", name, "-f", "-n", namespace],
        env=env,
        capture_output=True,
        text=True,
        timeout=FOLLOW_TIMEOUT_S,
        check=False,
    )
    seconds = time.monotonic() - started
    status = settle(kubectl, namespace, [name])[name]
    assert followed.returncode == 0, followed.stderr
    assert status["phase"] == "Succeeded", status
    lines = followed.stdout.splitlines()
    steps = [line.split("]", 1)[0] + "]" for line in lines]
    assert steps[0] == "[build]", lines[:5]
    assert "[report]" in steps
    # Every Kaniko line comes before the report step's.
    assert steps.index("[report]") > max(i for i, s in enumerate(steps) if s == "[build]")
    assert any("Pushed" in line or "Pushing image" in line for line in lines), lines[-20:]
    report = json.loads(
        next(line for line in lines if line.startswith("[report] {")).split(" ", 1)[1]
    )
    assert report["digest"] == status["digest"]
    assert seconds < FOLLOW_TIMEOUT_S
    # Once more without -f: the whole log of the finished build, the same lines.
    again = subprocess.run(
        [str(TOOLS_BIN / "kubectl"), "gib", "logs", name, "-n", namespace],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert again.stdout == followed.stdout
