"""The GoImageBuild CRD against a real kube-apiserver.

API.md promises that bad input is refused by the API server itself, with a
message that names the field. Only a real apiserver can show that: its CEL cost
estimator decides whether the CRD installs at all, defaulting fills the spec,
and its error text is what users read. So these tests apply the CRD from
manifests/crds/ and talk to the apiserver with kubectl, as a user would.
"""

from __future__ import annotations

import copy
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from tests.integration.conftest import CRD_NAME, Kubectl

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "4f1c" * 16

Manifest = dict[str, Any]


def _build(name: str = "app", **spec: Any) -> Manifest:
    """A GoImageBuild with the two required fields, overridden by `spec`."""
    base: Manifest = {
        "source": {"git": {"url": "https://git.example.invalid/team/app.git"}},
        "output": {"image": "registry.example.invalid/team/app"},
    }
    base.update(copy.deepcopy(spec))
    return {
        "apiVersion": "goimage.dev/v1alpha1",
        "kind": "GoImageBuild",
        "metadata": {"name": name},
        "spec": base,
    }


def _apply(
    kubectl: Kubectl, namespace: str, manifest: Manifest, *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest), check=check)


def _get(kubectl: Kubectl, namespace: str, name: str) -> Manifest:
    done = kubectl("get", "goimagebuild", name, "-n", namespace, "-o", "json")
    got: Manifest = json.loads(done.stdout)
    return got


@pytest.mark.usefixtures("crd")
def test_crd_is_established_with_its_names(kubectl: Kubectl) -> None:
    crd = json.loads(kubectl("get", "crd", CRD_NAME, "-o", "json").stdout)

    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    names = crd["status"]["acceptedNames"]
    assert names["kind"] == "GoImageBuild"
    assert names["plural"] == "goimagebuilds"
    assert names["singular"] == "goimagebuild"
    assert names["shortNames"] == ["gib"]
    assert names["categories"] == ["builds"]
    assert crd["spec"]["scope"] == "Namespaced"
    (version,) = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


@pytest.mark.usefixtures("crd")
def test_minimal_build_is_accepted_and_defaulted(kubectl: Kubectl, namespace: str) -> None:
    _apply(kubectl, namespace, _build())

    spec = _get(kubectl, namespace, "app")["spec"]

    assert spec["source"]["git"] == {"url": "https://git.example.invalid/team/app.git"}
    assert spec["source"]["contextDir"] == ""
    assert spec["go"] == {"version": "1.26", "package": ".", "ldflags": "-s -w", "cgo": False}
    # No schema default for runtime.image: the operator picks it from go.cgo.
    assert spec["runtime"] == {"user": "65532:65532"}
    assert spec["output"] == {
        "image": "registry.example.invalid/team/app",
        "tags": ["latest"],
        "insecure": False,
    }
    assert spec["builder"] == {"timeout": "30m", "cache": {"enabled": True}}


