"""naming: deterministic child names within Kubernetes' limits, one label prefix."""

from __future__ import annotations

import re

import pytest

from goimage.core import naming

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def test_build_id_is_the_generation() -> None:
    assert naming.build_id(3, "") == "3"


def test_build_id_with_rebuild_token_is_stable_and_distinct() -> None:
    first = naming.build_id(3, "2025-11-20T10:00")
    assert first == naming.build_id(3, "2025-11-20T10:00")
    assert re.fullmatch(r"3-[0-9a-f]{6}", first)
    assert first != naming.build_id(3, "2025-11-20T10:01")
    assert first != naming.build_id(4, "2025-11-20T10:00")


def test_short_names_are_readable() -> None:
    assert naming.build_object_name("gitback", "3") == "gitback-3"
    assert naming.build_object_name("gitback", "3-abcdef") == "gitback-3-abcdef"


@pytest.mark.parametrize("length", [55, 60, 61, 62, 63, 64, 100, 253])
def test_long_names_fit_a_label_and_stay_unique(length: int) -> None:
    name = ("a" * (length - 1)) + "b"
    other = ("a" * (length - 1)) + "c"
    for build in ("3", "12-abcdef"):
        made = naming.build_object_name(name, build)
        assert len(made) <= 63
        assert DNS_LABEL.match(made), made
        assert made.endswith(f"-{build}")
        assert made == naming.build_object_name(name, build)
        assert made != naming.build_object_name(other, build)


def test_truncation_does_not_leave_a_dash_before_the_hash() -> None:
    name = "my-app-" + "-" * 60 + "x"
    assert re.fullmatch(r"my-app-[0-9a-f]{8}-3", naming.build_object_name(name, "3"))


@pytest.mark.parametrize("length", [1, 63, 64, 200])
def test_label_value(length: int) -> None:
    text = "n" * length
    value = naming.label_value(text)
    assert len(value) <= 63
    assert LABEL_VALUE.match(value)
    if length <= 63:
        assert value == text
    else:
        assert value != naming.label_value(text + "x")


def test_child_labels_link_to_the_resource() -> None:
    labels = naming.child_labels("gitback", "uid-1", 3, "3-abcdef")
    assert labels == {
        "app.kubernetes.io/managed-by": "goimage-operator",
        "app.kubernetes.io/component": "build",
        "goimage.dev/goimagebuild": "gitback",
        "goimage.dev/goimagebuild-uid": "uid-1",
        "goimage.dev/generation": "3",
        "goimage.dev/build-id": "3-abcdef",
    }
    assert all(LABEL_VALUE.match(v) for v in labels.values())


def test_own_keys_share_one_prefix() -> None:
    keys = [
        naming.LABEL_BUILD_NAME,
        naming.LABEL_BUILD_UID,
        naming.LABEL_GENERATION,
        naming.LABEL_BUILD_ID,
        naming.ANNOTATION_REBUILD,
        naming.ANNOTATION_IMAGE,
        naming.ANNOTATION_TAGS,
        naming.ANNOTATION_MAX_SIZE,
    ]
    assert all(key.startswith("goimage.dev/") for key in keys)
    assert len(set(keys)) == len(keys)


def test_owner_selector_matches_child_labels() -> None:
    name = "x" * 80
    key, _, value = naming.owner_selector(name).partition("=")
    assert naming.child_labels(name, "u", 1, "1")[key] == value


def test_owner_reference_is_the_controller() -> None:
    assert naming.owner_reference("gitback", "uid-1") == {
        "apiVersion": "goimage.dev/v1alpha1",
        "kind": "GoImageBuild",
        "name": "gitback",
        "uid": "uid-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }


@pytest.mark.parametrize(
    ("annotations", "token"),
    [(None, ""), ({}, ""), ({"other": "x"}, ""), ({"goimage.dev/rebuild": "now"}, "now")],
)
def test_rebuild_token(annotations: dict[str, str] | None, token: str) -> None:
    assert naming.rebuild_token(annotations) == token
