"""The CRD has one source of truth, manifests/crds; the chart carries a copy."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CRD = "goimage.dev_goimagebuilds.yaml"


def test_chart_crd_is_a_copy_of_the_manifest_crd() -> None:
    source = (ROOT / "manifests" / "crds" / CRD).read_text()
    copy = (ROOT / "charts" / "goimage-operator" / "crds" / CRD).read_text()
    assert copy == source, "run `make crds` to copy manifests/crds into the chart"


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
