"""What a GoImageBuildPolicy refuses: one table, judged twice.

Each rule holds its Python check (the operator's, before it creates a Job) and
its CEL (the ValidatingAdmissionPolicy's, at `kubectl apply`) side by side, and
both produce the same message: the field, the policy, what is allowed.
`core.admission_policy` generates the chart's admission policy from this
table, and the integration tier runs every case of one table through both the
Python check and the real API server, so the two cannot drift.

CEL sees the GoImageBuild as the API server stores it: with the CRD's
defaults, but without the operator's (spec.runtime.image has no schema
default); the `variables` below supply those, from the same constants the
parser uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from goimage.core import policy as policies
from goimage.core import spec as specs
from goimage.core.policy import Policy

POLICY_LABEL = "GoImageBuildPolicy"


@dataclass(frozen=True)
class Violation:
    field: str
    policy: str
    message: str  # says the field and the policy


@dataclass(frozen=True)
class Rule:
    name: str
    field: str
    check: Callable[[specs.BuildSpec, Policy, str], str | None]
    """The message if the build breaks the policy, else None."""
    cel: str
    """True when the build complies (the admission policy's validation)."""
    cel_message: str
    """The same message as `check`'s, as a CEL messageExpression."""


def _quoted(value: str) -> str:
    return f'"{value}"'


def _not_allowed(field: str, value: str, policy: Policy) -> str:
    return f"{field} {_quoted(value)} is not allowed by {POLICY_LABEL} {_quoted(policy.name)}: "


def _cel_not_allowed(field: str, value: str) -> str:
    return (
        f"'{field} \"' + {value} + '\" is not allowed by {POLICY_LABEL} \"' + "
        "params.metadata.name + '\": '"
    )


def _one_of(prefixes: Sequence[str]) -> str:
    return "it must start with one of: " + ", ".join(prefixes)


# --- CEL building blocks ------------------------------------------------------------------------


def cel_field(root: str, path: str, default: str) -> str:
    """`root.path`, or `default` where any step of the path is absent."""
    steps = path.split(".")
    checks = [f"has({root}.{'.'.join(steps[: i + 1])})" for i in range(len(steps))]
    return f"({' && '.join(checks)} ? {root}.{path} : {default})"


def _cel_param_list(path: str, *, expand: bool = False) -> str:
    value = f"params.spec.{path}"
    if expand:
        value += f".map(p, p.replace('{policies.NAMESPACE_PLACEHOLDER}', request.namespace))"
    steps = path.split(".")
    checks = " && ".join(f"has(params.spec.{'.'.join(steps[: i + 1])})" for i in range(len(steps)))
    return f"({checks} ? {value} : [])"


def _cel_label_selector() -> str:
    """The policy's namespaceSelector against the namespace's labels, as `governs` does."""
    labels = "variables.namespaceLabels"
    selector = "params.spec.namespaceSelector"
    has_value = f"(has(e.values) && e.values.exists(v, e.key in {labels} && v == {labels}[e.key]))"
    expression = (
        f"e.operator == 'In' ? {has_value} : "
        f"e.operator == 'NotIn' ? !{has_value} : "
        f"e.operator == 'Exists' ? e.key in {labels} : !(e.key in {labels})"
    )
    return (
        f"(!has({selector}) || !has({selector}.matchLabels) || {selector}.matchLabels.all(k, "
        f"k in {labels} && {labels}[k] == {selector}.matchLabels[k])) && "
        f"(!has({selector}) || !has({selector}.matchExpressions) || "
        f"{selector}.matchExpressions.all(e, {expression}))"
    )


# Evaluated lazily, once per (object, policy); the rules read them as variables.X.
CEL_VARIABLES: tuple[tuple[str, str], ...] = (
    (
        "namespaceLabels",
        "has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {}",
    ),
    ("governed", _cel_label_selector()),
    ("urlPrefixes", _cel_param_list("source.urlPrefixes", expand=True)),
    ("imagePrefixes", _cel_param_list("output.imagePrefixes", expand=True)),
    ("goImages", _cel_param_list("go.images")),
    ("runtimeImages", _cel_param_list("runtime.images")),
    ("builderImages", _cel_param_list("builder.images")),
    ("serviceAccountNames", _cel_param_list("builder.serviceAccountNames")),
    (
        "tenantPlacement",
        cel_field("params.spec", "builder.allowTenantPlacement", "false"),
    ),
    ("goImage", cel_field("object.spec", "go.image", "''")),
    (
        "runtimeImage",
        f"{cel_field('object.spec', 'runtime.image', chr(39) * 2)} != '' ? "
        f"object.spec.runtime.image : ({cel_field('object.spec', 'go.cgo', 'false')} ? "
        f"'{specs.LIBC_RUNTIME}' : '{specs.STATIC_RUNTIME}')",
    ),
    ("builderImage", cel_field("object.spec", "builder.image", "''")),
    ("serviceAccountName", cel_field("object.spec", "builder.serviceAccountName", "''")),
    ("cacheRepo", cel_field("object.spec", "builder.cache.repo", "''")),
    ("timeout", cel_field("object.spec", "builder.timeout", f"'{specs.DEFAULT_TIMEOUT}'")),
)


# --- the rules ----------------------------------------------------------------------------------


def _source_url(spec: specs.BuildSpec, policy: Policy, namespace: str) -> str | None:
    prefixes = policies.expand(policy.url_prefixes, namespace)
    url = spec.source.git.url
    if not prefixes or any(url.startswith(p) for p in prefixes):
        return None
    return _not_allowed("spec.source.git.url", url, policy) + _one_of(prefixes)


def _output_image(spec: specs.BuildSpec, policy: Policy, namespace: str) -> str | None:
    prefixes = policies.expand(policy.image_prefixes, namespace)
    image = spec.output.image
    if not prefixes or any(image.startswith(p) for p in prefixes):
        return None
    return _not_allowed("spec.output.image", image, policy) + _one_of(prefixes)


def _cache_repo(spec: specs.BuildSpec, policy: Policy, namespace: str) -> str | None:
    # A shared cache is a shared build: a layer poisoned there ends up in others' binaries.
    prefixes = policies.expand(policy.image_prefixes, namespace)
    repo = spec.builder.cache.repo
    if not repo or not prefixes or any(repo.startswith(p) for p in prefixes):
        return None
    return _not_allowed("spec.builder.cache.repo", repo, policy) + _one_of(prefixes)


def _go_image(spec: specs.BuildSpec, policy: Policy, namespace: str) -> str | None:
    image = spec.go.image
    if not image or any(image.startswith(p) for p in policy.go_images):
        return None
    allowed = _one_of(policy.go_images) if policy.go_images else _DEFAULT_GO_IMAGE
    return _not_allowed("spec.go.image", image, policy) + allowed


def _runtime_image(spec: specs.BuildSpec, policy: Policy, namespace: str) -> str | None:
    image = spec.runtime.image
    if not policy.runtime_images or any(image.startswith(p) for p in policy.runtime_images):
        return None
    return _not_allowed("spec.runtime.image", image, policy) + _one_of(policy.runtime_images)


# What a rule says when its policy list is empty (the default the tenant must keep).
_DEFAULT_GO_IMAGE = "builds use golang:<spec.go.version>"
_DEFAULT_BUILDER = "builds run the default Kaniko executor"
_DEFAULT_ACCOUNT = "build pods run as the default ServiceAccount"


def _listed(
    field: str, value: str, allowed: Sequence[str], policy: Policy, *, otherwise: str
) -> str | None:
    """`value` (when set) must be one of `allowed`; an empty list allows none but the default."""
    if not value or value in allowed:
        return None
    detail = "it must be one of: " + ", ".join(allowed) if allowed else otherwise
    return _not_allowed(field, value, policy) + detail


def _builder_image(spec: specs.BuildSpec, policy: Policy, namespace: str) -> str | None:
    return _listed(
        "spec.builder.image", spec.builder.image, policy.builder_images, policy,
        otherwise=_DEFAULT_BUILDER,
    )  # fmt: skip


def _service_account(spec: specs.BuildSpec, policy: Policy, namespace: str) -> str | None:
    return _listed(
        "spec.builder.serviceAccountName", spec.builder.service_account_name,
        policy.service_account_names, policy, otherwise=_DEFAULT_ACCOUNT,
    )  # fmt: skip


_PLACEMENT = "the platform places build pods (allowTenantPlacement is false)"


def _placement(field: str, attribute: str) -> Callable[[specs.BuildSpec, Policy, str], str | None]:
    def check(spec: specs.BuildSpec, policy: Policy, namespace: str) -> str | None:
        if policy.allow_tenant_placement or not getattr(spec.builder, attribute):
            return None
        return f"{field} is not allowed by {POLICY_LABEL} {_quoted(policy.name)}: {_PLACEMENT}"

    return check


def _placement_rule(name: str, attribute: str, key: str) -> Rule:
    field = f"spec.builder.{key}"
    return Rule(
        name=name,
        field=field,
        check=_placement(field, attribute),
        cel=(
            f"variables.tenantPlacement || !has(object.spec.builder) || "
            f"!has(object.spec.builder.{key}) || size(object.spec.builder.{key}) == 0"
        ),
        cel_message=(
            f"'{field} is not allowed by {POLICY_LABEL} \"' + params.metadata.name + "
            f"'\": {_PLACEMENT}'"
        ),
    )


def _resource_rule(kind: str, resource: str) -> Rule:
    field = f"spec.builder.resources.{kind}.{resource}"

    def check(spec: specs.BuildSpec, policy: Policy, namespace: str) -> str | None:
        cap = dict(policy.max_resources).get(resource)
        value = spec.builder.resources.get(kind, {}).get(resource)
        if cap is None or value is None or policies.quantity(value) <= policies.quantity(cap):
            return None
        return (
            f"{field} {value} is above the maxResources of {POLICY_LABEL} "
            f"{_quoted(policy.name)}: {resource} {cap}"
        )

    # Both are maps (additionalProperties), so CEL indexes them by the resource's
    # own name: a dashed name (ephemeral-storage) needs no escaping.
    caps = "params.spec.builder.maxResources"
    cap = f"{caps}['{resource}']"
    values = f"object.spec.builder.resources.{kind}"
    value = f"string({values}['{resource}'])"
    return Rule(
        name=f"max-{kind}-{resource}",
        field=field,
        check=check,
        cel=(
            f"!has(params.spec.builder) || !has({caps}) || "
            f"!('{resource}' in {caps}) || !has(object.spec.builder) || "
            f"!has(object.spec.builder.resources) || !has({values}) || "
            f"!('{resource}' in {values}) || "
            f"quantity({value}).compareTo(quantity(string({cap}))) <= 0"
        ),
        cel_message=(
            f"'{field} ' + {value} + ' is above the maxResources of {POLICY_LABEL} \"' + "
            f"params.metadata.name + '\": {resource} ' + string({cap})"
        ),
    )


def _timeout(spec: specs.BuildSpec, policy: Policy, namespace: str) -> str | None:
    if not policy.max_timeout:
        return None
    limit = specs.duration_seconds(policy.max_timeout, field="maxTimeout")
    if specs.duration_seconds(spec.builder.timeout, field="spec.builder.timeout") <= limit:
        return None
    return (
        f"spec.builder.timeout {spec.builder.timeout} is above the maxTimeout of "
        f"{POLICY_LABEL} {_quoted(policy.name)}: {policy.max_timeout}"
    )


def _prefix_rule(
    name: str,
    field: str,
    check: Callable[[specs.BuildSpec, Policy, str], str | None],
    *,
    value: str,
    prefixes: str,
    optional: bool = False,
) -> Rule:
    allowed = f"size({prefixes}) == 0 || {prefixes}.exists(p, {value}.startsWith(p))"
    return Rule(
        name=name,
        field=field,
        check=check,
        cel=f"{value} == '' || {allowed}" if optional else allowed,
        cel_message=(
            f"{_cel_not_allowed(field, value)} + 'it must start with one of: ' + "
            f"{prefixes}.join(', ')"
        ),
    )


def _choice_message(field: str, value: str, allowed: str, verb: str, otherwise: str) -> str:
    return (
        f"{_cel_not_allowed(field, value)} + (size({allowed}) == 0 ? '{otherwise}' : "
        f"'{verb} one of: ' + {allowed}.join(', '))"
    )


RULES: tuple[Rule, ...] = (
    _prefix_rule(
        "source-url",
        "spec.source.git.url",
        _source_url,
        value="object.spec.source.git.url",
        prefixes="variables.urlPrefixes",
    ),
    _prefix_rule(
        "output-image",
        "spec.output.image",
        _output_image,
        value="object.spec.output.image",
        prefixes="variables.imagePrefixes",
    ),
    _prefix_rule(
        "cache-repo",
        "spec.builder.cache.repo",
        _cache_repo,
        value="variables.cacheRepo",
        prefixes="variables.imagePrefixes",
        optional=True,
    ),
    Rule(
        name="go-image",
        field="spec.go.image",
        check=_go_image,
        cel=(
            "variables.goImage == '' || "
            "variables.goImages.exists(p, variables.goImage.startsWith(p))"
        ),
        cel_message=_choice_message(
            "spec.go.image",
            "variables.goImage",
            "variables.goImages",
            "it must start with",
            _DEFAULT_GO_IMAGE,
        ),
    ),
    _prefix_rule(
        "runtime-image",
        "spec.runtime.image",
        _runtime_image,
        value="variables.runtimeImage",
        prefixes="variables.runtimeImages",
    ),
    Rule(
        name="builder-image",
        field="spec.builder.image",
        check=_builder_image,
        cel="variables.builderImage == '' || variables.builderImage in variables.builderImages",
        cel_message=_choice_message(
            "spec.builder.image",
            "variables.builderImage",
            "variables.builderImages",
            "it must be",
            _DEFAULT_BUILDER,
        ),
    ),
    Rule(
        name="service-account",
        field="spec.builder.serviceAccountName",
        check=_service_account,
        cel=(
            "variables.serviceAccountName == '' || "
            "variables.serviceAccountName in variables.serviceAccountNames"
        ),
        cel_message=_choice_message(
            "spec.builder.serviceAccountName",
            "variables.serviceAccountName",
            "variables.serviceAccountNames",
            "it must be",
            _DEFAULT_ACCOUNT,
        ),
    ),
    _placement_rule("tenant-node-selector", "node_selector", "nodeSelector"),
    _placement_rule("tenant-tolerations", "tolerations", "tolerations"),
    *(
        _resource_rule(kind, resource)
        for kind in ("requests", "limits")
        for resource in policies.CAPPED_RESOURCES
    ),
    Rule(
        name="max-timeout",
        field="spec.builder.timeout",
        check=_timeout,
        cel=(
            "!has(params.spec.builder) || !has(params.spec.builder.maxTimeout) || "
            "duration(variables.timeout) <= duration(params.spec.builder.maxTimeout)"
        ),
        cel_message=(
            f"'spec.builder.timeout ' + variables.timeout + ' is above the maxTimeout of "
            f"{POLICY_LABEL} \"' + params.metadata.name + '\": ' + "
            "params.spec.builder.maxTimeout"
        ),
    ),
)


def violations(
    spec: specs.BuildSpec, governing: Sequence[Policy], namespace: str
) -> list[Violation]:
    """Every rule each governing policy's build breaks, policy by policy, in table order."""
    found = []
    for policy in governing:
        for rule in RULES:
            message = rule.check(spec, policy, namespace)
            if message is not None:
                found.append(Violation(field=rule.field, policy=policy.name, message=message))
    return found
