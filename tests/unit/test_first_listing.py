"""handlers/first_listing.py: the first listing's build Jobs and Pods go to the operator's
indexes through kopf's own indexing, and never to a kopf worker.

Against kopf's real registry (the operator's handlers), indexers and settings; the
watch stream is a generator of the events kopf's own stream yields. The restart it
serves runs against a real API server in tests/integration/test_pod_release.py.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Iterator
from typing import Any

import kopf
import pytest
from kopf._cogs.clients import watching
from kopf._cogs.structs import references
from kopf._core.engines import indexing
from tests.unit.test_indexes import as_served, pod_of
from tests.unit.test_status import job_running, pod_succeeded

import goimage.runner  # noqa: F401  (registers every handler with kopf's default registry)
from goimage.core import kept, naming
from goimage.handlers import first_listing, slim_watch

JOBS = references.Resource(group="batch", version="v1", plural="jobs")
PODS = references.Resource(group="", version="v1", plural="pods")


@pytest.fixture
def indexers() -> Iterator[indexing.OperatorIndexers]:
    """The operator's indexers, attached as the runner attaches them."""
    registry = kopf.get_default_registry()
    indexers = indexing.OperatorIndexers()
    indexers.ensure(registry._indexing.get_all_handlers())
    first_listing.attach(first_listing.Target(indexers=indexers, registry=registry, memo=None))
    yield indexers
    first_listing.attach(None)


def build_job() -> dict[str, Any]:
    return as_served(job_running())


def resolve_job() -> dict[str, Any]:
    job = build_job()
    job["metadata"]["labels"][naming.LABEL_COMPONENT] = naming.COMPONENT_RESOLVE
    return job


def foreign_pod() -> dict[str, Any]:
    pod = pod_of(build_job(), pod_succeeded())
    pod["metadata"]["labels"] = {"app": "web"}
    return pod


def listed(obj: dict[str, Any]) -> dict[str, Any]:
    return {"type": None, "object": copy.deepcopy(obj)}


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


def entries(indexers: indexing.OperatorIndexers, name: str) -> dict[Any, list[Any]]:
    index = indexers.indices[name]
    return {key: list(index[key]) for key in index}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (build_job(), first_listing.Disposition.INDEXED),
        (pod_of(build_job(), pod_succeeded()), first_listing.Disposition.INDEXED),
        (resolve_job(), first_listing.Disposition.HANDED),
        (foreign_pod(), first_listing.Disposition.DROPPED),
        ({"metadata": {"name": "bare"}}, first_listing.Disposition.DROPPED),
    ],
    ids=["build job", "build pod", "resolve job", "foreign pod", "no labels"],
)
def test_what_becomes_of_each_object_of_the_first_listing(
    obj: dict[str, Any], expected: first_listing.Disposition
) -> None:
    assert first_listing.disposition(obj) is expected


def test_the_first_listings_build_objects_are_indexed_and_never_reach_kopf(
    indexers: indexing.OperatorIndexers,
) -> None:
    job = build_job()
    pod = pod_of(job, pod_succeeded())
    later = {"type": "MODIFIED", "object": copy.deepcopy(job)}
    relisted = listed(job)  # a later listing (a lost watch, a standby resuming)
    seen = through_wrapper(
        [listed(job), listed(resolve_job()), watching.Bookmark.LISTED, later, relisted], JOBS
    )
    assert seen == [
        {"type": None, "object": kept.job(resolve_job())},
        watching.Bookmark.LISTED,
        {"type": "MODIFIED", "object": kept.job(job)},
        {"type": None, "object": kept.job(job)},
    ]
    meta = job["metadata"]
    owner = meta["labels"][naming.LABEL_BUILD_UID]
    [indexed_job] = entries(indexers, "build_jobs")[(meta["namespace"], owner)]
    assert indexed_job["metadata"]["uid"] == meta["uid"]
    assert "managedFields" not in indexed_job["metadata"]

    assert through_wrapper(
        [listed(pod), listed(foreign_pod()), watching.Bookmark.LISTED], PODS
    ) == [watching.Bookmark.LISTED]
    [indexed_pod] = entries(indexers, "build_pods")[(meta["namespace"], meta["uid"])]
    assert indexed_pod["metadata"]["name"] == pod["metadata"]["name"]
    assert len(entries(indexers, "build_pods")) == 1  # the foreign pod: nowhere


def test_without_the_operators_indexers_every_event_reaches_kopf() -> None:
    job = build_job()
    seen = through_wrapper([listed(job), watching.Bookmark.LISTED], JOBS)
    assert seen == [{"type": None, "object": kept.job(job)}, watching.Bookmark.LISTED]


def test_other_kinds_are_never_taken(indexers: indexing.OperatorIndexers) -> None:
    build = {"apiVersion": naming.API_VERSION, "kind": naming.KIND, **build_job()}
    goimagebuilds = references.Resource(
        group=naming.GROUP, version=naming.VERSION, plural=naming.PLURAL
    )
    [first, _] = through_wrapper([listed(build), watching.Bookmark.LISTED], goimagebuilds)
    assert first == {"type": None, "object": kept.goimagebuild(build)}
