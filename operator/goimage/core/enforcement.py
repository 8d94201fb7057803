"""Whether a build may be made at all, and the pod it gets: the operator's own gate.

The admission policy refuses what breaks a GoImageBuildPolicy at `kubectl
apply`; this gate judges again, with the same rules, right before the Job is
made, because a resource may predate its policy, or admission may be off. It
also holds what only the operator knows: its own ceiling on the timeout, and
what fits in a ConfigMap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from goimage.core import configmap, policy, policy_rules, spec
from goimage.core.conditions import Reason
from goimage.core.plan import BuildPlan
from goimage.core.policy import PodPlacement, Policy
from goimage.core.settings import Settings


class Refusal(Exception):
    """The build must not be made: Failed with `reason`, no Job."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Admitted:
    placement: PodPlacement
    # The namespace's maxConcurrentBuilds (0: no limit), and the policy that sets it.
    limit: int
    limit_policy: str


def enforce(
    plan: BuildPlan, governing: Sequence[Policy], settings: Settings, *, dockerfile: str
) -> Admitted:
    """The build's pod under its policies; raises Refusal when it must not be built."""
    found = policy_rules.violations(plan.spec, governing, plan.namespace)
    if found:
        raise Refusal(Reason.POLICY_VIOLATION, "; ".join(v.message for v in found))
    ceiling = spec.duration_seconds(settings.max_timeout, field="GOIMAGE_MAX_BUILD_TIMEOUT")
    if plan.spec.builder.timeout_seconds > ceiling:
        raise Refusal(
            Reason.INVALID_SPEC,
            f"spec.builder.timeout: {plan.spec.builder.timeout} is above the longest build "
            f"this cluster allows ({settings.max_timeout}, the operator's maxTimeout setting)",
        )
    oversize = configmap.oversize_message(dockerfile, plan.raw_spec)
    if oversize is not None:
        raise Refusal(Reason.INVALID_SPEC, oversize)
    try:
        placement = policy.pod_placement(
            plan.spec, governing, default_resources=settings.build_resources
        )
    except policy.PolicyConflict as conflict:
        raise Refusal(Reason.POLICY_VIOLATION, str(conflict)) from None
    limit, limit_policy = policy.concurrency_limit(governing)
    return Admitted(placement=placement, limit=limit, limit_policy=limit_policy)
