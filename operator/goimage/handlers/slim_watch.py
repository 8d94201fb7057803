"""Every watched GoImageBuild, build Job and build Pod is cut to its kept view
(`core.kept`) as it arrives, before kopf queues it.

Why here: kopf keeps each object's latest event until that object's handlers
have run, and at start it keeps every listed object until all of them are
indexed (so that no build starts twice). With 1,000 builds that was 96 MiB of
decoded objects at the restart's peak (tracemalloc, `bench.scale --heap`),
half of it `metadata.managedFields`; with 10,000 it would be most of a
gigabyte. kopf has no hook for it (controller-runtime's equivalent is a cache
transform such as `TransformStripManagedFields`), so this wraps the one
function its watchers read events from, `kopf._cogs.clients.watching.
infinite_watch`, which kopf's queueing module calls through its module at
each watch's start. Bookmarks and kopf's own markers pass untouched; other
kinds (namespaces, policies, CRDs, kopf's peering objects) pass whole. The
first listing of GoImageBuilds, Jobs and Pods goes through
`handlers.first_listing`: indexed there, and only the GoImageBuilds handed to
kopf, a few at a time, once their listing is over; GoImageBuilds new to kopf
after that go through `handlers.build_intake`, a few at a time too.

`patch_kopf()` wraps it only if this kopf's function has the signature this
was written for; otherwise kopf is left alone (the operator works the same,
with more memory) and `SLIMMED` is False, which a unit test checks.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from kopf._cogs.clients import watching
from kopf._core.reactor import queueing

from goimage.core import kept, naming
from goimage.handlers import build_intake, first_listing

# (group, plural) -> what is kept of such an object.
KEPT: dict[tuple[str, str], Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    (naming.GROUP, naming.PLURAL): kept.goimagebuild,
    ("batch", "jobs"): kept.job,
    ("", "pods"): kept.pod,
}
_EXPECTED_PARAMETERS = ("settings", "resource", "namespace", "operator_paused")


def slim_event(event: Any, keep: Callable[[Mapping[str, Any]], dict[str, Any]]) -> Any:
    """The watch event with its object cut to what is kept; anything else as it is."""
    if not isinstance(event, dict) or event.get("type") == "BOOKMARK":
        return event
    obj = event.get("object")
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
        return event
    return {**event, "object": keep(obj)}


def _wrap(original: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    async def infinite_watch(*, resource: Any, settings: Any, **kwargs: Any) -> AsyncIterator[Any]:
        kind = (resource.group, resource.plural)
        keep = KEPT.get(kind)
        # Until kopf's first listing of this kind is over.
        listing = (
            first_listing.FirstListing(resource, settings) if kind in first_listing.KINDS else None
        )
        source = original(resource=resource, settings=settings, **kwargs)
        # New GoImageBuilds after the first listing: a few at a time (handlers.build_intake).
        intake = (
            build_intake.Intake()
            if kind == first_listing.BUILDS and first_listing.attached()
            else None
        )
        events = build_intake.merged(source, intake) if intake else _unreleased(source)
        async for event, released in events:
            if released:
                yield event  # cut and admitted when it came
                continue
            slim = event if keep is None else slim_event(event, keep)
            if listing is not None and await listing.take(slim):
                continue
            if intake is not None:
                if listing is None and not intake.admit(slim):
                    continue
                intake.seen(slim)
            yield slim
            if listing is not None and event is watching.Bookmark.LISTED:
                async for held in listing.handed_back():
                    if intake is not None:
                        intake.seen(held)
                    yield held
                listing = None

    infinite_watch.__wrapped__ = original  # type: ignore[attr-defined]
    return infinite_watch


async def _unreleased(source: AsyncIterator[Any]) -> AsyncIterator[tuple[Any, bool]]:
    async for event in source:
        yield event, False


def patch_kopf() -> bool:
    """Wrap kopf's watch stream (once); False if this kopf is not the one it was written for."""
    current = watching.infinite_watch
    if getattr(current, "__wrapped__", None) is not None:
        return True
    parameters = inspect.signature(current).parameters
    reads_through_module = getattr(queueing, "watching", None) is watching
    if not reads_through_module or not all(p in parameters for p in _EXPECTED_PARAMETERS):
        return False
    watching.infinite_watch = _wrap(current)
    return True


SLIMMED = patch_kopf()
