"""The GoImageBuild CRD against a real kube-apiserver.

docs/api.md promises that bad input is refused by the API server itself, with a
message that names the field. Only a real apiserver can show that: its CEL cost
estimator decides whether the CRD installs at all, defaulting fills the spec,
and its error text is what users read. So these tests apply the CRD from
manifests/crds/ and talk to the apiserver with kubectl, as a user would.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests import invalid_specs
from tests.integration.conftest import CRD_NAME, Kubectl
from tests.invalid_specs import InvalidSpec

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


@pytest.fixture(scope="module")
def table_namespace(kubectl: Kubectl) -> Iterator[str]:
    """One namespace for the whole invalid-spec table: a namespace per row would
    cost more than the row. Each row uses a name of its own, so none sees another."""
    name = f"invalid-specs-{secrets.token_hex(3)}"
    kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def _row_name(row: InvalidSpec) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", row.id.lower()).strip("-")[:40].strip("-")
    return f"{slug}-{invalid_specs.ROWS.index(row)}"


def _names_the_field(message: str, field: str) -> bool:
    # Schema and CEL errors read "spec.x.y: Invalid value: ...". Strict decoding
    # names the unknown field itself, 'unknown field "spec.x.y"', which is the
    # row's field or lies under it (a map where a list belongs: "spec.go.env.A").
    unknown = re.search(rf'unknown field "{re.escape(field)}[".]', message)
    return f"{field}:" in message or unknown is not None


# The rows live in one table with the parser's (tests/invalid_specs.py): each
# row must be refused by both, naming the same field.
@pytest.mark.usefixtures("crd")
@pytest.mark.parametrize("row", invalid_specs.rows("api_server"))
def test_invalid_spec_is_refused_naming_the_field(
    kubectl: Kubectl, table_namespace: str, row: InvalidSpec
) -> None:
    name = _row_name(row)
    manifest = {**_build(name), "spec": row.spec()}

    done = _apply(kubectl, table_namespace, manifest, check=False)

    assert done.returncode != 0, f"apply succeeded:\n{done.stdout}"
    assert _names_the_field(done.stderr, row.field), done.stderr
    assert row.phrase in done.stderr, done.stderr
    missing = kubectl("get", "goimagebuild", name, "-n", table_namespace, check=False)
    assert missing.returncode != 0, "the refused GoImageBuild was stored"


@pytest.mark.usefixtures("crd")
@pytest.mark.parametrize("row", invalid_specs.rows("parser_only"))
def test_parser_only_rows_pass_the_api_server(
    kubectl: Kubectl, table_namespace: str, row: InvalidSpec
) -> None:
    # The table says only the operator judges these (Failed, InvalidSpec): if
    # the API server refuses one now, the row belongs to both sides.
    manifest = {**_build(_row_name(row)), "spec": row.spec()}
    kubectl(
        "apply",
        "--dry-run=server",
        "-n",
        table_namespace,
        "-f",
        "-",
        input=json.dumps(manifest),
    )


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
    "source": {
        "url": "https://git.example.com/team/app.git",
        "revision": "main",
        "commit": "4f1c2b3a5d6e7f8091a2b3c4d5e6f708192a3b4c",
        "shortCommit": "4f1c2b3a5d6e",
    },
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
    assert wide[0].split() == [
        "NAME", "PHASE", "SIZE", "IMAGE", "REASON", "READY", "COMMIT", "AGE"
    ]  # fmt: skip
    assert wide[1].split()[5:8] == ["ImageTooLarge", "False", "4f1c2b3a5d6e"]

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
