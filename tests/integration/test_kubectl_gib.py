"""`kubectl gib` against the real API server (and a real registry on loopback), run through
the built kubectl as a user runs it: kubectl finds `kubectl-gib` on PATH (the virtualenv's
bin) and hands it the arguments.

What runs here: the plugin found by `kubectl plugin list`; kubectl-style errors; rebuild
(the annotation lands); sbom and provenance read from `crane registry serve` (artifacts
pushed with a `subject` by plain distribution-API PUTs); and, with the operator and the Job
controller making real Jobs and pods, which build and pod `logs` chooses, a build not kept,
and a build whose pod is gone. What cannot run here: reading a container's log, which the
API server proxies to a kubelet (there is none): the streaming path is
tests/e2e/test_e2e_kubectl_gib.py's. Tests that need no operator come first: the operator
fixture runs from the first test that asks for it to the end of the module.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from testkit import builds as gib
from testkit import kubelet_standin as kubelet
from testkit.control_plane import ControlPlane
from testkit.kubectl import Kubectl
from testkit.operator_process import OperatorProcess
from testkit.paths import TOOLS_BIN

VENV_BIN = Path(sys.executable).parent
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EMPTY = b"{}"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"


def run_gib(
    control_plane: ControlPlane, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`kubectl gib ARGS` through the built kubectl, the virtualenv's bin first on PATH."""
    environment = {**control_plane.env, **(env or {})}
    environment["PATH"] = f"{VENV_BIN}:{environment['PATH']}"
    return subprocess.run(
        [str(TOOLS_BIN / "kubectl"), "gib", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_kubectl_finds_the_plugin(control_plane: ControlPlane) -> None:
    env = {**control_plane.env, "PATH": f"{VENV_BIN}:{TOOLS_BIN}:/usr/bin:/bin"}
    listed = subprocess.run(
        [str(TOOLS_BIN / "kubectl"), "plugin", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert str(VENV_BIN / "kubectl-gib") in listed.stdout.splitlines()
    helped = run_gib(control_plane, "--help")
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: kubectl gib")


@pytest.mark.parametrize("command", ["logs", "rebuild", "sbom", "provenance"])
def test_a_missing_goimagebuild_is_kubectls_not_found(
    control_plane: ControlPlane, crd: None, namespace: str, command: str
) -> None:
    done = run_gib(control_plane, command, "nope", "-n", namespace)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == 'error: goimagebuilds.goimage.dev "nope" not found\n'


def test_an_unknown_context_is_kubectls_error(control_plane: ControlPlane, crd: None) -> None:
    done = run_gib(control_plane, "logs", "x", "--context", "nowhere")
    assert (done.returncode, done.stderr) == (1, 'error: context "nowhere" does not exist\n')


def annotations(kubectl: Kubectl, namespace: str, name: str) -> dict[str, str]:
    return gib.get(kubectl, namespace, "goimagebuild", name)["metadata"].get("annotations") or {}


def test_rebuild_sets_a_new_annotation_each_time(
    control_plane: ControlPlane, kubectl: Kubectl, crd: None, namespace: str
) -> None:
    gib.apply(kubectl, namespace, gib.build("hello"))
    first = run_gib(control_plane, "rebuild", "hello", "-n", namespace)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "goimagebuild.goimage.dev/hello rebuild requested\n"
    token = annotations(kubectl, namespace, "hello")["goimage.dev/rebuild"]
    # The namespace from the kubeconfig's context, as kubectl takes it.
    kubeconfig = Path(control_plane.state_dir) / f"kubeconfig-{namespace}"
    raw = kubectl("config", "view", "--raw", "--flatten").stdout
    kubeconfig.write_text(raw)
    kubectl("config", "set-context", "--current", f"--namespace={namespace}",
            f"--kubeconfig={kubeconfig}")  # fmt: skip
    second = run_gib(control_plane, "rebuild", "hello", "--kubeconfig", str(kubeconfig))
    assert second.returncode == 0, second.stderr
    again = annotations(kubectl, namespace, "hello")["goimage.dev/rebuild"]
    assert again != token
    assert again > token  # times, to the microsecond


# --- sbom and provenance, from a real registry -------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    """`crane registry serve` on a free loopback port: its host:port."""
    address = f"127.0.0.1:{_free_port()}"
    process = subprocess.Popen(
        [str(TOOLS_BIN / "crane"), "registry", "serve", "--address", address],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if urllib3.request("GET", f"http://{address}/v2/", retries=False).status == 200:
                    break
            except urllib3.exceptions.HTTPError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"crane registry serve did not answer on {address}")
        yield address
    finally:
        process.terminate()
        process.wait(timeout=10)


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def push_blob(registry: str, repo: str, body: bytes) -> dict[str, Any]:
    started = urllib3.request("POST", f"http://{registry}/v2/{repo}/blobs/uploads/")
    assert started.status == 202, started.data
    location = started.headers["Location"]
    if location.startswith("/"):
        location = f"http://{registry}{location}"
    sep = "&" if "?" in location else "?"
    put = urllib3.request("PUT", f"{location}{sep}digest={digest_of(body)}", body=body)
    assert put.status == 201, put.data
    return {"digest": digest_of(body), "size": len(body)}


def push_manifest(registry: str, repo: str, manifest: dict[str, Any], reference: str = "") -> str:
    body = json.dumps(manifest).encode()
    digest = digest_of(body)
    put = urllib3.request(
        "PUT",
        f"http://{registry}/v2/{repo}/manifests/{reference or digest}",
        body=body,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert put.status == 201, put.data
    return digest


def push_artifact(
    registry: str, repo: str, subject: dict[str, Any], media_type: str, document: bytes
) -> str:
    """An artifact as `oras attach` pushes one: empty config, one layer, `subject`."""
    config = push_blob(registry, repo, EMPTY)
    layer = push_blob(registry, repo, document)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": media_type,
        "config": {"mediaType": EMPTY_TYPE, **config},
        "layers": [{"mediaType": media_type, **layer}],
        "subject": subject,
    }
    return push_manifest(registry, repo, manifest)


SPDX = {
    "spdxVersion": "SPDX-2.3",
    "dataLicense": "CC0-1.0",
    "SPDXID": "SPDXRef-DOCUMENT",
    "name": "uuidgen",
    "documentNamespace": "https://goimage.dev/spdx/test",
    "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: goimage-operator"]},
    "packages": [
        {
            "SPDXID": "SPDXRef-uuid",
            "name": "github.com/google/uuid",
            "versionInfo": "v1.6.0",
            "downloadLocation": "NOASSERTION",
            "externalRefs": [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": "pkg:golang/github.com/google/uuid@v1.6.0",
                }
            ],
        }
    ],
}


def statement(subject: str, digest: str) -> dict[str, Any]:
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": subject, "digest": {"sha256": digest.removeprefix("sha256:")}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://goimage.dev/GoImageBuild/v1",
                "externalParameters": {"spec": {"output": {"image": subject}}},
                "resolvedDependencies": [
                    {
                        "uri": "git+https://git.example/uuidgen.git",
                        "digest": {"gitCommit": "c0ffee"},
                    }
                ],
            },
            "runDetails": {"builder": {"id": "https://goimage.dev/operator@0.1.0"}},
        },
    }