VALID_SPECS: list[Any] = [
    pytest.param(
        {"output": {"image": "localhost:5000/team/app"}},
        id="registry-with-port",
    ),
    pytest.param(
        {"output": {"image": "app"}},
        id="bare-repository",
    ),
    pytest.param(
        {
            "runtime": {"image": "localhost:5000/alpine:3.20", "packages": ["tzdata"]},
        },
        id="packages-on-alpine-behind-a-registry-port",
    ),
    pytest.param(
        {
            "runtime": {
                "image": "docker.io/library/alpine:3.20",
                "packages": ["ca-certificates=20240705-r0"],
            },
        },
        id="pinned-package-on-docker-hub-alpine",
    ),
    pytest.param({"go": {"cgo": True}}, id="cgo-with-default-runtime"),
    pytest.param(
        {
            "go": {"cgo": True},
            "runtime": {"image": "gcr.io/distroless/base-debian12:nonroot"},
        },
        id="cgo-on-distroless-base",
    ),
    pytest.param(
        {"output": {"image": "localhost:5000/team/app", "maxSize": "30Mi"}},
        id="maxsize-quantity",
    ),
    pytest.param(
        {"output": {"image": "localhost:5000/team/app", "maxSize": 31457280}},
        id="maxsize-bytes",
    ),
    pytest.param(
        {
            "source": {
                "git": {
                    "url": "http://127.0.0.1:3000/team/app.git",
                    "revision": "refs/tags/v1.2.0",
                    "secretRef": {"name": "git-auth"},
                },
                "contextDir": "services/api",
            },
            "go": {
                "version": "1.26.3",
                "package": "./cmd/app",
                "binaryName": "app",
                "tags": ["netgo", "osusergo"],
                "env": [{"name": "GOPROXY", "value": "http://127.0.0.1:3001"}],
            },
            "runtime": {
                "image": "scratch",
                "user": "10001",
                "args": ["serve", "--port=8080"],
                "env": [{"name": "GIN_MODE", "value": "release"}],
                "ports": [8080, 9090],
                "labels": {"org.opencontainers.image.source": "https://example.invalid/app"},
            },
            "output": {
                "image": "localhost:5000/team/app",
                "tags": ["latest", "v1.2.0"],
                "pushSecretRef": {"name": "regcred"},
                "insecure": True,
            },
            "builder": {
                "image": "localhost:5000/kaniko:v1.28.0",
                "timeout": "1h30m",
                "cache": {"enabled": False, "repo": "localhost:5000/cache/app"},
                "resources": {"limits": {"memory": "2Gi", "cpu": 2}, "requests": {"cpu": "500m"}},
                "serviceAccountName": "image-builder",
                "nodeSelector": {"kubernetes.io/arch": "amd64"},
                "tolerations": [{"key": "builds", "operator": "Exists", "effect": "NoSchedule"}],
                "registryMirrors": ["localhost:5000/dockerhub"],
            },
        },
        id="every-field",
    ),
]


@pytest.mark.usefixtures("crd")
@pytest.mark.parametrize("spec", VALID_SPECS)
def test_valid_spec_is_accepted(kubectl: Kubectl, namespace: str, spec: Manifest) -> None:
    manifest = _build(**spec)

    _apply(kubectl, namespace, manifest)

    got = _get(kubectl, namespace, "app")["spec"]
    for section, fields in manifest["spec"].items():
        for key, value in fields.items():
            assert got[section][key] == value, f"spec.{section}.{key}"


OUT = "registry.example.invalid/team/app"

