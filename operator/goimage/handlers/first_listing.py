"""The build Jobs and Pods of the operator's first listing, indexed without a kopf worker.

Why: at start, kopf gives every listed object a worker task that holds its
event, a memory record and loggers until every object of every indexed kind
is indexed (so that no handler runs on half an index). Among 1,000 finished
builds that was about half of the restart's peak memory, and two thirds of the
objects are build Jobs and Pods. Those only need to be in the indexes before
any handler runs; what their event handlers would do on seeing them again (the
status of a build that ended while the operator was away, the release of a
finished pod) their GoImageBuild's resume handler does from the indexes
(`handlers.build_status.catch_up`), and kopf runs it only once every index is
full.

So the watch-stream wrapper (`handlers.slim_watch`) hands each Job and Pod of
the first listing here. A build's is indexed by kopf's own indexing (the same
index handlers, filters and error handling as in kopf's worker) and kopf never
sees the event. One without the operator's managed-by label is dropped: no
handler of the operator acts on it (kopf watches every Job and Pod of the
cluster; its label filters are applied after it has queued them). A resolve
Job or Pod passes to kopf: its handler reads a private repository's commit
that may have come while the operator was away.

Later listings (after a watch is lost, or when a standby replica resumes) pass
to kopf as before: by then kopf's workers no longer wait for the indexes.

`attach()` (the runner, before `kopf.run`) hands over the operator's indexers;
until then every event passes to kopf.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any, cast

from kopf._cogs.configs import configuration
from kopf._cogs.structs import bodies, references
from kopf._core.actions import loggers
from kopf._core.engines import indexing
from kopf._core.intents import registries

from goimage.core import naming

# (group, plural) of the kinds whose first listing is indexed here.
KINDS = frozenset({("batch", "jobs"), ("", "pods")})


class Disposition(enum.Enum):
    INDEXED = "indexed"  # a build's Job or Pod: indexed here, kopf never sees it
    DROPPED = "dropped"  # not the operator's: no handler would act on it
    HANDED = "handed"  # to kopf, as any event


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the first listing is indexed: the operator's own indexers and registry."""

    indexers: indexing.OperatorIndexers
    registry: registries.OperatorRegistry
    memo: Any


_target: Target | None = None


def attach(target: Target | None) -> None:
    """Index the first listing into `target` from now on (None: pass every event to kopf)."""
    global _target
    _target = target


def disposition(obj: Mapping[str, Any]) -> Disposition:
    """What becomes of a Job or Pod of the first listing, by its labels."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if labels.get(naming.LABEL_MANAGED_BY) != naming.MANAGED_BY:
        return Disposition.DROPPED
    if labels.get(naming.LABEL_COMPONENT) == naming.COMPONENT_BUILD:
        return Disposition.INDEXED
    return Disposition.HANDED


async def take(
    event: Any, *, resource: references.Resource, settings: configuration.OperatorSettings
) -> bool:
    """True when `event`, one of the first listing, was indexed here or dropped: kopf must
    not see it. False for anything kopf should handle as usual."""
    target = _target
    if target is None or not isinstance(event, dict) or event.get("type") is not None:
        return False
    obj = event.get("object")
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
        return False
    what = disposition(obj)
    if what is Disposition.HANDED:
        return False
    if what is Disposition.INDEXED:
        body = bodies.Body(cast(bodies.RawBody, obj))
        await indexing.index_resource(
            indexers=target.indexers,
            registry=target.registry,
            settings=settings,
            resource=resource,
            raw_event=cast(bodies.RawEvent, event),
            memory=indexing.IndexingMemory(),
            logger=loggers.TerseObjectLogger(body=body, settings=settings),
            memo=target.memo,
            body=body,
        )
    return True
