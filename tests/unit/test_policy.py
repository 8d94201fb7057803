"""GoImageBuildPolicy: parsing, which namespaces it governs, what it forces onto build pods."""

from __future__ import annotations

from typing import Any

import pytest

from goimage.core import policy
from goimage.core.settings import DEFAULT_BUILD_RESOURCES
from goimage.core.spec import Toleration, parse_spec


def make(name: str = "p", **spec: Any) -> policy.Policy:
    return policy.parse_policy({"metadata": {"name": name}, "spec": spec})


def build(**builder: Any) -> Any:
    return parse_spec(
        {
            "source": {"git": {"url": "https://g/x.git"}},
            "output": {"image": "r/x"},
            "builder": builder,
        }
    )


class TestParse:
    def test_every_field(self) -> None:
        parsed = make(
            "full",
            namespaceSelector={
                "matchLabels": {"t": "1"},
                "matchExpressions": [{"key": "k", "operator": "In", "values": ["a"]}],
            },
            source={"urlPrefixes": ["https://git/"]},
            output={"imagePrefixes": ["reg/{namespace}/"]},
            go={"images": ["reg/golang:"]},
            runtime={"images": ["scratch"]},
            builder={
                "images": ["reg/kaniko:1"],
                "serviceAccountNames": ["builder"],
                "nodeSelector": {"pool": "builds"},
                "tolerations": [{"key": "builds", "operator": "Exists", "effect": "NoSchedule"}],
                "runtimeClassName": "gvisor",
                "allowTenantPlacement": True,
                "defaultResources": {"requests": {"cpu": 1}},
                "maxResources": {"memory": "8Gi", "ephemeral-storage": "20Gi"},
                "maxTimeout": "2h",
            },
            maxConcurrentBuilds=3,
        )
        assert parsed == policy.Policy(
            name="full",
            match_labels=(("t", "1"),),
            match_expressions=(policy.Requirement("k", "In", ("a",)),),
            url_prefixes=("https://git/",),
            image_prefixes=("reg/{namespace}/",),
            go_images=("reg/golang:",),
            runtime_images=("scratch",),
            builder_images=("reg/kaniko:1",),
            service_account_names=("builder",),
            node_selector=(("pool", "builds"),),
            tolerations=(Toleration(key="builds", operator="Exists", effect="NoSchedule"),),
            runtime_class_name="gvisor",
            allow_tenant_placement=True,
            default_resources={"requests": {"cpu": "1"}},
            max_resources=(("memory", "8Gi"), ("ephemeral-storage", "20Gi")),
            max_timeout="2h",
            max_concurrent_builds=3,
        )

    def test_empty_policy_allows_defaults(self) -> None:
        assert make() == policy.Policy(name="p")


class TestGoverns:
    @pytest.mark.parametrize(
        ("selector", "labels", "expected"),
        [
            ({}, {}, True),
            ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
            ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
            ({"matchLabels": {"a": "1"}}, {}, False),
            (
                {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]},
                {"a": "2"},
                True,
            ),
            ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, False),
            ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
            (
                {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]},
                {"a": "1"},
                False,
            ),
            ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
            ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
        ],
    )
    def test_label_selector(self, selector: Any, labels: dict[str, str], expected: bool) -> None:
        assert policy.governs(make(namespaceSelector=selector), labels) is expected

    def test_governing_sorted_by_name(self) -> None:
        found = policy.governing(
            [make("b"), make("a"), make("c", namespaceSelector={"matchLabels": {"x": "y"}})], {}
        )
        assert [p.name for p in found] == ["a", "b"]


def test_concurrency_limit_is_the_smallest_non_zero() -> None:
    policies = [
        make("a", maxConcurrentBuilds=0),
        make("b", maxConcurrentBuilds=5),
        make("c", maxConcurrentBuilds=2),
    ]
    assert policy.concurrency_limit(policies) == (2, "c")
    assert policy.concurrency_limit([make("a")]) == (0, "")


