"""handlers/first_listing.py: the first listing's build Jobs and Pods go to the operator's
indexes through kopf's own indexing, and never to a kopf worker.

Against kopf's real registry (the operator's handlers), indexers and settings; the
watch stream is a generator of the events kopf's own stream yields. The restart it
serves runs against a real API server in tests/integration/test_pod_release.py.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from typing import Any

import kopf
import pytest
from kopf._cogs.clients import watching
from kopf._cogs.structs import references
from kopf._core.engines import indexing
from tests.unit.test_indexes import as_served, pod_of
from tests.unit.test_slim_watch import through_wrapper
from tests.unit.test_status import job_running, pod_succeeded

import goimage.runner  # noqa: F401  (registers every handler with kopf's default registry)
from goimage.core import kept, naming
from goimage.handlers import first_listing

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


def entries(indexers: indexing.OperatorIndexers, name: str) -> dict[Any, list[Any]]:
    index = indexers.indices[name]
    return {key: list(index[key]) for key in index}


def goimagebuild(**meta: Any) -> dict[str, Any]:
    build = {"apiVersion": naming.API_VERSION, "kind": naming.KIND, **build_job()}
    build["metadata"].update(meta)
    build["metadata"]["labels"] = {"team": "a"}
    return build


BUILDS = references.Resource(group=naming.GROUP, version=naming.VERSION, plural=naming.PLURAL)
GONE = {"deletionTimestamp": "2026-11-28T10:00:00Z"}


@pytest.mark.parametrize(
    ("kind", "obj", "expected"),
    [
        (JOBS, build_job(), first_listing.Disposition.INDEXED),
        (PODS, pod_of(build_job(), pod_succeeded()), first_listing.Disposition.INDEXED),
        (JOBS, resolve_job(), first_listing.Disposition.HANDED),
        (PODS, foreign_pod(), first_listing.Disposition.DROPPED),
        (JOBS, {"metadata": {"name": "bare"}}, first_listing.Disposition.DROPPED),
        (BUILDS, goimagebuild(), first_listing.Disposition.HELD),
        (BUILDS, goimagebuild(**GONE), first_listing.Disposition.HANDED),
    ],
    ids=[
        "build job", "build pod", "resolve job", "foreign pod", "no labels",
        "goimagebuild", "goimagebuild being deleted",
    ],
)  # fmt: skip
def test_what_becomes_of_each_object_of_the_first_listing(
    kind: references.Resource, obj: dict[str, Any], expected: first_listing.Disposition
) -> None:
    assert first_listing.disposition((kind.group, kind.plural), obj) is expected


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


def test_goimagebuilds_are_indexed_then_handed_to_kopf_after_the_listing(
    indexers: indexing.OperatorIndexers,
) -> None:
    builds = [goimagebuild(uid=f"uid-{n}", name=f"b{n}") for n in range(3)]
    gone = goimagebuild(uid="uid-gone", name="gone", **GONE)
    later = {"type": "MODIFIED", "object": copy.deepcopy(builds[0])}
    events = [listed(builds[0]), listed(gone), listed(builds[1]), listed(builds[2])]
    seen = through_wrapper([*events, watching.Bookmark.LISTED, later], BUILDS)
    # The one being deleted at once; the others after the listing, as its events; then the
    # watch's events.
    assert seen == [
        {"type": None, "object": kept.goimagebuild(gone)},
        watching.Bookmark.LISTED,
        *({"type": None, "object": kept.goimagebuild(b)} for b in builds),
        {"type": "MODIFIED", "object": kept.goimagebuild(builds[0])},
    ]
    indexed = entries(indexers, "goimagebuilds")
    assert {key[1] for key in indexed} == {"uid-0", "uid-1", "uid-2"}


def test_at_most_the_limit_of_held_goimagebuilds_are_in_kopfs_hands(
    indexers: indexing.OperatorIndexers,
) -> None:
    """Each handed-back GoImageBuild takes a slot until its handler says it has run."""

    async def scenario() -> list[str]:
        listing = first_listing.FirstListing(BUILDS, kopf.OperatorSettings())
        for n in range(first_listing.FEED_LIMIT + 5):
            assert await listing.take(listed(goimagebuild(uid=f"uid-{n}", name=f"b{n}")))
        handed: list[str] = []

        async def hand_back() -> None:
            async for event in listing.handed_back():
                handed.append(event["object"]["metadata"]["uid"])

        feeding = asyncio.create_task(hand_back())
        await asyncio.sleep(0.1)
        assert len(handed) == first_listing.FEED_LIMIT  # no slot for the next one
        for uid in handed[:3]:
            first_listing.handled(uid)  # as reconcile_build does, from its thread
        first_listing.handled("not-held")  # frees nothing
        await asyncio.sleep(0.1)
        assert len(handed) == first_listing.FEED_LIMIT + 3
        for uid in handed[3:]:
            first_listing.handled(uid)
        await asyncio.wait_for(feeding, timeout=5)
        return handed

    handed = asyncio.run(scenario())
    assert handed == [f"uid-{n}" for n in range(first_listing.FEED_LIMIT + 5)]


def test_a_slot_whose_handler_never_says_so_frees_after_the_patience() -> None:
    async def scenario() -> int:
        feed = first_listing.Feed(limit=1, patience_s=0.05)
        await feed.take_slot("a")
        await asyncio.wait_for(feed.take_slot("b"), timeout=2)  # "a" never handled
        return len(feed)

    assert asyncio.run(scenario()) == 1
