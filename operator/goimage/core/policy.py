"""GoImageBuildPolicy: parsed once into frozen values, which namespaces it governs,
and what it forces onto a governed build's pod.

What a policy refuses lives apart, in `policy_rules` (one table, from which the
admission policy's CEL is generated). This module holds what only the operator
does with a policy: placement forced onto the pod, resources defaulted and
capped, and the per-namespace limit of builds at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from goimage.core import spec as specs

PLURAL = "goimagebuildpolicies"
KIND = "GoImageBuildPolicy"
# The resources a policy can cap (spec.builder.maxResources has exactly these).
CAPPED_RESOURCES = ("cpu", "memory", "ephemeral-storage")
NAMESPACE_PLACEHOLDER = "{namespace}"


class PolicyConflict(ValueError):
    """Two policies force different values onto the same build pod field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    name: str
    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()
    url_prefixes: tuple[str, ...] = ()
    image_prefixes: tuple[str, ...] = ()
    go_images: tuple[str, ...] = ()
    runtime_images: tuple[str, ...] = ()
    builder_images: tuple[str, ...] = ()
    service_account_names: tuple[str, ...] = ()
    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[specs.Toleration, ...] = ()
    runtime_class_name: str = ""
    allow_tenant_placement: bool = False
    # Kept in the API's shape: {requests: {name: quantity}, limits: {...}}.
    default_resources: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    max_resources: tuple[tuple[str, str], ...] = ()
    max_timeout: str = ""
    max_concurrent_builds: int = 0


