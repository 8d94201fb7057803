"""The operator's first listing: every object indexed at once, few of them in kopf's hands.

Why: at start, kopf gives every listed object a worker task that holds its
event, a memory record and loggers until every object of every indexed kind
is indexed (so that no handler runs on half an index). Among 10,000 finished
builds (30,000 objects) that was the restart's memory peak: 1.2 GiB.

So the watch-stream wrapper (`handlers.slim_watch`) hands each object of the
first listing of these kinds here, and each is indexed by kopf's own indexing
(the same index handlers, filters and error handling as in kopf's worker):

- A build's Job or Pod is only indexed: kopf never sees that event. What its
  event handler would do on seeing it again (the status of a build that ended
  while the operator was away, the release of a finished pod) its
  GoImageBuild's create/update/resume handler does from the indexes
  (`handlers.build_status.catch_up`).
- A Job or Pod without the operator's managed-by label is dropped: no handler
  of the operator acts on it (kopf watches every Job and Pod of the cluster,
  and applies its label filters only after it has queued them).
- A resolve Job or Pod is handed to kopf as any event: its handler reads a
  private repository's commit that may have come while the operator was away.
- A GoImageBuild is indexed and held, as compact JSON, until its kind's
  listing is over; then the held ones are handed to kopf (as the listing's
  events they are: kopf resumes each) at most `FEED_LIMIT` at a time, each
  slot freed when that GoImageBuild's handler has run (`handled`) or after
  `FEED_PATIENCE_S`. One being deleted is handed to kopf at once.

Later listings (after a watch is lost, or when a standby replica resumes) pass
to kopf as before: by then kopf's workers no longer wait for the indexes.
`attach()` (the runner, before `kopf.run`) hands over the operator's indexers;
until then every event passes to kopf.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

from kopf._cogs.configs import configuration
from kopf._cogs.structs import bodies, references
from kopf._core.actions import loggers
from kopf._core.engines import indexing
from kopf._core.intents import registries

from goimage.core import naming

# (group, plural) of the kinds whose first listing is indexed here.
CHILDREN = frozenset({("batch", "jobs"), ("", "pods")})
BUILDS = (naming.GROUP, naming.PLURAL)
KINDS = CHILDREN | {BUILDS}
# GoImageBuilds new to kopf (held by the first listing, or by handlers.build_intake)
# in its hands at once, and how long one may keep its slot without its handler having
# run (one kopf skips, for instance). 1,000 applied at once (`make bench`): with 50,
# 142 MiB peak and every Job after 72 s; 100: 155 MiB, 58 s; no limit: 186 MiB, 47 s.
FEED_LIMIT = 50
FEED_PATIENCE_S = 5.0


class Disposition(enum.Enum):
    INDEXED = "indexed"  # a build's Job or Pod: indexed here, kopf never sees it
    HELD = "held"  # a GoImageBuild: indexed here, handed to kopf after the listing
    DROPPED = "dropped"  # not the operator's: no handler would act on it
    HANDED = "handed"  # to kopf, as any event


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the first listing is indexed: the operator's own indexers and registry."""

    indexers: indexing.OperatorIndexers
    registry: registries.OperatorRegistry
    memo: Any


class Feed:
    """Slots for GoImageBuilds in kopf's hands (held ones of the first listing, and new
    ones later: `handlers.build_intake`); made on the event loop, freed from handler
    threads."""

    def __init__(self, limit: int = FEED_LIMIT, patience_s: float = FEED_PATIENCE_S) -> None:
        self._loop = asyncio.get_running_loop()
        self._free_slots = limit
        self._patience_s = patience_s
        self._out: dict[str, asyncio.TimerHandle] = {}
        # Set whenever a slot frees: what waits for one clears it, then waits.
        self.freed = asyncio.Event()

    def try_take(self, uid: str) -> bool:
        """A slot for `uid` if one is free now (or `uid` holds one already)."""
        if uid in self._out:
            return True
        if self._free_slots <= 0:
            return False
        self._free_slots -= 1
        self._out[uid] = self._loop.call_later(self._patience_s, self._free, uid)
        return True

    async def take_slot(self, uid: str) -> None:
        while not self.try_take(uid):
            self.freed.clear()
            await self.freed.wait()

    def handled(self, uid: str) -> None:
        """`uid`'s handler has run (any thread): its slot, if it holds one, is free."""
        self._loop.call_soon_threadsafe(self._free, uid)

    def _free(self, uid: str) -> None:
        timer = self._out.pop(uid, None)
        if timer is not None:
            timer.cancel()
            self._free_slots += 1
            self.freed.set()

    def __len__(self) -> int:
        return len(self._out)


