"""The chart's ValidatingAdmissionPolicy is generated from the policy rules and kept current."""

from __future__ import annotations

from pathlib import Path

from goimage.core import admission_policy, policy_rules

ROOT = Path(__file__).resolve().parents[2]


def test_chart_template_is_generated_from_the_rules() -> None:
    committed = (ROOT / admission_policy.TEMPLATE_PATH).read_text()
    assert committed == admission_policy.chart_template(), (
        "the chart's admission policy is stale: run `make admission-policy`"
    )


def test_one_validation_per_rule_each_gated_on_the_namespace() -> None:
    validations = admission_policy.policy_spec()["validations"]
    assert len(validations) == len(policy_rules.RULES)
    for validation, rule in zip(validations, policy_rules.RULES, strict=True):
        assert validation["expression"] == f"!variables.governed || ({rule.cel})"
        assert validation["messageExpression"] == rule.cel_message


def test_binding_takes_every_policy_and_allows_without_one() -> None:
    binding = admission_policy.binding_spec("x")
    assert binding["paramRef"] == {"selector": {}, "parameterNotFoundAction": "Allow"}
    assert binding["validationActions"] == ["Deny"]


def test_variables_are_defined_before_use() -> None:
    names = [name for name, _ in policy_rules.CEL_VARIABLES]
    for index, (_, expression) in enumerate(policy_rules.CEL_VARIABLES):
        later = [n for n in names[index:] if f"variables.{n}" in expression]
        assert later == [], f"{names[index]} uses variables defined after it: {later}"
