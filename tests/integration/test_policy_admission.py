"""GoImageBuildPolicy at the API server: the chart's ValidatingAdmissionPolicy, for real.

The admission policy is the chart's own template (rendered by helm), with
GoImageBuildPolicy objects as its parameters. Every case of
tests/policy_cases.py is applied (server-side dry run) and must be refused
with the very message the operator's Python rules give, or admitted when they
find nothing: the two sides of one rule table, checked against each other.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import yaml
from testkit import commands
from testkit.kubectl import Kubectl
from testkit.paths import REPO_ROOT, TOOLS_BIN
from tests.policy_cases import (
    CASES,
    IMAGE,
    NAMESPACE,
    TENANT_LABEL,
    PolicyCase,
    build_spec,
    governed,
)

from goimage.core import policy, policy_rules
from goimage.core.spec import parse_spec

CHART = REPO_ROOT / "charts" / "goimage-operator"
CASE_LABEL = "policy-case.goimage.dev/id"
ACTIVE_TIMEOUT_S = 60


def render_admission_policy() -> str:
    return commands.run(
        [
            TOOLS_BIN / "helm",
            "template",
            "goimage-operator",
            CHART,
            "--namespace",
            "goimage-system",
            "--kube-version",
            "1.34.0",
            "--show-only",
            "templates/admission-policy.yaml",
        ],
        timeout=120,
    ).stdout


def isolated(case: PolicyCase) -> dict[str, Any]:
    """The case's policy, narrowed to the case's own namespace so that cases do not mix."""
    spec = copy.deepcopy(dict(case.policy))
    selector = spec.setdefault("namespaceSelector", {})
    selector.setdefault("matchExpressions", []).append(
        {"key": CASE_LABEL, "operator": "In", "values": [case.id]}
    )
    return spec


def policy_object(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "goimage.dev/v1alpha1",
        "kind": "GoImageBuildPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def build_object(name: str, spec: Mapping[str, Any]) -> str:
    return json.dumps(
        {
            "apiVersion": "goimage.dev/v1alpha1",
            "kind": "GoImageBuild",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def localized(build: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """The case's build spec in `namespace` instead of the table's team-a ({namespace} prefixes)."""
    loaded: dict[str, Any] = json.loads(json.dumps(build).replace(NAMESPACE, namespace))
    return loaded


def expected_message(case: PolicyCase, name: str, namespace: str) -> str | None:
    """What the operator's rules say of the case (None: nothing)."""
    labels = {**case.namespace_labels, CASE_LABEL: case.id}
    governing = policy.governing([policy.parse_policy(policy_object(name, isolated(case)))], labels)
    found = policy_rules.violations(
        parse_spec(localized(case.build, namespace)), governing, namespace
    )
    assert len(found) <= 1, found
    return found[0].message if found else None


def wait_until_refused(kubectl: Kubectl, namespace: str, manifest: str) -> str:
    """The refusal of `manifest`, once the API server's admission policy is in force."""
    deadline = time.monotonic() + ACTIVE_TIMEOUT_S
    while True:
        result = kubectl(
            "create", "--dry-run=server", "-n", namespace, "-f", "-", input=manifest, check=False
        )
        if result.returncode != 0:
            return result.stderr
        if time.monotonic() > deadline:
            raise TimeoutError(f"not refused after {ACTIVE_TIMEOUT_S}s: {manifest}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def admission(kubectl: Kubectl, crd: None) -> Iterator[dict[str, Any]]:
    """The chart's admission policy and binding, installed; yields the policy object."""
    kubectl("wait", "--for=condition=Established", "crd/goimagebuildpolicies.goimage.dev")
    rendered = render_admission_policy()
    kubectl("apply", "--server-side", "-f", "-", input=rendered)
    documents = [d for d in yaml.safe_load_all(rendered) if d]
    try:
        yield documents[0]
    finally:
        kubectl("delete", "-f", "-", "--ignore-not-found", input=rendered, check=False)


@pytest.fixture(scope="module")
def case_namespaces(kubectl: Kubectl, admission: dict[str, Any]) -> Iterator[dict[str, str]]:
    """A namespace and a policy per case, the admission policy in force for all of them."""
    names: dict[str, str] = {}
    objects = []
    for index, case in enumerate(CASES):
        namespace = f"policy-case-{index}"
        names[case.id] = namespace
        labels = {**case.namespace_labels, CASE_LABEL: case.id}
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": namespace, "labels": labels},
            }
        )
        objects.append(policy_object(f"case-{index}", isolated(case)))
    manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    kubectl("apply", "--server-side", "-f", "-", input=manifest)
    # The policies reach the admission plugin through an informer: wait until
    # every refusing case is refused before judging any.
    for index, case in enumerate(CASES):
        if case.field is not None:
            namespace = names[case.id]
            probe = build_object(f"probe-{index}", localized(case.build, namespace))
            wait_until_refused(kubectl, namespace, probe)
    try:
        yield names
    finally:
        kubectl("delete", "-f", "-", "--wait=false", input=manifest, check=False)