_target: Target | None = None
_feed: Feed | None = None


def attach(target: Target | None) -> None:
    """Index the first listing into `target` from now on (None: pass every event to kopf)."""
    global _target, _feed
    _target, _feed = target, None


def attached() -> bool:
    """Whether the runner has attached the operator's indexers (it runs the operator)."""
    return _target is not None


def feed() -> Feed:
    """The operator's one Feed (made on first use, on the event loop)."""
    global _feed
    if _feed is None:
        _feed = Feed()
    return _feed


def handled(uid: str) -> None:
    """A GoImageBuild's change handler has run: a held one's slot frees (see `Feed`)."""
    feed = _feed
    if feed is not None:
        feed.handled(uid)


def disposition(kind: tuple[str, str], obj: Mapping[str, Any]) -> Disposition:
    """What becomes of an object of the first listing, by its kind and labels."""
    meta = obj.get("metadata") or {}
    if kind == BUILDS:
        return Disposition.HANDED if meta.get("deletionTimestamp") else Disposition.HELD
    labels = meta.get("labels") or {}
    if labels.get(naming.LABEL_MANAGED_BY) != naming.MANAGED_BY:
        return Disposition.DROPPED
    if labels.get(naming.LABEL_COMPONENT) == naming.COMPONENT_BUILD:
        return Disposition.INDEXED
    return Disposition.HANDED


class FirstListing:
    """One watch stream's first listing (one kind, in one namespace or cluster-wide)."""

    def __init__(
        self, resource: references.Resource, settings: configuration.OperatorSettings
    ) -> None:
        self.resource = resource
        self.settings = settings
        self.kind = (resource.group, resource.plural)
        # uid -> the held GoImageBuild as compact JSON (a quarter of it decoded); by uid,
        # so that a listing restarted halfway holds each once.
        self.held: dict[str, str] = {}

    async def take(self, event: Any) -> bool:
        """True when `event` was indexed here (and held, or dropped): kopf must not see it
        now. False for anything kopf should handle as usual."""
        target = _target
        if target is None or not isinstance(event, dict) or event.get("type") is not None:
            return False
        obj = event.get("object")
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
            return False
        what = disposition(self.kind, obj)
        if what is Disposition.HANDED:
            return False
        if what is not Disposition.DROPPED:
            await self._index(target, event, obj)
        if what is Disposition.HELD:
            self.held[str(obj["metadata"].get("uid"))] = json.dumps(obj, separators=(",", ":"))
        return True

    async def handed_back(self) -> AsyncIterator[dict[str, Any]]:
        """The held GoImageBuilds as the listing's events, each once a slot is free."""
        if not self.held:
            return
        slots = feed()
        while self.held:
            uid = next(iter(self.held))
            obj = json.loads(self.held.pop(uid))
            await slots.take_slot(uid)
            yield {"type": None, "object": obj}

    async def _index(self, target: Target, event: dict[str, Any], obj: dict[str, Any]) -> None:
        body = bodies.Body(cast(bodies.RawBody, obj))
        await indexing.index_resource(
            indexers=target.indexers,
            registry=target.registry,
            settings=self.settings,
            resource=self.resource,
            raw_event=cast(bodies.RawEvent, event),
            memory=indexing.IndexingMemory(),
            logger=loggers.TerseObjectLogger(body=body, settings=self.settings),
            memo=target.memo,
            body=body,
        )