class TestResources:
    def test_defaults_fill_what_the_build_does_not_name(self) -> None:
        result = policy.effective_resources(
            {"limits": {"memory": "2Gi"}},
            {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "4Gi"}},
            {},
        )
        assert result == {"requests": {"cpu": "250m"}, "limits": {"memory": "2Gi"}}

    def test_defaults_above_the_cap_are_lowered_and_caps_become_limits(self) -> None:
        result = policy.effective_resources(
            {},
            {
                "requests": {"memory": "512Mi", "ephemeral-storage": "2Gi"},
                "limits": {"memory": "4Gi"},
            },
            {"memory": "1Gi", "ephemeral-storage": "1Gi", "cpu": "2"},
        )
        assert result == {
            "requests": {"memory": "512Mi", "ephemeral-storage": "1Gi"},
            "limits": {"memory": "1Gi", "ephemeral-storage": "1Gi", "cpu": "2"},
        }

    def test_operator_defaults_without_policy(self) -> None:
        placement = policy.pod_placement(build(), (), default_resources=DEFAULT_BUILD_RESOURCES)
        assert placement.resources == DEFAULT_BUILD_RESOURCES

    def test_policy_defaults_replace_the_operators(self) -> None:
        placement = policy.pod_placement(
            build(),
            [make("a", builder={"defaultResources": {"limits": {"memory": "1Gi"}}})],
            default_resources=DEFAULT_BUILD_RESOURCES,
        )
        assert placement.resources == {"limits": {"memory": "1Gi"}}

    def test_the_lowest_cap_of_all_policies(self) -> None:
        placement = policy.pod_placement(
            build(),
            [
                make("a", builder={"maxResources": {"memory": "2Gi"}}),
                make("b", builder={"maxResources": {"memory": "3Gi"}}),
            ],
            default_resources={},
        )
        assert placement.resources == {"limits": {"memory": "2Gi"}}


class TestPlacement:
    def test_forced_placement_joins_the_tenants(self) -> None:
        spec = build(nodeSelector={"disk": "ssd", "pool": "mine"}, tolerations=[{"key": "t"}])
        placement = policy.pod_placement(
            spec,
            [
                make(
                    "a",
                    builder={
                        "nodeSelector": {"pool": "builds"},
                        "tolerations": [{"key": "builds", "operator": "Exists"}],
                        "runtimeClassName": "gvisor",
                    },
                )
            ],
            default_resources={},
        )
        assert placement.node_selector == (("disk", "ssd"), ("pool", "builds"))
        assert placement.tolerations == (
            Toleration(key="t"),
            Toleration(key="builds", operator="Exists"),
        )
        assert placement.runtime_class_name == "gvisor"

    def test_policies_forcing_different_node_labels_conflict(self) -> None:
        with pytest.raises(policy.PolicyConflict, match="'a' and 'b'"):
            policy.pod_placement(
                build(),
                [
                    make("a", builder={"nodeSelector": {"pool": "x"}}),
                    make("b", builder={"nodeSelector": {"pool": "y"}}),
                ],
                default_resources={},
            )

    def test_policies_forcing_different_runtime_classes_conflict(self) -> None:
        with pytest.raises(policy.PolicyConflict, match="runtimeClassNames"):
            policy.pod_placement(
                build(),
                [
                    make("a", builder={"runtimeClassName": "gvisor"}),
                    make("b", builder={"runtimeClassName": "kata"}),
                ],
                default_resources={},
            )

    def test_same_forced_values_do_not_conflict(self) -> None:
        same = {"nodeSelector": {"pool": "x"}, "runtimeClassName": "gvisor"}
        placement = policy.pod_placement(
            build(), [make("a", builder=same), make("b", builder=same)], default_resources={}
        )
        assert placement.node_selector == (("pool", "x"),)


def test_expand_namespace() -> None:
    assert policy.expand(["r/{namespace}/", "s/"], "team-a") == ("r/team-a/", "s/")