# (spec overrides, the field the error must name, a phrase of the message)
INVALID_SPECS: list[Any] = [
    pytest.param(
        {"output": {"tags": ["v1"]}},
        "spec.output.image",
        "Required value",
        id="missing-output-image",
    ),
    pytest.param(
        {"output": {"image": f"{OUT}:v1"}},
        "spec.output.image",
        "without a tag",
        id="tag-in-output-image",
    ),
    pytest.param(
        {"output": {"image": "localhost:5000/team/app:v1"}},
        "spec.output.image",
        "without a tag",
        id="tag-in-output-image-behind-a-registry-port",
    ),
    pytest.param(
        {"output": {"image": f"{OUT}@{DIGEST}"}},
        "spec.output.image",
        "without a digest",
        id="digest-in-output-image",
    ),
    pytest.param(
        {"output": {"image": "Registry.example.invalid/Team/App"}},
        "spec.output.image",
        "lowercase path components",
        id="uppercase-repository",
    ),
    pytest.param(
        {
            "runtime": {
                "image": "gcr.io/distroless/static-debian12:nonroot",
                "packages": ["tzdata"],
            }
        },
        "spec.runtime.packages",
        "alpine",
        id="packages-on-distroless",
    ),
    pytest.param(
        {"runtime": {"packages": ["tzdata"]}},
        "spec.runtime.packages",
        "alpine",
        id="packages-on-default-runtime",
    ),
    pytest.param(
        {"go": {"cgo": True}, "runtime": {"image": "scratch"}},
        "spec.go.cgo",
        "C library",
        id="cgo-with-scratch",
    ),
    pytest.param(
        {"go": {"cgo": True}, "runtime": {"image": "gcr.io/distroless/static-debian12:nonroot"}},
        "spec.go.cgo",
        "C library",
        id="cgo-with-static-distroless",
    ),
    pytest.param(
        {"output": {"image": OUT, "maxSize": "lots"}},
        "spec.output.maxSize",
        "Kubernetes quantity",
        id="maxsize-not-a-quantity",
    ),
    pytest.param(
        {"output": {"image": OUT, "maxSize": "-5Mi"}},
        "spec.output.maxSize",
        "positive",
        id="maxsize-negative-quantity",
    ),
    pytest.param(
        {"output": {"image": OUT, "maxSize": -1}},
        "spec.output.maxSize",
        "positive",
        id="maxsize-negative-bytes",
    ),
    pytest.param(
        {"output": {"image": OUT, "tags": ["latest", "-not-a-tag"]}},
        "spec.output.tags[1]",
        "should match",
        id="bad-output-tag",
    ),
    pytest.param(
        {"output": {"image": OUT, "tags": []}},
        "spec.output.tags",
        "should have at least 1 items",
        id="no-output-tags",
    ),
    pytest.param(
        {"source": {"git": {"url": "ssh://git@github.com/flarexes/gitback.git"}}},
        "spec.source.git.url",
        "https?://",
        id="ssh-git-url",
    ),
    pytest.param(
        {"source": {"git": {"url": "https://user:secret@git.example.invalid/app.git"}}},
        "spec.source.git.url",
        "secretRef",
        id="credentials-in-git-url",
    ),
    pytest.param(
        {"source": {"git": {"url": "https://git.example.invalid/app.git", "revision": "a b"}}},
        "spec.source.git.revision",
        "should match",
        id="whitespace-in-revision",
    ),
    pytest.param(
        {"source": {"git": {"url": "https://git.example.invalid/app.git"}, "contextDir": "../x"}},
        "spec.source.contextDir",
        "'..'",
        id="contextdir-leaves-the-repository",
    ),
    pytest.param(
        {"source": {"git": {"url": "https://git.example.invalid/app.git"}, "contextDir": "/abs"}},
        "spec.source.contextDir",
        "leading '/'",
        id="contextdir-absolute",
    ),
    pytest.param(
        {"go": {"package": "cmd/app"}},
        "spec.go.package",
        "./",
        id="package-without-dot-slash",
    ),
    pytest.param(
        {"go": {"package": "./../other"}},
        "spec.go.package",
        "'..'",
        id="package-with-parent",
    ),
    pytest.param(
        {"go": {"env": [{"name": "1BAD", "value": "x"}]}},
        "spec.go.env[0].name",
        "should match",
        id="bad-env-name",
    ),
    pytest.param(
        {"go": {"ldflags": "-s -w\nRUN evil"}},
        "spec.go.ldflags",
        "should match",
        id="newline-in-ldflags",
    ),
    pytest.param(
        {"runtime": {"image": "alpine:3.20", "packages": ["tzdata; rm -rf /"]}},
        "spec.runtime.packages[0]",
        "should match",
        id="bad-package-name",
    ),
    pytest.param(
        {"runtime": {"labels": {"bad key": "x"}}},
        "spec.runtime.labels",
        "label keys",
        id="bad-label-key",
    ),
    pytest.param(
        {"runtime": {"ports": [0]}},
        "spec.runtime.ports[0]",
        "greater than or equal to 1",
        id="port-zero",
    ),
    pytest.param(
        {"builder": {"timeout": "30 minutes"}},
        "spec.builder.timeout",
        "should match",
        id="timeout-not-a-duration",
    ),
    pytest.param(
        {"builder": {"registryMirrors": ["https://mirror.gcr.io"]}},
        "spec.builder.registryMirrors[0]",
        "without a scheme",
        id="registry-mirror-with-scheme",
    ),
]


@pytest.mark.usefixtures("crd")
@pytest.mark.parametrize(("spec", "field", "phrase"), INVALID_SPECS)
def test_invalid_spec_is_refused_naming_the_field(
    kubectl: Kubectl, namespace: str, spec: Manifest, field: str, phrase: str
) -> None:
    done = _apply(kubectl, namespace, _build(**spec), check=False)

    assert done.returncode != 0, f"apply succeeded:\n{done.stdout}"
    assert f"{field}:" in done.stderr, done.stderr
    assert phrase in done.stderr, done.stderr
    missing = kubectl("get", "goimagebuild", "app", "-n", namespace, check=False)
    assert missing.returncode != 0, "the refused GoImageBuild was stored"


