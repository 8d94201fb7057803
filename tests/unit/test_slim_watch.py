"""handlers/slim_watch.py: kopf's watch stream hands kopf the kept views of our kinds.

The stream wrapped here is a generator of the events kopf's own stream yields
(its markers included); the wrapper against a real API server runs in every
integration test that starts the operator (tests/integration/test_operator.py).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import kopf
from kopf._cogs.clients import watching
from kopf._cogs.structs import references
from tests.unit.test_indexes import as_served, pod_of
from tests.unit.test_status import job_running, pod_succeeded

from goimage.core import kept, naming
from goimage.handlers import slim_watch


def resource(group: str, plural: str) -> references.Resource:
    return references.Resource(group=group, version="v1", plural=plural)


def events_of(obj: dict[str, Any]) -> list[Any]:
    return [
        {"type": None, "object": copy.deepcopy(obj)},  # from the first list
        watching.Bookmark.LISTED,
        {"type": "MODIFIED", "object": copy.deepcopy(obj)},
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "7"}}},
    ]


def through_wrapper(events: list[Any], kind: references.Resource) -> list[Any]:
    """What kopf's watcher receives of `events` through the operator's stream wrapper."""

    async def stream(**_: Any) -> AsyncIterator[Any]:
        for event in events:
            yield event

    async def collect() -> list[Any]:
        wrapped = slim_watch._wrap(stream)
        settings = kopf.OperatorSettings()
        return [e async for e in wrapped(resource=kind, settings=settings, namespace=None)]

    return asyncio.run(collect())


def test_kopf_is_patched() -> None:
    assert slim_watch.SLIMMED
    assert watching.infinite_watch.__wrapped__ is not None  # type: ignore[attr-defined]
    assert slim_watch.patch_kopf()  # a second call changes nothing


def test_a_build_pods_events_carry_its_kept_view_and_markers_pass() -> None:
    pod = pod_of(as_served(job_running()), pod_succeeded())
    seen = through_wrapper(events_of(pod), resource("", "pods"))
    assert seen[0] == {"type": None, "object": kept.pod(pod)}
    assert seen[1] is watching.Bookmark.LISTED
    assert seen[2] == {"type": "MODIFIED", "object": kept.pod(pod)}
    assert seen[3] == {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "7"}}}
    assert "managedFields" not in seen[0]["object"]["metadata"]


def test_other_kinds_pass_whole() -> None:
    namespace = {"metadata": {"name": "team-a", "managedFields": [{"manager": "x"}]}}
    seen = through_wrapper(events_of(namespace), resource("", "namespaces"))
    assert seen[0]["object"] == namespace


def test_goimagebuilds_and_jobs_are_kept_by_their_own_rules() -> None:
    job = as_served(job_running())
    [first, *_] = through_wrapper(events_of(job), resource("batch", "jobs"))
    assert first["object"] == kept.job(job)
    build = {"apiVersion": naming.API_VERSION, "kind": naming.KIND, **as_served(job_running())}
    [first, *_] = through_wrapper(events_of(build), resource(naming.GROUP, naming.PLURAL))
    assert first["object"] == kept.goimagebuild(build)
