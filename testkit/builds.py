"""GoImageBuilds on a control plane, as the integration tests drive them: write one, read
it back, wait for its status and its Job. Every waiting call ends in a failure that shows
the operator's log."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from testkit.kubectl import Kubectl
from testkit.operator_process import OperatorProcess

REPOSITORY = "registry.invalid/team/hello"
DIGEST = "sha256:" + "ab" * 32
# The revision of every build here: a full commit, which the operator builds without
# asking git (git.invalid answers nothing); tests of resolving have a git server of their own.
COMMIT = "c0ffee" + "0" * 34
WAIT_S = 60


def build(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "goimage.dev/v1alpha1",
        "kind": "GoImageBuild",
        "metadata": {"name": name},
        "spec": {
            "source": {"git": {"url": "https://git.invalid/team/hello.git", "revision": COMMIT}},
            "go": {"package": "./cmd/hello"},
            "output": {"image": REPOSITORY, "tags": ["latest", "v1"]},
        },
    }
    for key, value in spec.items():
        body["spec"][key] = value
    return body


def apply(kubectl: Kubectl, namespace: str, body: dict[str, Any]) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))


def get(kubectl: Kubectl, namespace: str, kind: str, name: str) -> dict[str, Any]:
    return json.loads(kubectl("get", "-n", namespace, kind, name, "-o", "json").stdout)  # type: ignore[no-any-return]


def items(kubectl: Kubectl, namespace: str, kind: str) -> list[dict[str, Any]]:
    selector = "app.kubernetes.io/managed-by=goimage-operator"
    out = kubectl("get", "-n", namespace, kind, "-l", selector, "-o", "json").stdout
    return json.loads(out)["items"]  # type: ignore[no-any-return]


def wait_for(
    what: str, probe: Callable[[], Any], operator: OperatorProcess, timeout: float = WAIT_S
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}\n{operator.log()}")


def status_of(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    return get(kubectl, namespace, "goimagebuild", name).get("status") or {}


def wait_phase(
    kubectl: Kubectl, namespace: str, name: str, phase: str, operator: OperatorProcess
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        status = status_of(kubectl, namespace, name)
        return status if status.get("phase") == phase else None

    return wait_for(f"{name} to be {phase}", probe, operator)  # type: ignore[no-any-return]


def wait_job_complete(
    kubectl: Kubectl, namespace: str, job: str, operator: OperatorProcess
) -> None:
    def complete() -> bool:
        conditions = get(kubectl, namespace, "job", job).get("status", {}).get("conditions", [])
        return any(c["type"] == "Complete" and c["status"] == "True" for c in conditions)

    wait_for(f"job {job} to complete", complete, operator)


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


def current_job(
    kubectl: Kubectl, namespace: str, name: str, operator: OperatorProcess
) -> dict[str, Any]:
    job_name = wait_for(
        f"{name}'s job", lambda: status_of(kubectl, namespace, name).get("jobName"), operator
    )
    return wait_for(  # type: ignore[no-any-return]
        f"job {job_name}",
        lambda: next(
            (j for j in items(kubectl, namespace, "jobs") if j["metadata"]["name"] == job_name),
            None,
        ),
        operator,
    )
