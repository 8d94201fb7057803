"""New GoImageBuilds reach kopf a few at a time: a burst waits here, not in kopf.

Why: kopf gives every object it sees a worker, and every event of it a place
in that worker's queue; each worker then waits for a handler thread with its
body, patch, loggers and the handler's arguments made. When 1,000
GoImageBuilds are applied at once, kopf held all of them (and soon their Jobs'
and Pods' events) while 20 threads worked through them: the operator's memory
peaked at 186 MiB, where the same 1,000 builds applied slower, so that it kept
up, peaked at 130 MiB (`make bench`). Python's allocator keeps such a peak.

So, after a GoImageBuild stream's first listing (`handlers.first_listing`), an
event of a GoImageBuild that kopf has not seen yet is handed to kopf only when
one of the operator's `first_listing.Feed` slots is free (at most
`first_listing.FEED_LIMIT` new builds in kopf's hands; a slot frees when the
build's handler has run, or after the feed's patience). Until then it waits
here as compact JSON, only its newest event, in the order the builds came.
Everything else passes at once: events of builds kopf has seen, deletions, a
build being deleted. A build's status stays empty while it waits, seconds in
a burst; nothing is lost: a watch restarted lists every build again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from goimage.handlers import first_listing


def _uid(event: Any) -> str | None:
    if not isinstance(event, dict):
        return None
    obj = event.get("object")
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return str(meta.get("uid")) if isinstance(meta, Mapping) and meta.get("uid") else None


class Intake:
    """One GoImageBuild watch stream's builds: those kopf has seen, and those waiting."""

    def __init__(self) -> None:
        self.known: set[str] = set()
        self.held: dict[str, str] = {}  # uid -> its newest event, compact JSON; first come first

    def seen(self, event: Any) -> None:
        """`event` went to kopf by another way (the first listing): kopf knows its build."""
        uid = _uid(event)
        if uid is not None and event.get("type") != "DELETED":
            self.known.add(uid)

    def admit(self, event: Any) -> bool:
        """True when kopf may have `event` now; False when it waits here."""
        uid = _uid(event)
        if uid is None:
            return True  # a bookmark, kopf's markers
        if event.get("type") == "DELETED":
            self.known.discard(uid)
            self.held.pop(uid, None)
            return True
        if uid in self.known:
            return True
        if uid in self.held:
            self.held[uid] = json.dumps(event, separators=(",", ":"))  # keeps its place
            return False
        deleting = bool(event["object"]["metadata"].get("deletionTimestamp"))
        if deleting or (not self.held and first_listing.feed().try_take(uid)):
            self.known.add(uid)
            return True
        self.held[uid] = json.dumps(event, separators=(",", ":"))
        return False

    def release(self) -> list[dict[str, Any]]:
        """The waiting events that have a slot now, in the order their builds came."""
        released: list[dict[str, Any]] = []
        slots = first_listing.feed()
        while self.held:
            uid = next(iter(self.held))
            if not slots.try_take(uid):
                break
            self.known.add(uid)
            released.append(json.loads(self.held.pop(uid)))
        return released


async def merged(source: AsyncIterator[Any], intake: Intake) -> AsyncIterator[tuple[Any, bool]]:
    """`source`'s events, (event, False), and the intake's waiting events as slots free,
    (event, True): a slot can free while the stream is quiet."""
    pending: asyncio.Future[Any] | None = None
    try:
        while True:
            for event in intake.release():
                yield event, True
            if pending is None and not intake.held:
                # Nothing waits for a slot (the usual case): the stream's next event,
                # without a task and a race per event.
                try:
                    event = await anext(source)
                except StopAsyncIteration:
                    return
                yield event, False
                continue
            if pending is None:
                pending = asyncio.ensure_future(anext(source))
            waits: set[asyncio.Future[Any]] = {pending}
            wake: asyncio.Future[Any] | None = None
            if intake.held:
                freed = first_listing.feed().freed
                freed.clear()  # release() found no slot: wait for the next one freed
                wake = asyncio.ensure_future(freed.wait())
                waits.add(wake)
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if wake is not None and not wake.done():
                wake.cancel()
            if pending.done():
                done, pending = pending, None
                try:
                    event = done.result()
                except StopAsyncIteration:
                    return
                yield event, False
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending  # the source's own cleanup (its response closed) runs first