@pytest.mark.usefixtures("crd")
def test_explain_prints_the_descriptions(kubectl: Kubectl) -> None:
    # The apiserver publishes a new CRD's OpenAPI a moment after Established.
    deadline = time.monotonic() + 60
    while True:
        done = kubectl("explain", "goimagebuild.spec.output", check=False)
        if done.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert done.returncode == 0, done.stderr

    text = " ".join(done.stdout.split())  # explain wraps lines
    assert "Where the image is pushed" in text
    assert "without a tag and without a digest" in text
    assert "Default: [latest]" in text
    assert "Kubernetes quantity" in text
    assert "kubernetes.io/dockerconfigjson" in text

    runtime_image = kubectl("explain", "gib.spec.runtime.image").stdout
    text = " ".join(runtime_image.split())
    assert "gcr.io/distroless/static-debian12:nonroot" in text
    assert "gcr.io/distroless/base-debian12:nonroot when go.cgo is true" in text


FULL_STATUS: Manifest = {
    "phase": "Failed",
    "observedGeneration": 1,
    "conditions": [
        {
            "type": "Ready",
            "status": "False",
            "reason": "ImageTooLarge",
            "message": "image is 7.7 MiB, over the budget of 5Mi",
            "lastTransitionTime": "2025-01-02T03:04:05Z",
            "observedGeneration": 1,
        }
    ],
    "image": f"{OUT}@{DIGEST}",
    "digest": DIGEST,
    "size": 8123456,
    "sizeHuman": "7.7 MiB",
    "tags": ["latest"],
    "configMapName": "app-1-dockerfile",
    "jobName": "app-1",
    "buildId": "1",
    "startTime": "2025-01-02T03:00:00Z",
    "completionTime": "2025-01-02T03:04:05Z",
    "failure": {"reason": "ImageTooLarge", "message": "image is 7.7 MiB, over 5Mi"},
    "lastSuccessful": {
        "image": f"{OUT}@{DIGEST}",
        "digest": DIGEST,
        "size": 4000000,
        "sizeHuman": "3.8 MiB",
        "generation": 1,
        "completionTime": "2025-01-01T00:00:00Z",
    },
}


@pytest.mark.usefixtures("crd")
def test_status_keeps_every_field_and_printer_columns_show_it(
    kubectl: Kubectl, namespace: str
) -> None:
    _apply(kubectl, namespace, _build())
    kubectl(
        "patch",
        "goimagebuild",
        "app",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": FULL_STATUS}),
    )

    # Nothing the operator writes is pruned: the schema spells out every field.
    assert _get(kubectl, namespace, "app")["status"] == FULL_STATUS

    table = kubectl("get", "gib", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "PHASE", "SIZE", "IMAGE", "AGE"]
    assert table[1].split()[:5] == ["app", "Failed", "7.7", "MiB", f"{OUT}@{DIGEST}"]

    wide = kubectl("get", "gib", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "PHASE", "SIZE", "IMAGE", "REASON", "READY", "AGE"]
    assert wide[1].split()[5:7] == ["ImageTooLarge", "False"]

    # The category: `kubectl get builds` lists GoImageBuilds too.
    assert "app" in kubectl("get", "builds", "-n", namespace, "-o", "name").stdout


@pytest.mark.usefixtures("crd")
def test_every_example_is_accepted_by_the_api_server(kubectl: Kubectl, namespace: str) -> None:
    examples = sorted((REPO_ROOT / "examples").glob("*/goimagebuild.yaml"))
    assert examples, "examples/*/goimagebuild.yaml: the README's examples are tests"
    for example in examples:
        kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(example))


@pytest.mark.usefixtures("crd")
def test_a_new_build_reads_as_pending_until_the_operator_writes(
    kubectl: Kubectl, namespace: str
) -> None:
    # kstatus (Flux) would call an object without status "Current": the default
    # status says "in progress" (observedGeneration 0 < generation 1) instead.
    _apply(kubectl, namespace, _build("fresh"))
    got = _get(kubectl, namespace, "fresh")
    assert got["metadata"]["generation"] == 1
    assert got["status"] == {"phase": "Pending", "observedGeneration": 0}
    printed = kubectl("get", "gib", "fresh", "-n", namespace).stdout
    assert "Pending" in printed
