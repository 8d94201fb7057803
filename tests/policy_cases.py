"""One table of GoImageBuildPolicy cases, judged by the operator's rules and the API server.

Each case is a policy, the labels of the build's namespace, and a build spec;
`field` is the field the refusal must name, or None when the build complies.
The unit tier runs each case through `policy_rules.violations` (the operator);
the integration tier applies it to a real kube-apiserver running the chart's
ValidatingAdmissionPolicy and asserts the refusal carries the very same
message. Every rule of `policy_rules.RULES` has a case here (a unit test
checks it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TENANT_LABEL = "builds.acme.dev/tenant"
NAMESPACE = "team-a"
GIT = "https://git.acme.dev/team-a/app.git"
IMAGE = "registry.acme.dev/team-a/app"


@dataclass(frozen=True)
class PolicyCase:
    id: str
    policy: Mapping[str, Any]
    build: Mapping[str, Any]
    field: str | None
    rule: str = ""  # the rule a refusing case exercises
    namespace_labels: Mapping[str, str] = field(default_factory=lambda: {TENANT_LABEL: "true"})


def build_spec(**sections: Mapping[str, Any]) -> dict[str, Any]:
    """A compliant build spec, with whole sections replaced or added."""
    spec: dict[str, Any] = {"source": {"git": {"url": GIT}}, "output": {"image": IMAGE}}
    spec.update(sections)
    return spec


def governed(**spec: Any) -> dict[str, Any]:
    """A policy spec that governs the tenant namespaces."""
    return {"namespaceSelector": {"matchLabels": {TENANT_LABEL: "true"}}, **spec}


SOURCE = {"urlPrefixes": ["https://git.acme.dev/{namespace}/"]}
OUTPUT = {"imagePrefixes": ["registry.acme.dev/{namespace}/"]}

CASES: tuple[PolicyCase, ...] = (
    PolicyCase("compliant", governed(source=SOURCE, output=OUTPUT), build_spec(), None),
    PolicyCase(
        "git-url-of-another-team",
        governed(source=SOURCE),
        build_spec(source={"git": {"url": "https://git.acme.dev/team-b/app.git"}}),
        "spec.source.git.url",
        rule="source-url",
    ),
    PolicyCase(
        "git-url-elsewhere",
        governed(source=SOURCE),
        build_spec(source={"git": {"url": "https://evil.example.com/x.git"}}),
        "spec.source.git.url",
        rule="source-url",
    ),
    PolicyCase(
        "push-outside-prefix",
        governed(output=OUTPUT),
        build_spec(output={"image": "registry.acme.dev/team-b/app"}),
        "spec.output.image",
        rule="output-image",
    ),
    PolicyCase(
        "cache-in-another-team",
        governed(output=OUTPUT),
        build_spec(builder={"cache": {"repo": "registry.acme.dev/team-b/cache"}}),
        "spec.builder.cache.repo",
        rule="cache-repo",
    ),
    PolicyCase(
        "cache-inside-prefix",
        governed(output=OUTPUT),
        build_spec(builder={"cache": {"repo": "registry.acme.dev/team-a/cache"}}),
        None,
    ),
    PolicyCase(
        "go-image-without-allowlist",
        governed(),
        build_spec(go={"image": "evil.example.com/golang:1.26"}),
        "spec.go.image",
        rule="go-image",
    ),
    PolicyCase(
        "go-image-outside-allowlist",
        governed(go={"images": ["registry.acme.dev/golang:"]}),
        build_spec(go={"image": "docker.io/library/golang:1.26"}),
        "spec.go.image",
        rule="go-image",
    ),
    PolicyCase(
        "go-image-in-allowlist",
        governed(go={"images": ["registry.acme.dev/golang:"]}),
        build_spec(go={"image": "registry.acme.dev/golang:1.26"}),
        None,
    ),
    PolicyCase(
        "runtime-image-outside-allowlist",
        governed(runtime={"images": ["gcr.io/distroless/"]}),
        build_spec(runtime={"image": "alpine:3.20"}),
        "spec.runtime.image",
        rule="runtime-image",
    ),
    PolicyCase(
        "runtime-default-outside-allowlist",
        governed(runtime={"images": ["scratch"]}),
        build_spec(),
        "spec.runtime.image",
        rule="runtime-image",
    ),
    PolicyCase(
        "cgo-runtime-default-in-allowlist",
        governed(runtime={"images": ["gcr.io/distroless/base-"]}),
        build_spec(go={"cgo": True}),
        None,
    ),
    PolicyCase(
        "another-builder-image",
        governed(),
        build_spec(builder={"image": "evil.example.com/kaniko:latest"}),
        "spec.builder.image",
        rule="builder-image",
    ),
    PolicyCase(
        "builder-image-not-listed",
        governed(builder={"images": ["registry.acme.dev/kaniko:v1.24.0"]}),
        build_spec(builder={"image": "registry.acme.dev/kaniko:v1.24.0-debug"}),
        "spec.builder.image",
        rule="builder-image",
    ),
    PolicyCase(
        "builder-image-listed",
        governed(builder={"images": ["registry.acme.dev/kaniko:v1.24.0"]}),
        build_spec(builder={"image": "registry.acme.dev/kaniko:v1.24.0"}),
        None,
    ),
    PolicyCase(
        "service-account-without-allowlist",
        governed(),
        build_spec(builder={"serviceAccountName": "deployer"}),
        "spec.builder.serviceAccountName",
        rule="service-account",
    ),
    PolicyCase(
        "service-account-not-listed",
        governed(builder={"serviceAccountNames": ["image-builder"]}),
        build_spec(builder={"serviceAccountName": "deployer"}),
        "spec.builder.serviceAccountName",
        rule="service-account",
    ),
    PolicyCase(
        "tenant-node-selector",
        governed(),
        build_spec(builder={"nodeSelector": {"node-role.kubernetes.io/control-plane": ""}}),
        "spec.builder.nodeSelector",
        rule="tenant-node-selector",
    ),
    PolicyCase(
        "tenant-tolerations",
        governed(),
        build_spec(builder={"tolerations": [{"operator": "Exists"}]}),
        "spec.builder.tolerations",
        rule="tenant-tolerations",
    ),
    PolicyCase(
        "tenant-placement-allowed",
        governed(builder={"allowTenantPlacement": True}),
        build_spec(builder={"nodeSelector": {"disk": "ssd"}, "tolerations": [{"key": "x"}]}),
        None,
    ),
    *(
        PolicyCase(
            f"{kind}-{resource}-above-max",
            governed(builder={"maxResources": {resource: small}}),
            build_spec(builder={"resources": {kind: {resource: big}}}),
            f"spec.builder.resources.{kind}.{resource}",
            rule=f"max-{kind}-{resource}",
        )
        for kind in ("requests", "limits")
        for resource, small, big in (
            ("cpu", "2", "2500m"),
            ("memory", "8Gi", "9000Mi"),
            ("ephemeral-storage", "10Gi", "11Gi"),
        )
    ),
    PolicyCase(
        "resources-at-max",
        governed(builder={"maxResources": {"cpu": 2, "memory": "8Gi"}}),
        build_spec(builder={"resources": {"limits": {"cpu": "2000m", "memory": "8192Mi"}}}),
        None,
    ),
    PolicyCase(
        "timeout-above-max",
        governed(builder={"maxTimeout": "1h"}),
        build_spec(builder={"timeout": "90m"}),
        "spec.builder.timeout",
        rule="max-timeout",
    ),
    PolicyCase(
        "default-timeout-above-max",
        governed(builder={"maxTimeout": "20m"}),
        build_spec(),
        "spec.builder.timeout",
        rule="max-timeout",
    ),
    PolicyCase(
        "timeout-at-max",
        governed(builder={"maxTimeout": "1h"}),
        build_spec(builder={"timeout": "3600s"}),
        None,
    ),
    PolicyCase(
        "namespace-not-governed",
        governed(source=SOURCE),
        build_spec(source={"git": {"url": "https://evil.example.com/x.git"}}),
        None,
        namespace_labels={TENANT_LABEL: "false"},
    ),
    PolicyCase(
        "match-expressions-in",
        {
            "namespaceSelector": {
                "matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "b"]}]
            },
            "output": OUTPUT,
        },
        build_spec(output={"image": "registry.acme.dev/elsewhere/app"}),
        "spec.output.image",
        rule="output-image",
        namespace_labels={"team": "a"},
    ),
    PolicyCase(
        "match-expressions-notin",
        {
            "namespaceSelector": {
                "matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["a"]}]
            },
            "output": OUTPUT,
        },
        build_spec(output={"image": "registry.acme.dev/elsewhere/app"}),
        None,
        namespace_labels={"team": "a"},
    ),
    PolicyCase(
        "match-expressions-exists-and-doesnotexist",
        {
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": "team", "operator": "Exists"},
                    {"key": "sandbox", "operator": "DoesNotExist"},
                ]
            },
            "output": OUTPUT,
        },
        build_spec(output={"image": "registry.acme.dev/elsewhere/app"}),
        "spec.output.image",
        rule="output-image",
        namespace_labels={"team": "c"},
    ),
    PolicyCase(
        "no-selector-governs-every-namespace",
        {"output": OUTPUT},
        build_spec(output={"image": "registry.acme.dev/elsewhere/app"}),
        "spec.output.image",
        rule="output-image",
        namespace_labels={},
    ),
)
