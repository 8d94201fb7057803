"""apply_merge_patch: RFC 7386, as the API server applies a status patch.

The table is RFC 7386's own appendix A (every example whose target and patch
are objects, the shape of a status patch), then the cases the status writes
rely on.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from goimage.core.merge_patch import apply_merge_patch

RFC_7386_APPENDIX_A = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC_7386_APPENDIX_A)
def test_rfc_7386_examples(
    target: dict[str, Any], patch: dict[str, Any], result: dict[str, Any]
) -> None:
    assert apply_merge_patch(target, patch) == result


def test_an_empty_patch_changes_nothing() -> None:
    status = {"phase": "Succeeded", "lastSuccessful": {"digest": "sha256:1"}}
    assert apply_merge_patch(status, {}) == status


def test_a_list_replaces_the_whole_list() -> None:
    # conditions and tags are lists: a patch writes all of them, never merges by index
    status = {"tags": ["a", "b", "c"], "conditions": [{"type": "Ready"}, {"type": "Stalled"}]}
    patch = {"tags": ["d"], "conditions": [{"type": "Ready", "status": "True"}]}
    assert apply_merge_patch(status, patch) == patch


def test_an_object_merges_key_by_key() -> None:
    status = {"lastSuccessful": {"digest": "sha256:1", "generation": 1, "size": 10}}
    patch = {"lastSuccessful": {"digest": "sha256:2", "size": None}}
    assert apply_merge_patch(status, patch) == {
        "lastSuccessful": {"digest": "sha256:2", "generation": 1}
    }


def test_an_object_over_a_scalar_drops_its_nulls() -> None:
    # MergePatch(non-object, patch) merges into {}: a null inside never lands as a value
    assert apply_merge_patch({"failure": "x"}, {"failure": {"reason": "R", "gone": None}}) == {
        "failure": {"reason": "R"}
    }


def test_removing_a_missing_key_is_no_error() -> None:
    assert apply_merge_patch({"phase": "Pending"}, {"digest": None}) == {"phase": "Pending"}


def test_neither_argument_changes_nor_is_shared_with_the_result() -> None:
    status = {"lastSuccessful": {"digest": "sha256:1"}, "tags": ["a"]}
    patch = {"conditions": [{"type": "Ready"}], "lastSuccessful": {"size": 1}}
    before = (copy.deepcopy(status), copy.deepcopy(patch))
    result = apply_merge_patch(status, patch)
    assert (status, patch) == before
    result["tags"].append("b")
    result["conditions"][0]["status"] = "True"
    result["lastSuccessful"]["digest"] = "sha256:2"
    assert (status, patch) == before
