"""The kubelet's part, played by the tests: write a build pod's status as a kubelet would.

The integration tier and the benchmarks have no node, so the Job controller's
pods stay unscheduled until a test (or the benchmark) writes their status
through the pods/status subresource, with the container states and
termination messages a kubelet would report. Everything downstream is real:
the Job controller reads these pods and finishes the Job, and the operator
derives the GoImageBuild's status from both.

A pod's log is the kubelet's to serve: the API server asks the pod's node's
kubelet for it. `KubeletLogs` is that endpoint (HTTPS on loopback) and `node`
registers a Node that points at it; a pod bound to that Node has the log the
test gave, and a test can hold the answers back (a slow or wedged kubelet).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from testkit.kubectl import Kubectl

BUILD = "build"
REPORT = "report"
NOW = "2026-01-01T00:00:00Z"
INITIALIZING = {"waiting": {"reason": "PodInitializing"}}


def pod_of(kubectl: Kubectl, namespace: str, job: str, timeout: float = 60) -> dict[str, Any]:
    """The pod the Job controller made for `job` (waits for it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = json.loads(
            kubectl(
                "get",
                "pods",
                "-n",
                namespace,
                "-l",
                f"batch.kubernetes.io/job-name={job}",
                "-o",
                "json",
            ).stdout
        )["items"]
        if pods:
            return pods[0]  # type: ignore[no-any-return]
        time.sleep(0.3)
    raise AssertionError(f"the Job controller made no pod for job {namespace}/{job} in {timeout}s")


def _status(name: str, image: str, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imageID": f"{image}@sha256:{'0' * 64}",
        "ready": False,
        "restartCount": 0,
        "state": state,
    }


def _terminated(code: int, message: str = "", reason: str = "", at: str = NOW) -> dict[str, Any]:
    return {
        "terminated": {
            "exitCode": code,
            "reason": reason or ("Completed" if code == 0 else "Error"),
            "message": message,
            "startedAt": at,
            "finishedAt": at,
        }
    }


def _write(kubectl: Kubectl, pod: dict[str, Any], status: dict[str, Any]) -> None:
    meta = pod["metadata"]
    kubectl(
        "patch", "pod", meta["name"], "-n", meta["namespace"], "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": status}),
    )  # fmt: skip


def _images(pod: dict[str, Any]) -> tuple[str, str]:
    spec = pod["spec"]
    return spec["initContainers"][0]["image"], spec["containers"][0]["image"]


def start_build(kubectl: Kubectl, pod: dict[str, Any]) -> None:
    """Kaniko is running."""
    kaniko, reporter = _images(pod)
    _write(kubectl, pod, {
        "phase": "Pending",
        "startTime": NOW,
        "initContainerStatuses": [_status(BUILD, kaniko, {"running": {"startedAt": NOW}})],
        "containerStatuses": [_status(REPORT, reporter, INITIALIZING)],
    })  # fmt: skip


def succeeded_status(
    pod: dict[str, Any], *, repository: str, digest: str, size: int, at: str = NOW
) -> dict[str, Any]:
    """The pod status of a build whose Kaniko pushed and whose report step wrote its
    termination message (the benchmarks write it too), finished `at`."""
    kaniko, reporter = _images(pod)
    message = json.dumps({"digest": digest, "size": size, "image": f"{repository}@{digest}"})
    return {
        "phase": "Succeeded",
        "startTime": at,
        "initContainerStatuses": [_status(BUILD, kaniko, _terminated(0, at=at))],
        "containerStatuses": [_status(REPORT, reporter, _terminated(0, message, at=at))],
    }


def succeed(
    kubectl: Kubectl, pod: dict[str, Any], *, repository: str, digest: str, size: int
) -> None:
    """Kaniko pushed and the report step wrote its termination message."""
    _write(kubectl, pod, succeeded_status(pod, repository=repository, digest=digest, size=size))


def fail_build(kubectl: Kubectl, pod: dict[str, Any], *, log_tail: str, reason: str = "") -> None:
    """Kaniko exited non-zero; the kubelet put its log's tail in the termination message."""
    kaniko, reporter = _images(pod)
    _write(kubectl, pod, {
        "phase": "Failed",
        "startTime": NOW,
        "initContainerStatuses": [_status(BUILD, kaniko, _terminated(1, log_tail, reason))],
        "containerStatuses": [_status(REPORT, reporter, INITIALIZING)],
    })  # fmt: skip


