"""The policy rules as the operator judges them: one table of cases (tests/policy_cases.py),
the same table the integration tier runs through the API server's admission policy."""

from __future__ import annotations

import pytest
from tests.policy_cases import CASES, NAMESPACE, PolicyCase

from goimage.core import policy, policy_rules
from goimage.core.spec import parse_spec


def judge(case: PolicyCase) -> list[policy_rules.Violation]:
    governing = policy.governing(
        [policy.parse_policy({"metadata": {"name": "team-builds"}, "spec": case.policy})],
        case.namespace_labels,
    )
    return policy_rules.violations(parse_spec(case.build), governing, NAMESPACE)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_names_the_field_and_the_policy(case: PolicyCase) -> None:
    found = judge(case)
    if case.field is None:
        assert found == []
        return
    assert [v.field for v in found] == [case.field]
    assert found[0].policy == "team-builds"
    assert found[0].message.startswith(case.field + " ")
    assert 'GoImageBuildPolicy "team-builds"' in found[0].message


def test_every_rule_has_a_refusing_case() -> None:
    exercised = {c.rule for c in CASES if c.field is not None}
    assert exercised == {rule.name for rule in policy_rules.RULES}


def test_rule_names_and_fields_are_unique() -> None:
    names = [rule.name for rule in policy_rules.RULES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    ("case_id", "message"),
    [
        (
            "git-url-of-another-team",
            'spec.source.git.url "https://git.acme.dev/team-b/app.git" is not allowed by '
            'GoImageBuildPolicy "team-builds": it must start with one of: '
            "https://git.acme.dev/team-a/",
        ),
        (
            "go-image-without-allowlist",
            'spec.go.image "evil.example.com/golang:1.26" is not allowed by GoImageBuildPolicy '
            '"team-builds": builds use golang:<spec.go.version>',
        ),
        (
            "another-builder-image",
            'spec.builder.image "evil.example.com/kaniko:latest" is not allowed by '
            'GoImageBuildPolicy "team-builds": builds run the default Kaniko executor',
        ),
        (
            "service-account-not-listed",
            'spec.builder.serviceAccountName "deployer" is not allowed by GoImageBuildPolicy '
            '"team-builds": it must be one of: image-builder',
        ),
        (
            "tenant-tolerations",
            'spec.builder.tolerations is not allowed by GoImageBuildPolicy "team-builds": '
            "the platform places build pods (allowTenantPlacement is false)",
        ),
        (
            "limits-memory-above-max",
            "spec.builder.resources.limits.memory 9000Mi is above the maxResources of "
            'GoImageBuildPolicy "team-builds": memory 8Gi',
        ),
        (
            "default-timeout-above-max",
            "spec.builder.timeout 30m is above the maxTimeout of "
            'GoImageBuildPolicy "team-builds": 20m',
        ),
    ],
)
def test_messages(case_id: str, message: str) -> None:
    (case,) = [c for c in CASES if c.id == case_id]
    assert [v.message for v in judge(case)] == [message]


def test_every_governing_policy_applies() -> None:
    strict = policy.parse_policy(
        {"metadata": {"name": "b-images"}, "spec": {"output": {"imagePrefixes": ["x/"]}}}
    )
    loose = policy.parse_policy({"metadata": {"name": "a-any"}, "spec": {}})
    spec = parse_spec({"source": {"git": {"url": "https://g/x.git"}}, "output": {"image": "y/z"}})
    found = policy_rules.violations(spec, policy.governing([strict, loose], {}), "ns")
    assert [(v.policy, v.field) for v in found] == [("b-images", "spec.output.image")]
