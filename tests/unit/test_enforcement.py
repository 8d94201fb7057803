"""The operator's gate before it makes a Job: policy rules, its own ceilings, placement."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit import factories

from goimage.core import enforcement, policy
from goimage.core.conditions import Reason
from goimage.core.settings import Settings

SETTINGS = Settings()


def make(name: str, **spec: Any) -> policy.Policy:
    return policy.parse_policy({"metadata": {"name": name}, "spec": spec})


def test_no_policy_admits_with_the_operators_defaults() -> None:
    admitted = enforcement.enforce(factories.plan(), [], SETTINGS, dockerfile="FROM scratch\n")
    assert admitted.limit == 0
    assert admitted.placement.resources == SETTINGS.build_resources


def test_violations_refuse_with_every_message() -> None:
    governing = [
        make("a", output={"imagePrefixes": ["elsewhere/"]}),
        make("b", builder={"maxTimeout": "10m"}),
    ]
    with pytest.raises(enforcement.Refusal) as refused:
        enforcement.enforce(factories.plan(), governing, SETTINGS, dockerfile="")
    assert refused.value.reason is Reason.POLICY_VIOLATION
    assert 'spec.output.image "registry.example.com/team/gitback" is not allowed by ' in (
        refused.value.message
    )
    assert 'maxTimeout of GoImageBuildPolicy "b": 10m' in refused.value.message


def test_conflicting_policies_refuse() -> None:
    governing = [
        make("a", builder={"runtimeClassName": "gvisor"}),
        make("b", builder={"runtimeClassName": "kata"}),
    ]
    with pytest.raises(enforcement.Refusal) as refused:
        enforcement.enforce(factories.plan(), governing, SETTINGS, dockerfile="")
    assert refused.value.reason is Reason.POLICY_VIOLATION


def test_the_operators_timeout_ceiling() -> None:
    plan = factories.plan({"builder.timeout": "3h"})
    with pytest.raises(enforcement.Refusal) as refused:
        enforcement.enforce(plan, [], Settings(max_timeout="2h"), dockerfile="")
    assert refused.value.reason is Reason.INVALID_SPEC
    assert refused.value.message.startswith("spec.builder.timeout: 3h is above")


def test_a_dockerfile_too_large_for_a_configmap() -> None:
    with pytest.raises(enforcement.Refusal) as refused:
        enforcement.enforce(factories.plan(), [], SETTINGS, dockerfile="x" * 2_000_000)
    assert refused.value.reason is Reason.INVALID_SPEC
    assert "ConfigMap" in refused.value.message


def test_the_smallest_limit_and_forced_placement() -> None:
    governing = [
        make("a", maxConcurrentBuilds=4, builder={"nodeSelector": {"pool": "builds"}}),
        make("b", maxConcurrentBuilds=2),
    ]
    admitted = enforcement.enforce(factories.plan(), governing, SETTINGS, dockerfile="")
    assert (admitted.limit, admitted.limit_policy) == (2, "b")
    assert admitted.placement.node_selector == (("pool", "builds"),)