@pytest.fixture(scope="module")
def pushed(registry: str) -> dict[str, str]:
    """An image and its SBOM and provenance in the registry: their digests."""
    repo = "team/uuidgen"
    config = push_blob(registry, repo, b'{"architecture":"amd64","os":"linux"}')
    layer = push_blob(registry, repo, b"not really a tarball")
    image = push_manifest(
        registry,
        repo,
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
        },
        "latest",
    )
    subject = {"mediaType": OCI_MANIFEST, "digest": image, "size": 0}
    manifest = urllib3.request(
        "GET", f"http://{registry}/v2/{repo}/manifests/{image}", headers={"Accept": OCI_MANIFEST}
    )
    subject["size"] = len(manifest.data)
    repository = f"{registry}/{repo}"
    sbom = push_artifact(
        registry, repo, subject, "application/spdx+json", json.dumps(SPDX).encode()
    )
    provenance = push_artifact(
        registry,
        repo,
        subject,
        "application/vnd.in-toto+json",
        json.dumps(statement(repository, image)).encode(),
    )
    return {"repository": repository, "image": image, "sbom": sbom, "provenance": provenance}


def with_artifacts(
    kubectl: Kubectl, namespace: str, pushed: dict[str, str], name: str = "uuidgen"
) -> None:
    """A GoImageBuild whose status names the pushed image and artifacts (as the operator
    would write it: no operator runs in these tests)."""
    gib.apply(kubectl, namespace, gib.build(name))
    status = {
        "phase": "Succeeded",
        "image": f"{pushed['repository']}@{pushed['image']}",
        "digest": pushed["image"],
        "sbom": {"digest": pushed["sbom"], "mediaType": "application/spdx+json"},
        "provenance": {"digest": pushed["provenance"]},
    }
    kubectl("patch", "goimagebuild", name, "-n", namespace, "--subresource=status",
            "--type=merge", "-p", json.dumps({"status": status}))  # fmt: skip
    stored = gib.status_of(kubectl, namespace, name)
    assert stored.get("sbom", {}).get("digest") == pushed["sbom"], (
        "the CRD keeps no status.sbom (the SBOM/provenance CRD fields are not there yet)",
        stored,
    )


