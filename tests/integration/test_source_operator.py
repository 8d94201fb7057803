"""The source commit through the operator, against a real API server and a real git server.

The git server is the test ground's (cluster/httpd.py: `git http-backend`) on loopback,
with basic auth under private/ (tests/integration/test_git_remote.py); the operator
runs as its own process; the kubelet is played by the test (kubelet_standin), which
also writes a resolve pod's termination message as the resolve step would.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from testkit import kubelet_standin as kubelet
from testkit.builds import (
    DIGEST,
    REPOSITORY,
    apply,
    build,
    condition,
    current_job,
    get,
    items,
    status_of,
    wait_for,
    wait_phase,
)
from testkit.control_plane import ControlPlane
from testkit.kubectl import Kubectl
from testkit.operator_process import OperatorProcess, operator_env
from tests.integration.test_git_remote import _auth_handler, _load_httpd, git

POLL_S = 30  # the shortest poll the API allows
TICK_S = 5  # the operator's poll timer
BUILD = "app.kubernetes.io/component=build"
RESOLVE = "app.kubernetes.io/component=resolve"


@dataclass
class Remote:
    url: str
    work: Path
    root: Path

    def commit(self, message: str) -> str:
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.work)
        for bare in ("app.git", "private/app.git"):
            git("push", "-q", "--force", str(self.root / bare), "main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    root = tmp_path_factory.mktemp("git-root")
    work = tmp_path_factory.mktemp("git-work")
    for bare in ("app.git", "private/app.git"):
        (root / bare).parent.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "--bare", "--initial-branch=main", str(root / bare), cwd=root)
    git("init", "-q", "--initial-branch=main", cwd=work)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _auth_handler(_load_httpd().GitHandler, root))
    httpd.daemon_threads = True
    httpd.requests = []  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    remote = Remote(f"http://127.0.0.1:{httpd.server_port}", work, root)
    remote.commit("first")
    try:
        yield remote
    finally:
        httpd.shutdown()
        httpd.server_close()


def head(remote: Remote) -> str:
    return git("rev-parse", "HEAD", cwd=remote.work)


def source_build(name: str, url: str, **git_fields: Any) -> dict[str, Any]:
    body = build(name)
    body["spec"]["source"] = {"git": {"url": url, "revision": "main", **git_fields}}
    return body


def build_jobs(kubectl: Kubectl, namespace: str) -> list[dict[str, Any]]:
    out = kubectl("get", "-n", namespace, "jobs", "-l", BUILD, "-o", "json").stdout
    return json.loads(out)["items"]  # type: ignore[no-any-return]


def commits(kubectl: Kubectl, namespace: str) -> list[str]:
    """The commit of each build Job, oldest first."""
    jobs = sorted(
        build_jobs(kubectl, namespace),
        key=lambda j: (j["metadata"]["creationTimestamp"], j["metadata"]["name"]),
    )
    return [j["metadata"]["annotations"]["goimage.dev/commit"] for j in jobs]


def succeed(kubectl: Kubectl, namespace: str, job: str) -> None:
    pod = kubelet.pod_of(kubectl, namespace, job)
    kubelet.succeed(kubectl, pod, repository=REPOSITORY, digest=DIGEST, size=1234)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_job_pins_the_heads_commit_and_the_status_names_it(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, remote: Remote
) -> None:
    url = f"{remote.url}/app.git"
    apply(kubectl, namespace, source_build("hello", url))
    job = current_job(kubectl, namespace, "hello", operator)
    commit = head(remote)
    assert job["metadata"]["annotations"]["goimage.dev/commit"] == commit
    assert job["metadata"]["annotations"]["goimage.dev/revision"] == "main"
    args = job["spec"]["template"]["spec"]["initContainers"][0]["args"]
    context = f"--context=git://127.0.0.1:{url.split(':')[2]}#refs/heads/main#{commit}"
    assert context in args
    configmap = get(kubectl, namespace, "configmap", job["metadata"]["name"])
    dockerfile = configmap["data"]["Dockerfile"].rstrip("\n").splitlines()
    assert dockerfile[-1] == f'LABEL "org.opencontainers.image.revision"="{commit}"'

    status = status_of(kubectl, namespace, "hello")
    assert status["source"] == {
        "url": url,
        "revision": "main",
        "commit": commit,
        "shortCommit": commit[:12],
        "ref": "refs/heads/main",
    }
    wide = kubectl("get", "gib", "hello", "-n", namespace, "-o", "wide").stdout
    assert "COMMIT" in wide.splitlines()[0]
    assert commit[:12] in wide.splitlines()[1]
    # The status comes from the Job: it holds when the build has run.
    succeed(kubectl, namespace, job["metadata"]["name"])
    done = wait_phase(kubectl, namespace, "hello", "Succeeded", operator)
    assert done["source"]["commit"] == commit


def test_git_down_waits_and_a_missing_revision_fails(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, remote: Remote
) -> None:
    down = f"http://127.0.0.1:{closed_port()}/app.git"
    apply(kubectl, namespace, source_build("down", down))
    apply(kubectl, namespace, source_build("nobranch", f"{remote.url}/app.git", revision="nope"))

    def reason(name: str) -> str:
        conditions = status_of(kubectl, namespace, name).get("conditions") or []
        return next((c["reason"] for c in conditions if c["type"] == "Ready"), "")

    wait_for("down to wait for its source", lambda: reason("down") == "SourceUnavailable", operator)
    waiting = status_of(kubectl, namespace, "down")
    assert waiting["phase"] == "Pending"
    assert "127.0.0.1" in condition(waiting, "Ready")["message"]
    failed = wait_phase(kubectl, namespace, "nobranch", "Failed", operator)
    assert failed["failure"]["reason"] == "SourceFailed"
    assert "spec.source.git.revision 'nope'" in failed["failure"]["message"]
    assert build_jobs(kubectl, namespace) == []


def test_a_private_repository_is_resolved_by_a_resolve_job_not_counted_as_a_build(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, remote: Remote
) -> None:
    url = f"{remote.url}/private/app.git"
    apply(kubectl, namespace, source_build("private", url, secretRef={"name": "git-creds"}))
    resolve = wait_for(
        "the resolve job",
        lambda: json.loads(
            kubectl("get", "-n", namespace, "jobs", "-l", RESOLVE, "-o", "json").stdout
        )["items"],
        operator,
    )[0]
    (container,) = resolve["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["goimage-operator", "resolve"]
    assert f"--url={url}" in container["args"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"]}
    assert refs == {
        "GIT_USERNAME": "git-creds",
        "GIT_PASSWORD": "git-creds",
        "GIT_TOKEN": "git-creds",
    }
    assert status_of(kubectl, namespace, "private")["phase"] == "Pending"
    # Not a build: the namespace has no build Job, and nothing reads it as one.
    assert build_jobs(kubectl, namespace) == []
    assert status_of(kubectl, namespace, "private").get("jobName") is None

    # The resolve step answers (as the kubelet would report it): the build pins that commit.
    commit = "5eed" * 10
    pod = kubelet.pod_of(kubectl, namespace, resolve["metadata"]["name"])
    message = json.dumps({"commit": commit, "ref": "refs/heads/main"})
    status = {
        "phase": "Succeeded",
        "containerStatuses": [
            {
                "name": "resolve",
                "image": container["image"],
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "message": message,
                        "startedAt": "2026-01-01T00:00:00Z",
                        "finishedAt": "2026-01-01T00:00:01Z",
                    }
                },
            }
        ],
    }
    kubectl(
        "patch", "pod", pod["metadata"]["name"], "-n", namespace, "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": status}),
    )  # fmt: skip
    job = current_job(kubectl, namespace, "private", operator)
    assert job["metadata"]["annotations"]["goimage.dev/commit"] == commit
    args = job["spec"]["template"]["spec"]["initContainers"][0]["args"]
    assert any(a.endswith(f"/private/app.git#refs/heads/main#{commit}") for a in args)
    assert status_of(kubectl, namespace, "private")["source"]["commit"] == commit
    wait_for(
        "the resolve job to go",
        lambda: not kubectl("get", "-n", namespace, "jobs", "-l", RESOLVE, "-o", "name").stdout,
        operator,
    )
    assert [j["metadata"]["name"] for j in items(kubectl, namespace, "jobs")] == [
        job["metadata"]["name"]
    ]


def test_poll_builds_each_new_commit_once_also_across_a_restart(
    kubectl: Kubectl,
    namespace: str,
    crd: None,
    control_plane: ControlPlane,
    remote: Remote,
    tmp_path: Path,
) -> None:
    process = OperatorProcess(env=operator_env(control_plane.env), log_path=tmp_path / "op.log")
    process.start()
    try:
        url = f"{remote.url}/app.git"
        first = head(remote)
        apply(kubectl, namespace, source_build("follow", url, poll=f"{POLL_S}s"))
        job = current_job(kubectl, namespace, "follow", process)
        assert commits(kubectl, namespace) == [first]
        succeed(kubectl, namespace, job["metadata"]["name"])
        wait_phase(kubectl, namespace, "follow", "Succeeded", process)

        # No build without a new commit: more than an interval passes.
        time.sleep(POLL_S + TICK_S + 2)
        assert commits(kubectl, namespace) == [first]

        # A new commit: a new build of the same generation, within the interval.
        second = remote.commit("second")
        started = time.monotonic()
        wait_for(
            "the second commit's build",
            lambda: commits(kubectl, namespace) == [first, second],
            process,
            timeout=POLL_S + TICK_S + 15,
        )
        assert time.monotonic() - started < POLL_S + TICK_S + 15
        building = status_of(kubectl, namespace, "follow")
        owner = get(kubectl, namespace, "goimagebuild", "follow")
        assert building["observedGeneration"] == owner["metadata"]["generation"] == 1
        assert building["buildId"] == f"1-c{second[:10]}"
        assert building["source"]["commit"] == second
        assert condition(building, "Reconciling")["status"] == "True"

        # The operator restarts right after it made the build: no second build of it.
        process.stop(kill=True)
        process.start()
        time.sleep(POLL_S + TICK_S + 2)
        assert commits(kubectl, namespace) == [first, second]
        succeed(kubectl, namespace, f"follow-1-c{second[:10]}")
        done = wait_phase(kubectl, namespace, "follow", "Succeeded", process)
        assert done["source"]["commit"] == second

        # A commit pushed while the operator is away: built once when it is back.
        process.stop()
        third = remote.commit("third")
        process.start()
        wait_for(
            "the third commit's build",
            lambda: commits(kubectl, namespace) == [first, second, third],
            process,
            timeout=POLL_S + TICK_S + 15,
        )
        time.sleep(POLL_S + TICK_S + 2)
        assert commits(kubectl, namespace) == [first, second, third]
    finally:
        process.stop()