def unschedulable(kubectl: Kubectl, pod: dict[str, Any], message: str) -> None:
    """The scheduler found no node for the pod (it writes PodScheduled False, Unschedulable)."""
    _write(kubectl, pod, {
        "phase": "Pending",
        "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": message, "lastTransitionTime": NOW, "lastProbeTime": None,
        }],
    })  # fmt: skip


def evict(kubectl: Kubectl, pod: dict[str, Any], *, message: str) -> None:
    """The kubelet's node-pressure eviction: Kaniko killed, the pod Failed with reason Evicted,
    its DisruptionTarget condition TerminationByKubelet (as the kubelet writes them)."""
    kaniko, reporter = _images(pod)
    _write(kubectl, pod, {
        "phase": "Failed",
        "reason": "Evicted",
        "message": message,
        "startTime": NOW,
        "conditions": [{
            "type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet",
            "message": message, "lastTransitionTime": NOW,
        }],
        "initContainerStatuses": [_status(BUILD, kaniko, _terminated(137, "", "Error"))],
        "containerStatuses": [_status(REPORT, reporter, INITIALIZING)],
    })  # fmt: skip


def delete(kubectl: Kubectl, pod: dict[str, Any]) -> None:
    """Someone deletes the build pod (a person, a cleanup tool); does not wait for it to go."""
    meta = pod["metadata"]
    kubectl("delete", "pod", meta["name"], "-n", meta["namespace"], "--wait=false")


def evict_through_api(kubectl: Kubectl, pod: dict[str, Any]) -> None:
    """A drain's eviction (the real Eviction API: the API server adds the DisruptionTarget
    condition, EvictionByEvictionAPI, and deletes the pod)."""
    meta = pod["metadata"]
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
    }
    path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/eviction"
    kubectl("create", "--raw", path, "-f", "-", input=json.dumps(eviction))


def bind(kubectl: Kubectl, pod: dict[str, Any], node: str) -> None:
    """The scheduler's part: bind the pod to `node` (the pods/binding subresource)."""
    meta = pod["metadata"]
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    }
    path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding"
    kubectl("create", "--raw", path, "-f", "-", input=json.dumps(binding))


# --- pod logs: the kubelet's endpoint that the API server proxies `kubectl logs` to -----------

# A held request waits at most this long for release(): a test that forgets to release
# must not leave the API server's request (and the operator's read) waiting for ever.
HOLD_LIMIT_S = 120.0


class KubeletLogs:
    """The kubelet's containerLogs endpoint on https://127.0.0.1:`port`: answers
    /containerLogs/NAMESPACE/POD/CONTAINER with `logs[(namespace, pod, container)]` (empty
    when unknown). After `hold()` it reads each request and answers nothing until
    `release()`, as a kubelet that hangs does; `requests` holds each request's arrival."""

    def __init__(self, workdir: Path) -> None:
        self.logs: dict[tuple[str, str, str], str] = {}
        self.requests: list[tuple[float, str]] = []
        self.requested = threading.Event()
        self._open = threading.Event()
        self._open.set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*_self_signed(workdir))
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> KubeletLogs:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def answer(self, path: str) -> str:
        """The log for a request's path (waits while held)."""
        self.requests.append((time.monotonic(), path))
        self.requested.set()
        self._open.wait(HOLD_LIMIT_S)
        parts = urllib.parse.urlsplit(path).path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "containerLogs":
            return ""
        return self.logs.get((parts[1], parts[2], parts[3]), "")


def _handler(logs: KubeletLogs) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = logs.answer(self.path).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test reads `requests`; stderr stays quiet

    return Handler


def _self_signed(workdir: Path) -> tuple[str, str]:
    """A serving certificate for 127.0.0.1. The API server does not check it: the control
    plane sets no --kubelet-certificate-authority (as a kubelet's self-signed one)."""
    cert, key = workdir / "kubelet.crt", workdir / "kubelet.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=kubelet-standin",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return str(cert), str(key)


def node(kubectl: Kubectl, name: str, kubelet_port: int) -> None:
    """A Ready Node whose kubelet is at 127.0.0.1:`kubelet_port` (the API server reaches a
    kubelet at its InternalIP and daemonEndpoints port): bind a pod to it to serve its log."""
    kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
    }))  # fmt: skip
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    kubectl(
        "patch", "node", name, "--subresource=status", "--type=merge", "-p", json.dumps({
            "status": {
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
                "conditions": [{
                    "type": "Ready", "status": "True", "reason": "KubeletReady",
                    "message": "kubelet stand-in", "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }],
            },
        }),
    )  # fmt: skip