def test_sbom_from_the_registry(
    control_plane: ControlPlane, kubectl: Kubectl, crd: None, namespace: str, pushed: dict[str, str]
) -> None:
    with_artifacts(kubectl, namespace, pushed)
    table = run_gib(control_plane, "sbom", "uuidgen", "-n", namespace)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[3:] == [
        "NAME                     VERSION   PURL                                       CHECKSUM",
        "github.com/google/uuid   v1.6.0    pkg:golang/github.com/google/uuid@v1.6.0   -",
    ]
    as_json = run_gib(control_plane, "sbom", "uuidgen", "-n", namespace, "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == SPDX


def test_provenance_from_the_registry(
    control_plane: ControlPlane, kubectl: Kubectl, crd: None, namespace: str, pushed: dict[str, str]
) -> None:
    with_artifacts(kubectl, namespace, pushed)
    table = run_gib(control_plane, "provenance", "uuidgen", "-n", namespace)
    assert table.returncode == 0, table.stderr
    assert "BUILDER:       https://goimage.dev/operator@0.1.0\n" in table.stdout
    assert "SOURCE COMMIT: c0ffee (git+https://git.example/uuidgen.git)\n" in table.stdout
    as_json = run_gib(control_plane, "provenance", "uuidgen", "-n", namespace, "-o", "json")
    assert json.loads(as_json.stdout) == statement(pushed["repository"], pushed["image"])


def test_an_artifact_the_registry_lacks(
    control_plane: ControlPlane, kubectl: Kubectl, crd: None, namespace: str, pushed: dict[str, str]
) -> None:
    gone = {**pushed, "sbom": "sha256:" + "0" * 64}
    with_artifacts(kubectl, namespace, gone)
    done = run_gib(control_plane, "sbom", "uuidgen", "-n", namespace)
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: SBOM of {pushed['repository']}@{pushed['image']}: ")
    assert "HTTP 404 from the registry" in done.stderr


def test_no_sbom_yet_says_what_the_status_says(
    control_plane: ControlPlane, kubectl: Kubectl, crd: None, namespace: str
) -> None:
    gib.apply(kubectl, namespace, gib.build("fresh"))
    done = run_gib(control_plane, "sbom", "fresh", "-n", namespace)
    assert done.returncode == 1
    assert done.stderr == (
        'error: goimagebuild "fresh" has no SBOM yet (status.sbom.digest is not set);'
        " status: phase Pending\n"
    )


# --- logs: which build and pod, with the operator making real Jobs and pods -----------


def test_logs_of_a_build_whose_step_has_not_started_names_its_pod(
    control_plane: ControlPlane, kubectl: Kubectl, operator: OperatorProcess, namespace: str
) -> None:
    gib.apply(kubectl, namespace, gib.build("hello"))
    job = gib.current_job(kubectl, namespace, "hello", operator)
    pod = kubelet.pod_of(kubectl, namespace, job["metadata"]["name"])
    done = run_gib(control_plane, "logs", "hello", "-n", namespace)
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr == (
        f'build 1 (job "hello-1"), pod "{pod["metadata"]["name"]}": step "build" has not'
        " started (pod is Pending)\n"
    )
    # The same build asked for by number, by id and by Job name.
    for asked in ("1", "hello-1"):
        again = run_gib(control_plane, "logs", "hello", "-n", namespace, "--build", asked)
        assert again.stderr == done.stderr
    missing = run_gib(control_plane, "logs", "hello", "-n", namespace, "--build", "7")
    assert (missing.returncode, missing.stderr) == (
        1,
        'error: goimagebuild "hello" has no build "7" (builds kept: 1)\n',
    )


def test_logs_of_a_build_whose_pod_is_gone(
    control_plane: ControlPlane, kubectl: Kubectl, operator: OperatorProcess, namespace: str
) -> None:
    gib.apply(kubectl, namespace, gib.build("hello"))
    job = gib.current_job(kubectl, namespace, "hello", operator)
    pod = kubelet.pod_of(kubectl, namespace, job["metadata"]["name"])
    kubelet.start_build(kubectl, pod)
    kubelet.delete(kubectl, pod)
    status = gib.wait_for(
        "BuildPodDeleted",
        lambda: (
            (s := gib.status_of(kubectl, namespace, "hello")).get("failure", {}).get("reason")
            == "BuildPodDeleted"
            and s
        ),
        operator,
    )

    def gone() -> subprocess.CompletedProcess[str] | None:
        done = run_gib(control_plane, "logs", "hello", "-n", namespace)
        return done if "not found" in done.stderr else None

    done = gib.wait_for("the pod to be gone", gone, operator)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        'error: pods for build 1 (job "hello-1") not found: the build\'s pod is gone, and its'
        " log with it (the operator deletes a finished build's pod once its"
        " finishedPodRetention has passed); status: phase Failed, reason BuildPodDeleted:"
        f" {status['failure']['message']}\n"
    )
    # -f does not wait for a pod that will not come: the Job has finished.
    followed = run_gib(control_plane, "logs", "hello", "-f", "-n", namespace)
    assert (followed.returncode, followed.stderr) == (1, done.stderr)
