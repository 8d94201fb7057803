"""The Argo CD health check (charts/goimage-operator/files/argocd-health.lua), run for real.

The GoImageBuilds are the operator's own output: each status comes from the
core (`status_for_new_build`, `status_from_build` over the Job that
`build_kaniko_job` makes and a Pod as the kubelet reports it), so a change in
the status shape that the script misreads fails here. The script runs on Lua
5.1, the language of gopher-lua that Argo CD embeds, and on 5.4 (lupa ships
both as wheels).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from tests.unit import factories

from goimage.core import kaniko_job, naming, results, status
from goimage.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "charts" / "goimage-operator" / "files" / "argocd-health.lua"
DOC = ROOT / "docs" / "gitops.md"

T_START = "2025-11-20T10:00:01Z"
T_BUILD = "2025-11-20T10:00:09Z"
T_DONE = "2025-11-20T10:02:33Z"
DIGEST = "sha256:" + "4f1c9a0e" * 8
SIZE = 8_123_456  # 7.7 MiB
COMPILE_TAIL = """\
INFO[0058] RUN go build -trimpath -buildvcs=false -ldflags='-s -w' -o /out/gitback .
./main.go:14:2: undefined: fmt.Printn
error building image: error building stage: failed to execute command: exit status 1
"""

Health = Callable[[Mapping[str, Any]], dict[str, str]]


@pytest.fixture(params=["lua51", "lua54"])
def health(request: pytest.FixtureRequest) -> Health:
    """`health(obj)`: the script's result for a GoImageBuild, as Argo CD would get it."""
    lupa = importlib.import_module(f"lupa.{request.param}")
    script = SCRIPT.read_text()

    def run(obj: Mapping[str, Any]) -> dict[str, str]:
        lua = lupa.LuaRuntime()
        lua.globals().obj = lua.table_from(obj, recursive=True)
        result = lua.execute(script)
        return {str(key): str(value) for key, value in result.items()}

    return run


# --- GoImageBuilds as the operator leaves them ------------------------------------------------


def build(
    patch: Mapping[str, Any] | None, *, generation: int = 3, max_size: str | None = None
) -> dict[str, Any]:
    """A GoImageBuild of `generation` whose status is the merge patch `patch` (None: no status)."""
    spec = factories.spec_with({"output.maxSize": max_size} if max_size else {})
    body = factories.body(spec, generation=generation)
    if patch is not None:
        body["status"] = {key: value for key, value in patch.items() if value is not None}
    return body


def job(*, max_size: str | None = None, **job_status: Any) -> dict[str, Any]:
    values = {"output.maxSize": max_size} if max_size else None
    made = kaniko_job.build_kaniko_job(factories.plan(values), Settings())
    made["metadata"]["creationTimestamp"] = T_START
    made["status"] = {"startTime": T_START, **job_status}
    return made


def pod(phase: str, build_state: dict[str, Any], report_state: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "gitback-3-x7k2p", "namespace": factories.NAMESPACE},
        "status": {
            "phase": phase,
            "initContainerStatuses": [{"name": naming.CONTAINER_BUILD, "state": build_state}],
            "containerStatuses": [{"name": naming.CONTAINER_REPORT, "state": report_state}],
        },
    }


def terminated(code: int, message: str = "") -> dict[str, Any]:
    reason = "Completed" if code == 0 else "Error"
    return {"terminated": {"exitCode": code, "reason": reason, "message": message}}


def complete(*, max_size: str | None = None) -> dict[str, Any]:
    finished = {"type": "Complete", "status": "True", "lastTransitionTime": T_DONE}
    report = results.BuildResult(DIGEST, SIZE).to_message(factories.IMAGE)
    return status.status_from_build(
        job=job(max_size=max_size, succeeded=1, completionTime=T_DONE, conditions=[finished]),
        pod=pod("Succeeded", terminated(0), terminated(0, report)),
        previous={},
        now=T_DONE,
    )


def pending() -> dict[str, Any]:
    return status.status_for_new_build(factories.plan(), previous={}, now=T_START)