def test_admission_policy_type_checks_without_warnings(
    kubectl: Kubectl, admission: dict[str, Any]
) -> None:
    """The API server compiles every expression against the GoImageBuild schema."""
    name = admission["metadata"]["name"]
    deadline = time.monotonic() + ACTIVE_TIMEOUT_S
    while True:
        got = json.loads(kubectl("get", "validatingadmissionpolicy", name, "-o", "json").stdout)
        checked = got.get("status", {}).get("observedGeneration") == got["metadata"]["generation"]
        if checked or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert checked, got.get("status")
    assert got["status"].get("typeChecking", {}).get("expressionWarnings", []) == []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_api_server_and_operator_agree(
    kubectl: Kubectl, case_namespaces: dict[str, str], case: PolicyCase
) -> None:
    index = CASES.index(case)
    namespace = case_namespaces[case.id]
    expected = expected_message(case, f"case-{index}", namespace)
    result = kubectl(
        "create",
        "--dry-run=server",
        "-n",
        namespace,
        "-f",
        "-",
        input=build_object("app", localized(case.build, namespace)),
        check=False,
    )
    if case.field is None:
        assert expected is None
        assert result.returncode == 0, result.stderr
        return
    assert expected is not None
    assert expected.startswith(case.field)
    assert result.returncode != 0
    assert expected in result.stderr, f"API server: {result.stderr}\noperator:   {expected}"


# --- a tenant who can only create GoImageBuilds -------------------------------------------------

TENANT_POLICY = governed(
    source={"urlPrefixes": ["https://git.acme.dev/{namespace}/"]},
    output={"imagePrefixes": ["registry.acme.dev/{namespace}/"]},
    builder={"maxResources": {"cpu": "2", "memory": "4Gi"}},
)


@pytest.fixture(scope="module")
def tenant(kubectl: Kubectl, admission: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """team-a: a governed namespace whose ServiceAccount `tenant` may only manage GoImageBuilds."""
    namespace = "team-a"
    objects = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {TENANT_LABEL: "true"}},
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "tenant", "namespace": namespace},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "goimagebuilds", "namespace": namespace},
            "rules": [
                {
                    "apiGroups": ["goimage.dev"],
                    "resources": ["goimagebuilds"],
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "tenant-goimagebuilds", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "goimagebuilds",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": namespace}],
        },
        policy_object("tenant-builds", TENANT_POLICY),
    ]
    manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    kubectl("apply", "--server-side", "-f", "-", input=manifest)
    outside = build_spec(output={"image": "registry.acme.dev/team-b/app"})
    wait_until_refused(kubectl, namespace, build_object("probe", outside))
    try:
        yield namespace, f"system:serviceaccount:{namespace}:tenant"
    finally:
        kubectl("delete", "-f", "-", "--wait=false", input=manifest, check=False)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (
            build_spec(
                builder={
                    "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
                    "tolerations": [{"operator": "Exists"}],
                }
            ),
            "spec.builder.nodeSelector",
        ),
        (build_spec(builder={"image": "evil.example.com/kaniko:latest"}), "spec.builder.image"),
        (build_spec(output={"image": "registry.acme.dev/team-b/app"}), "spec.output.image"),
        (
            build_spec(builder={"resources": {"limits": {"memory": "16Gi"}}}),
            "spec.builder.resources.limits.memory",
        ),
        (build_spec(builder={"serviceAccountName": "default"}), "spec.builder.serviceAccountName"),
    ],
    ids=["control-plane-node", "builder-image", "push-outside", "max-resources", "service-account"],
)
def test_tenant_cannot_escape_the_policy(
    kubectl: Kubectl, tenant: tuple[str, str], spec: dict[str, Any], field: str
) -> None:
    namespace, user = tenant
    result = kubectl(
        "--as", user, "create", "-n", namespace, "-f", "-",
        input=build_object("escape", spec), check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert f"{field} " in result.stderr, result.stderr
    assert 'GoImageBuildPolicy "tenant-builds"' in result.stderr


def test_tenant_gets_a_compliant_build_and_cannot_touch_policies(
    kubectl: Kubectl, tenant: tuple[str, str]
) -> None:
    namespace, user = tenant
    kubectl(
        "--as", user, "create", "-n", namespace, "-f", "-", input=build_object("ok", build_spec())
    )
    assert kubectl("get", "gib", "ok", "-n", namespace, "-o", "name").stdout.strip()
    denied = kubectl("--as", user, "delete", "gibp", "tenant-builds", check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()
    allowed = kubectl("--as", user, "auth", "can-i", "create", "goimagebuildpolicies", check=False)
    assert allowed.stdout.strip() == "no"


def test_operator_writes_to_a_resource_from_before_the_policy_are_not_refused(
    kubectl: Kubectl, tenant: tuple[str, str]
) -> None:
    """Only spec changes are judged: the operator's annotations on an old resource go through."""
    namespace, _ = tenant
    kubectl("delete", "gibp", "tenant-builds")
    old = build_spec(output={"image": IMAGE.replace("team-a", "team-b")})
    kubectl("create", "-n", namespace, "-f", "-", input=build_object("from-before", old))
    kubectl(
        "apply",
        "--server-side",
        "-f",
        "-",
        input=json.dumps(policy_object("tenant-builds", TENANT_POLICY)),
    )
    wait_until_refused(kubectl, namespace, build_object("probe", old))
    kubectl("annotate", "gib", "from-before", "-n", namespace, "kopf.goimage.dev/touched=yes")
    changed = kubectl(
        "patch", "gib", "from-before", "-n", namespace, "--type=merge",
        "-p", '{"spec": {"output": {"tags": ["v2"]}}}', check=False,
    )  # fmt: skip
    assert changed.returncode != 0
    assert "spec.output.image" in changed.stderr
