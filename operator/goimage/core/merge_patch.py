"""JSON merge patch (RFC 7386): what an object becomes once the API server applies a patch.

The operator writes every status as a merge patch (fields set to None are
removed) and keeps what it wrote; this is how it knows what it wrote.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def apply_merge_patch(target: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """`target` with `patch` applied, as RFC 7386's MergePatch(target, patch).

    A None in the patch removes the key; an object merges into the target's
    object (or into an empty one, when the target has none there); anything
    else, lists included, replaces the target's value whole. A new object,
    which shares nothing with either argument: neither is changed later
    through it.
    """
    result = copy.deepcopy(dict(target))
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping):
            nested = result.get(key)
            result[key] = apply_merge_patch(nested if isinstance(nested, Mapping) else {}, value)
        else:
            result[key] = copy.deepcopy(value)
    return result
