"""The CRD has one source of truth, manifests/crds; the chart carries a copy."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRD = "goimage.dev_goimagebuilds.yaml"
POLICY_CRD = "goimage.dev_goimagebuildpolicies.yaml"
# kopf's peering records (failover of the chart's replicas).
PEERING_CRDS = ["kopf.dev_clusterkopfpeerings.yaml", "kopf.dev_kopfpeerings.yaml"]


@pytest.mark.parametrize("name", [CRD, POLICY_CRD, *PEERING_CRDS])
def test_chart_crd_is_a_copy_of_the_manifest_crd(name: str) -> None:
    source = (ROOT / "manifests" / "crds" / name).read_text()
    copy = (ROOT / "charts" / "goimage-operator" / "crds" / name).read_text()
    assert copy == source, "run `make crds` to copy manifests/crds into the chart"


def test_every_manifest_crd_is_in_the_chart() -> None:
    manifests = sorted(p.name for p in (ROOT / "manifests" / "crds").glob("*.yaml"))
    chart = sorted(p.name for p in (ROOT / "charts" / "goimage-operator" / "crds").glob("*.yaml"))
    assert manifests == chart == sorted([CRD, POLICY_CRD, *PEERING_CRDS])


def test_policy_crd_names_match_the_api_contract() -> None:
    crd = yaml.safe_load((ROOT / "manifests" / "crds" / POLICY_CRD).read_text())
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "goimagebuildpolicies.goimage.dev"
    assert spec["scope"] == "Cluster"
    assert spec["names"]["kind"] == "GoImageBuildPolicy"
    assert spec["names"]["shortNames"] == ["gibp"]


def test_crd_names_match_the_api_contract() -> None:
    crd = yaml.safe_load((ROOT / "manifests" / "crds" / CRD).read_text())
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "goimagebuilds.goimage.dev"
    assert spec["group"] == "goimage.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "GoImageBuild"
    assert spec["names"]["shortNames"] == ["gib"]
    assert spec["names"]["categories"] == ["builds"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert columns == ["Phase", "Size", "Image", "Age"]


def test_every_example_parses_into_a_build_spec() -> None:
    from goimage.core.spec import parse_spec

    examples = sorted((ROOT / "examples").glob("*/goimagebuild.yaml"))
    assert examples
    for example in examples:
        body = yaml.safe_load(example.read_text())
        assert parse_spec(body["spec"]).output.image, example
