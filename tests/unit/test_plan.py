"""plan_build: one resource body to the names and spec every builder shares."""

from __future__ import annotations

import pytest
from tests.unit import factories

from goimage.core import naming
from goimage.core import plan as plans
from goimage.core import spec as specs


def test_plan_of_a_resource() -> None:
    plan = plans.plan_build(factories.body())
    assert plan.namespace == "team-a"
    assert plan.resource_name == "gitback"
    assert plan.uid == factories.UID
    assert plan.generation == 3
    assert plan.build_id == "3"
    assert plan.object_name == "gitback-3"
    assert plan.resource == "team-a/gitback"
    assert plan.spec == specs.parse_spec(factories.minimal_spec())
    assert plan.labels == naming.child_labels("gitback", factories.UID, 3, "3")
    assert plan.owner == naming.owner_reference("gitback", factories.UID)


def test_rebuild_annotation_makes_another_build() -> None:
    plan = plans.plan_build(factories.body(annotations={naming.ANNOTATION_REBUILD: "1"}))
    assert plan.generation == 3
    assert plan.build_id.startswith("3-")
    assert plan.object_name == f"gitback-{plan.build_id}"


def test_missing_generation_is_one() -> None:
    body = factories.body()
    del body["metadata"]["generation"]
    assert plans.plan_build(body).generation == 1


def test_bad_spec_raises_spec_error() -> None:
    body = factories.body(factories.spec_with({"output.image": "x:1"}))
    with pytest.raises(specs.SpecError) as caught:
        plans.plan_build(body)
    assert caught.value.field == "spec.output.image"


def test_missing_spec_names_a_required_field() -> None:
    body = factories.body()
    del body["spec"]
    with pytest.raises(specs.SpecError) as caught:
        plans.plan_build(body)
    assert caught.value.field == "spec.source"
