"""Finished builds' pods deleted once their result is recorded and their retention has
passed (`core.pod_release` decides; this module deletes, now or at the time decided).

Called by the Job and Pod handlers (handlers/children.py) after they have written
the status, so the status they read is the one just written. A pod whose time
has not come gets one timer on the event loop until it does; nothing is kept
of pods that have not finished. A restarted operator sees every pod again in
kopf's first listing and decides anew.

Not a `kopf.timer` on pods: kopf puts its finalizer on every object a timer
runs for (`requires_finalizer=True` in kopf.on.timer), which is a write to
every finished pod and would hold the pod's deletion (the Job's, the
namespace's) while the operator is down.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf

from goimage.core import naming, pod_release
from goimage.core.status_cache import WrittenStatuses
from goimage.k8s import api


class PodReleases:
    """Finished pods waiting for their retention: one timer each, by pod uid.

    Touched only on the event loop (handlers, which kopf runs in its threads,
    hand their calls over), so it needs no lock.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def schedule(self, uid: str, delay: float, release: Callable[[], None]) -> None:
        """Run `release` (in a thread) after `delay` seconds, unless one is set for `uid`."""
        self._loop.call_soon_threadsafe(self._arm, uid, delay, release)

    def forget(self, uid: str) -> None:
        """The pod is gone: its timer, if any, goes too."""
        self._loop.call_soon_threadsafe(self._cancel, uid)

    def __len__(self) -> int:
        return len(self._timers)

    def _arm(self, uid: str, delay: float, release: Callable[[], None]) -> None:
        if uid not in self._timers:
            self._timers[uid] = self._loop.call_later(max(delay, 0.0), self._fire, uid, release)

    def _fire(self, uid: str, release: Callable[[], None]) -> None:
        self._timers.pop(uid, None)
        # The delete is a blocking API call: off the event loop.
        self._loop.run_in_executor(None, release)

    def _cancel(self, uid: str) -> None:
        timer = self._timers.pop(uid, None)
        if timer is not None:
            timer.cancel()


@kopf.on.startup()
async def start_pod_releases(memo: kopf.Memo, **_: Any) -> None:
    """The releases' timers run on kopf's event loop."""
    memo.pod_releases = PodReleases(asyncio.get_running_loop())


def _release(namespace: str, name: str, uid: str, job_uid: str, logger: kopf.Logger) -> None:
    try:
        deleted = api.delete_finished_pod(
            namespace, name, uid=uid, job_uid=job_uid, finished=pod_release.pod_finished
        )
    except Exception as error:  # a timer's thread: nobody else would see it
        logger.warning("could not delete the finished build pod %s/%s: %s", namespace, name, error)
        return
    if deleted:
        logger.info(
            "deleted the finished build pod %s/%s (its result is recorded)", namespace, name
        )


def consider(
    *,
    pod: Mapping[str, Any],
    job: Mapping[str, Any],
    jobs: Iterable[Mapping[str, Any]],
    goimagebuilds: kopf.Index[Any, Any],
    written: WrittenStatuses,
    memo: kopf.Memo,
    logger: kopf.Logger,
) -> None:
    """Delete `pod` (a pod of the build Job `job`) now, or set its timer, if it is due."""
    releases: PodReleases | None = getattr(memo, "pod_releases", None)
    if releases is None:
        return
    meta = job["metadata"]
    labels = meta.get("labels") or {}
    uid = str(labels.get(naming.LABEL_BUILD_UID) or "")
    namespace = str(meta.get("namespace") or "")
    owner = next(iter(goimagebuilds.get((namespace, uid), [])), None)
    build = str(labels.get(naming.LABEL_BUILD_ID) or "")
    indexed: Mapping[str, Any] = (owner.get("status") if owner else None) or {}
    status = written.known(uid, indexed, build)
    retention = pod_release.retention_seconds(memo.settings.finished_pod_retention)
    now = datetime.now(UTC)
    decision = pod_release.decide(
        pod=pod,
        job=job,
        owner=owner,
        status=status,
        jobs=jobs,
        retention=timedelta(seconds=retention),
        now=now,
    )
    if decision.at is None:
        return
    pod_meta = pod["metadata"]
    release = functools.partial(
        _release, namespace, pod_meta["name"], pod_meta["uid"], meta["uid"], logger
    )
    if decision.delete:
        release()
    else:
        releases.schedule(pod_meta["uid"], (decision.at - now).total_seconds(), release)


def forget(memo: kopf.Memo, pod_uid: str) -> None:
    releases: PodReleases | None = getattr(memo, "pod_releases", None)
    if releases is not None:
        releases.forget(pod_uid)