def building() -> dict[str, Any]:
    running = {"running": {"startedAt": T_BUILD}}
    waiting = {"waiting": {"reason": "PodInitializing"}}
    return status.status_from_build(
        job=job(active=1), pod=pod("Pending", running, waiting), previous={}, now=T_BUILD
    )


def compile_failed() -> dict[str, Any]:
    failed = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}
    return status.status_from_build(
        job=job(failed=1, conditions=[failed]),
        pod=pod("Failed", terminated(1, COMPILE_TAIL), {"waiting": {"reason": "PodInitializing"}}),
        previous={},
        now=T_DONE,
    )


# --- the cases --------------------------------------------------------------------------------


def test_no_status_yet_is_progressing(health: Health) -> None:
    assert health(build(None))["status"] == "Progressing"


def test_the_crd_default_status_is_progressing(health: Health) -> None:
    # What the API server shows before the operator's first write.
    assert health(build({"phase": "Pending", "observedGeneration": 0}))["status"] == "Progressing"


def test_an_empty_status_is_progressing(health: Health) -> None:
    assert health(build({}))["status"] == "Progressing"


def test_pending_is_progressing(health: Health) -> None:
    result = health(build(pending()))
    assert result == {"status": "Progressing", "message": "build 3 started: job gitback-3"}


def test_building_is_progressing(health: Health) -> None:
    assert building()["phase"] == "Building"
    result = health(build(building()))
    assert result == {"status": "Progressing", "message": "Kaniko is building the image"}


def test_succeeded_at_the_current_generation_is_healthy(health: Health) -> None:
    assert complete()["phase"] == "Succeeded"
    result = health(build(complete()))
    assert result == {
        "status": "Healthy",
        "message": f"{factories.IMAGE}@{DIGEST} (7.7 MiB)",
    }


def test_succeeded_but_a_newer_generation_is_progressing(health: Health) -> None:
    result = health(build(complete(), generation=4))
    assert result == {
        "status": "Progressing",
        "message": "Waiting for the operator to observe generation 4",
    }


def test_ready_true_without_observed_generation_is_not_trusted(health: Health) -> None:
    stale = complete()
    del stale["observedGeneration"]
    for condition in stale["conditions"]:
        del condition["observedGeneration"]
    assert health(build(stale))["status"] == "Progressing"


def test_observed_generation_from_ready_when_the_status_field_is_missing(health: Health) -> None:
    current = complete()
    del current["observedGeneration"]
    assert health(build(current))["status"] == "Healthy"


def test_image_too_large_is_degraded_with_reason_and_message(health: Health) -> None:
    too_large = complete(max_size="1Mi")
    assert too_large["failure"]["reason"] == "ImageTooLarge"
    result = health(build(too_large, max_size="1Mi"))
    assert result["status"] == "Degraded"
    assert result["message"] == f"ImageTooLarge: {too_large['failure']['message']}"
    assert "over spec.output.maxSize" in result["message"]


def test_compile_failure_is_degraded_with_the_log_line(health: Health) -> None:
    failed = compile_failed()
    assert failed["failure"]["reason"] == "BuildFailed"
    result = health(build(failed))
    assert result["status"] == "Degraded"
    assert result["message"].startswith("BuildFailed: ")
    assert "undefined: fmt.Printn" in result["message"]


def test_failed_at_an_older_generation_is_progressing(health: Health) -> None:
    # The user fixed the spec; until the operator sees it, it is not Degraded.
    assert health(build(compile_failed(), generation=4))["status"] == "Progressing"


def test_stalled_without_a_failure_block_is_degraded_with_the_ready_reason(health: Health) -> None:
    failed = compile_failed()
    del failed["failure"]
    failed["phase"] = "Unknown"
    result = health(build(failed))
    assert result["status"] == "Degraded"
    assert result["message"].startswith("BuildFailed: ")


def test_the_gitops_doc_shows_the_script_verbatim() -> None:
    script = SCRIPT.read_text()
    doc = DOC.read_text()
    assert script in doc, "docs/gitops.md must show files/argocd-health.lua verbatim"
    in_argocd_cm = "".join(
        f"    {line}" if line.strip() else line for line in script.splitlines(True)
    )
    assert in_argocd_cm in doc, "docs/gitops.md's argocd-cm example must hold the script"
