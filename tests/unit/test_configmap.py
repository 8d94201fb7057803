"""build_configmap: the Dockerfile's carrier into the build pod."""

from __future__ import annotations

import yaml
from tests.conftest import Golden
from tests.unit import factories

from goimage.core import configmap, dockerfile


def make() -> dict[str, object]:
    plan = factories.plan({"go.package": "./cmd/gitback"})
    return configmap.build_configmap(
        name=plan.object_name,
        namespace=plan.namespace,
        labels=plan.labels,
        owner=plan.owner,
        dockerfile=dockerfile.render_dockerfile(plan.spec, resource=plan.resource),
    )


def test_configmap_matches_golden(golden: Golden) -> None:
    golden("configmap/default.yaml", yaml.safe_dump(make(), sort_keys=True))


def test_carries_the_rendered_dockerfile() -> None:
    plan = factories.plan({"go.package": "./cmd/gitback"})
    made = make()
    assert made["data"][configmap.DOCKERFILE_KEY] == dockerfile.render_dockerfile(
        plan.spec, resource=plan.resource
    )
    assert configmap.DOCKERFILE_KEY == "Dockerfile"


def test_leaves_the_clones_git_metadata_out_of_the_context() -> None:
    # Kaniko reads <Dockerfile>.dockerignore; without it, `COPY . .` copies .git,
    # which differs on every clone, and no rebuild of the same commit hits the cache.
    ignore = make()["data"]["Dockerfile.dockerignore"]
    patterns = [line for line in ignore.splitlines() if line and not line.startswith("#")]
    assert patterns == [".git"]
    assert set(make()["data"]) == {"Dockerfile", "Dockerfile.dockerignore"}


def test_immutable_named_and_owned_like_the_job() -> None:
    plan = factories.plan()
    made = make()
    assert made["apiVersion"] == "v1"
    assert made["kind"] == "ConfigMap"
    assert made["immutable"] is True
    assert made["metadata"] == {
        "name": "gitback-3",
        "namespace": "team-a",
        "labels": plan.labels,
        "ownerReferences": [
            {
                "apiVersion": "goimage.dev/v1alpha1",
                "kind": "GoImageBuild",
                "name": "gitback",
                "uid": factories.UID,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }


def test_labels_are_copied_not_shared() -> None:
    labels = {"a": "b"}
    made = configmap.build_configmap(
        name="n", namespace="ns", labels=labels, owner={}, dockerfile="FROM scratch\n"
    )
    labels["a"] = "changed"
    assert made["metadata"]["labels"] == {"a": "b"}


def test_a_dockerfile_that_fits_has_no_oversize_message() -> None:
    assert configmap.oversize_message("FROM scratch\n") is None


def test_a_dockerfile_over_what_a_configmap_holds_says_so() -> None:
    message = configmap.oversize_message("LABEL a=" + "x" * configmap.CONFIGMAP_LIMIT_BYTES)
    assert message is not None
    assert "over the 1048576 bytes a ConfigMap holds" in message
    assert "spec.runtime.labels" in message