def _strings(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    return tuple(str(v) for v in raw.get(key) or ())


def _section(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, Mapping) else {}


def _resource_lists(raw: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    return {
        kind: {str(name): str(value) for name, value in values.items()}
        for kind, values in raw.items()
        if kind in ("requests", "limits") and isinstance(values, Mapping) and values
    }


def parse_policy(body: Mapping[str, Any]) -> Policy:
    """A GoImageBuildPolicy object as the API server serves it (schema-checked)."""
    raw = _section(body, "spec")
    selector = _section(raw, "namespaceSelector")
    builder = _section(raw, "builder")
    return Policy(
        name=str(body.get("metadata", {}).get("name", "")),
        match_labels=tuple(sorted(_section(selector, "matchLabels").items())),
        match_expressions=tuple(
            Requirement(
                key=str(e.get("key", "")),
                operator=str(e.get("operator", "")),
                values=_strings(e, "values"),
            )
            for e in selector.get("matchExpressions") or ()
        ),
        url_prefixes=_strings(_section(raw, "source"), "urlPrefixes"),
        image_prefixes=_strings(_section(raw, "output"), "imagePrefixes"),
        go_images=_strings(_section(raw, "go"), "images"),
        runtime_images=_strings(_section(raw, "runtime"), "images"),
        builder_images=_strings(builder, "images"),
        service_account_names=_strings(builder, "serviceAccountNames"),
        node_selector=tuple(sorted(_section(builder, "nodeSelector").items())),
        tolerations=tuple(specs.parse_toleration(t) for t in builder.get("tolerations") or ()),
        runtime_class_name=str(builder.get("runtimeClassName") or ""),
        allow_tenant_placement=bool(builder.get("allowTenantPlacement", False)),
        default_resources=_resource_lists(_section(builder, "defaultResources")),
        max_resources=tuple(
            (name, str(value))
            for name in CAPPED_RESOURCES
            if (value := _section(builder, "maxResources").get(name)) is not None
        ),
        max_timeout=str(builder.get("maxTimeout") or ""),
        max_concurrent_builds=int(raw.get("maxConcurrentBuilds") or 0),
    )


def _meets(requirement: Requirement, labels: Mapping[str, str]) -> bool:
    present = requirement.key in labels
    if requirement.operator == "In":
        return present and labels[requirement.key] in requirement.values
    if requirement.operator == "NotIn":
        return not present or labels[requirement.key] not in requirement.values
    if requirement.operator == "Exists":
        return present
    return not present  # DoesNotExist


def governs(policy: Policy, namespace_labels: Mapping[str, str]) -> bool:
    """Whether the policy's namespaceSelector matches a namespace with these labels."""
    return all(namespace_labels.get(k) == v for k, v in policy.match_labels) and all(
        _meets(r, namespace_labels) for r in policy.match_expressions
    )


def governing(policies: Iterable[Policy], namespace_labels: Mapping[str, str]) -> list[Policy]:
    """The policies that govern a namespace, by name (the order of defaults and messages)."""
    return sorted((p for p in policies if governs(p, namespace_labels)), key=lambda p: p.name)


def expand(prefixes: Sequence[str], namespace: str) -> tuple[str, ...]:
    return tuple(p.replace(NAMESPACE_PLACEHOLDER, namespace) for p in prefixes)


def concurrency_limit(policies: Sequence[Policy]) -> tuple[int, str]:
    """The smallest non-zero maxConcurrentBuilds and its policy; (0, "") for none."""
    limits = sorted((p.max_concurrent_builds, p.name) for p in policies if p.max_concurrent_builds)
    return limits[0] if limits else (0, "")


@dataclass(frozen=True)
class PodPlacement:
    """What the build pod gets besides the spec's own: forced placement and resources."""

    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[specs.Toleration, ...] = ()
    runtime_class_name: str = ""
    resources: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def pod_fields(self, node_selector: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The pod spec's runtimeClassName, nodeSelector and tolerations (those set):
        `node_selector` first, the forced selector over it (a policy wins)."""
        fields: dict[str, Any] = {}
        if self.runtime_class_name:
            fields["runtimeClassName"] = self.runtime_class_name
        selector = {**(node_selector or {}), **dict(self.node_selector)}
        if selector:
            fields["nodeSelector"] = selector
        if self.tolerations:
            fields["tolerations"] = [
                {
                    key: value
                    for key, value in (
                        ("key", t.key),
                        ("operator", t.operator),
                        ("value", t.value),
                        ("effect", t.effect),
                        ("tolerationSeconds", t.toleration_seconds),
                    )
                    if value not in ("", None)
                }
                for t in self.tolerations
            ]
        return fields


def quantity(value: str) -> Decimal:
    """A Kubernetes quantity (schema-checked, so it parses), exactly as CEL compares it."""
    number: Decimal = parse_quantity(value)  # type: ignore[no-untyped-call]  # client lacks hints
    return number


def effective_resources(
    requested: Mapping[str, Mapping[str, str]],
    defaults: Mapping[str, Mapping[str, str]],
    maximum: Mapping[str, str],
) -> dict[str, dict[str, str]]:
    """The build container's resources.

    A resource the build names (request or limit) keeps the build's values; one
    it does not name takes the defaults, lowered to the maximum where they
    exceed it; a resource with a maximum and still no limit is limited to the
    maximum. The build's own values above the maximum are a policy violation,
    judged in `policy_rules`, never silently lowered.
    """
    result: dict[str, dict[str, str]] = {"requests": {}, "limits": {}}
    named = {name for values in requested.values() for name in values}
    for kind in ("requests", "limits"):
        result[kind].update(requested.get(kind, {}))
        for name, value in defaults.get(kind, {}).items():
            if name in named:
                continue
            cap = maximum.get(name)
            lowered = cap is not None and quantity(value) > quantity(cap)
            result[kind][name] = cap if lowered and cap is not None else value
    for name, cap in maximum.items():
        result["limits"].setdefault(name, cap)
    # A request above the limit the pod ends with only comes from defaults meeting
    # a cap: lower it to the limit rather than have the Job refused.
    for name, value in list(result["requests"].items()):
        limit = result["limits"].get(name)
        if limit is not None and name not in named and quantity(value) > quantity(limit):
            result["requests"][name] = limit
    return {kind: values for kind, values in result.items() if values}


def _merged_selector(policies: Sequence[Policy]) -> tuple[tuple[str, str], ...]:
    merged: dict[str, tuple[str, str]] = {}
    for policy in policies:
        for key, value in policy.node_selector:
            if key in merged and merged[key][0] != value:
                raise PolicyConflict(
                    "spec.builder.nodeSelector",
                    f"GoImageBuildPolicies {merged[key][1]!r} and {policy.name!r} force "
                    f"different values of node label {key!r}; "
                    "the platform team must reconcile them",
                )
            merged[key] = (value, policy.name)
    return tuple(sorted((k, v) for k, (v, _) in merged.items()))


def _runtime_class(policies: Sequence[Policy]) -> str:
    named = [(p.runtime_class_name, p.name) for p in policies if p.runtime_class_name]
    if len({value for value, _ in named}) > 1:
        raise PolicyConflict(
            "spec.builder",
            "GoImageBuildPolicies "
            + ", ".join(f"{name!r} ({value})" for value, name in named)
            + " force different runtimeClassNames; the platform team must reconcile them",
        )
    return named[0][0] if named else ""


def pod_placement(
    spec: specs.BuildSpec,
    policies: Sequence[Policy],
    *,
    default_resources: Mapping[str, Mapping[str, str]],
) -> PodPlacement:
    """Placement and resources of a build's pod under the policies that govern it.

    The spec's own nodeSelector and tolerations (allowed only where a policy
    lets tenants place builds, see `policy_rules`) are kept; the policies'
    are added, and win where both set the same node label. The first policy
    by name with defaultResources replaces the operator's defaults; the lowest
    of the maxResources caps each resource.
    """
    forced = _merged_selector(policies)
    forced_keys = {key for key, _ in forced}
    selector = tuple(
        sorted([*((k, v) for k, v in spec.builder.node_selector if k not in forced_keys), *forced])
    )
    tolerations = tuple(
        dict.fromkeys([*spec.builder.tolerations, *(t for p in policies for t in p.tolerations)])
    )
    maximum: dict[str, str] = {}
    for policy in policies:
        for name, cap in policy.max_resources:
            if name not in maximum or quantity(cap) < quantity(maximum[name]):
                maximum[name] = cap
    defaults = next((p.default_resources for p in policies if p.default_resources), None)
    return PodPlacement(
        node_selector=selector,
        tolerations=tolerations,
        runtime_class_name=_runtime_class(policies),
        resources=effective_resources(
            spec.builder.resources,
            default_resources if defaults is None else defaults,
            maximum,
        ),
    )
