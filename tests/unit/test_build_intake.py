"""handlers/build_intake.py: GoImageBuilds new to kopf reach it a few at a time.

Through the operator's real stream wrapper (handlers/slim_watch.py) with the
operator's indexers attached as the runner attaches them; the stream is a
generator of the events kopf's own watch yields. The burst it serves is
measured by `make bench` (1,000 GoImageBuilds at once, against a real API
server); every integration test that starts the operator runs through it.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import kopf
from kopf._cogs.clients import watching
from kopf._core.engines import indexing
from tests.unit.test_first_listing import BUILDS, GONE, goimagebuild, indexers, listed

from goimage.core import kept
from goimage.handlers import build_intake, first_listing, slim_watch

__all__ = ["indexers"]  # the fixture, used by name

LIMIT = first_listing.FEED_LIMIT


def added(n: int, kind: str = "ADDED", **meta: Any) -> dict[str, Any]:
    return {"type": kind, "object": goimagebuild(uid=f"uid-{n}", name=f"b{n}", **meta)}


def uid_of(event: Any) -> str:
    return str(event["object"]["metadata"]["uid"])


class Stream:
    """kopf's watch stream: the given events, then quiet until closed."""

    def __init__(self, events: list[Any]) -> None:
        self.events = [copy.deepcopy(event) for event in events]
        self.more: asyncio.Queue[Any] = asyncio.Queue()

    async def __call__(self, **_: Any) -> AsyncIterator[Any]:
        for event in self.events:
            yield event
        while True:
            yield await self.more.get()


async def receive(seen: list[Any], wrapped: AsyncIterator[Any]) -> None:
    async for event in wrapped:
        seen.append(event)


def wrapper(stream: Stream) -> AsyncIterator[Any]:
    wrapped = slim_watch._wrap(stream)
    return wrapped(resource=BUILDS, settings=kopf.OperatorSettings(), namespace=None)


def test_a_burst_reaches_kopf_as_slots_free(indexers: indexing.OperatorIndexers) -> None:
    burst = [added(n) for n in range(LIMIT + 10)]

    async def scenario() -> None:
        stream = Stream([watching.Bookmark.LISTED, *burst])
        seen: list[Any] = []
        task = asyncio.create_task(receive(seen, wrapper(stream)))
        await asyncio.sleep(0.1)
        # The listing's marker, then as many new builds as there are slots.
        assert seen[0] is watching.Bookmark.LISTED
        assert [uid_of(e) for e in seen[1:]] == [f"uid-{n}" for n in range(LIMIT)]
        # A later event of a build kopf has: at once. Of a waiting one: replaces it.
        await stream.more.put(added(0, "MODIFIED"))
        await stream.more.put(added(LIMIT + 1, "MODIFIED"))
        await asyncio.sleep(0.1)
        assert seen[-1] == {"type": "MODIFIED", "object": kept.goimagebuild(burst[0]["object"])}
        # Handlers run (from their threads), while the stream is quiet: the next ones come,
        # in the order they were applied, each with its newest event.
        for n in range(3):
            first_listing.handled(f"uid-{n}")
        await asyncio.sleep(0.1)
        assert [uid_of(e) for e in seen[-3:]] == [f"uid-{LIMIT + n}" for n in range(3)]
        assert [e["type"] for e in seen[-3:]] == ["ADDED", "MODIFIED", "ADDED"]
        task.cancel()

    asyncio.run(scenario())


def test_deletions_pass_and_a_deleted_waiting_build_is_forgotten(
    indexers: indexing.OperatorIndexers,
) -> None:
    async def scenario() -> list[Any]:
        full = [added(n) for n in range(LIMIT)]
        stream = Stream([watching.Bookmark.LISTED, *full, added(LIMIT), added(LIMIT + 1)])
        seen: list[Any] = []
        task = asyncio.create_task(receive(seen, wrapper(stream)))
        await asyncio.sleep(0.1)
        assert len(seen) == 1 + LIMIT
        # Being deleted: kopf must see it now (its finalizers, if any, wait for it).
        await stream.more.put(added(LIMIT + 2, "MODIFIED", **GONE))
        # A waiting build deleted: the deletion passes, its waiting event is dropped.
        await stream.more.put(added(LIMIT, "DELETED"))
        await asyncio.sleep(0.1)
        first_listing.handled("uid-0")
        await asyncio.sleep(0.1)
        task.cancel()
        return seen[1 + LIMIT :]

    later = asyncio.run(scenario())
    assert [(e["type"], uid_of(e)) for e in later] == [
        ("MODIFIED", f"uid-{LIMIT + 2}"),
        ("DELETED", f"uid-{LIMIT}"),
        ("ADDED", f"uid-{LIMIT + 1}"),
    ]


def test_the_first_listings_builds_are_known_and_later_events_of_them_pass(
    indexers: indexing.OperatorIndexers,
) -> None:
    """The first listing hands its builds over through the same slots; a build it handed
    over is not held again when its next event comes."""

    async def scenario() -> list[Any]:
        stream = Stream([listed(goimagebuild(uid="uid-old", name="old")), watching.Bookmark.LISTED])
        seen: list[Any] = []
        task = asyncio.create_task(receive(seen, wrapper(stream)))
        await asyncio.sleep(0.1)
        for n in range(LIMIT):  # every slot taken by new builds, the old one's still held
            await stream.more.put(added(n))
        await stream.more.put({"type": "MODIFIED", "object": goimagebuild(uid="uid-old")})
        await asyncio.sleep(0.1)
        task.cancel()
        return seen

    seen = asyncio.run(scenario())
    assert seen[0] is watching.Bookmark.LISTED
    assert (seen[1]["type"], uid_of(seen[1])) == (None, "uid-old")
    assert len(seen) == 2 + (LIMIT - 1) + 1
    assert (seen[-1]["type"], uid_of(seen[-1])) == ("MODIFIED", "uid-old")


def test_a_stream_ending_ends_the_merge_and_its_errors_pass() -> None:
    async def ending(**_: Any) -> AsyncIterator[Any]:
        yield {"type": "ADDED", "object": {"metadata": {"uid": "u"}}}

    async def failing(**_: Any) -> AsyncIterator[Any]:
        yield watching.Bookmark.LISTED
        raise RuntimeError("the API server went away")

    async def scenario() -> tuple[list[Any], str]:
        first_listing.attach(None)
        intake = build_intake.Intake()
        intake.known.add("u")
        done = [event async for event in build_intake.merged(ending(), intake)]
        try:
            async for _ in build_intake.merged(failing(), build_intake.Intake()):
                pass
        except RuntimeError as error:
            return done, str(error)
        return done, ""

    done, error = asyncio.run(scenario())
    assert done == [({"type": "ADDED", "object": {"metadata": {"uid": "u"}}}, False)]
    assert error == "the API server went away"


def test_without_the_operators_indexers_nothing_waits() -> None:
    """Outside the operator's runner (no indexers attached) the stream is kopf's own."""
    first_listing.attach(None)
    events = [watching.Bookmark.LISTED, *(added(n) for n in range(LIMIT + 5))]

    async def scenario() -> list[Any]:
        async def stream(**_: Any) -> AsyncIterator[Any]:
            for event in events:
                yield copy.deepcopy(event)

        wrapped = slim_watch._wrap(stream)
        settings = kopf.OperatorSettings()
        return [e async for e in wrapped(resource=BUILDS, settings=settings, namespace=None)]

    assert len(asyncio.run(scenario())) == len(events)
