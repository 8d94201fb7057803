"""Finished builds' pods deleted once their result is recorded and their retention has
passed (`core.pod_release` decides; this module deletes, now or at the time decided).

Called after the status is written (handlers/build_status.py: for each event of
a build's Job or Pod, and for each GoImageBuild's create, update and resume), so
the status they read is the one just written. A pod whose time has not come
gets one timer on the event loop until it does; nothing is kept of pods that
have not finished. A restarted operator decides anew for every pod when it
resumes the pod's GoImageBuild.

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
    """Finished pods waiting for their retention, and those being deleted, by pod uid.

    One release per pod: a pod judged again (its Job's event and its own, or a
    newer version of it) updates the release already set instead of adding a
    second, and a pod whose delete is under way is not deleted again until that
    delete has failed. Touched only on the event loop (handlers, which kopf runs
    in its threads, hand their calls over), so it needs no lock.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._releases: dict[str, Callable[[], bool]] = {}
        self._deleting: set[str] = set()

    def schedule(self, uid: str, delay: float, release: Callable[[], bool]) -> None:
        """Run `release` (in a thread) after `delay` seconds (0: now); it returns whether
        the pod was deleted."""
        self._loop.call_soon_threadsafe(self._arm, uid, delay, release)

    def forget(self, uid: str) -> None:
        """The pod is gone: its timer, if any, goes too."""
        self._loop.call_soon_threadsafe(self._cancel, uid)

    def __len__(self) -> int:
        return len(self._timers)

    def _arm(self, uid: str, delay: float, release: Callable[[], bool]) -> None:
        if uid in self._deleting:
            return
        self._releases[uid] = release
        if uid not in self._timers:
            self._timers[uid] = self._loop.call_later(max(delay, 0.0), self._fire, uid)

    def _fire(self, uid: str) -> None:
        self._timers.pop(uid, None)
        release = self._releases.pop(uid, None)
        if release is None:
            return
        self._deleting.add(uid)
        # The delete is a blocking API call: off the event loop.
        done = self._loop.run_in_executor(None, release)
        done.add_done_callback(lambda future: self._settled(uid, future))

    def _settled(self, uid: str, future: asyncio.Future[bool]) -> None:
        if future.cancelled() or future.exception() is not None or not future.result():
            self._deleting.discard(uid)  # not deleted: its next event judges it again

    def _cancel(self, uid: str) -> None:
        timer = self._timers.pop(uid, None)
        if timer is not None:
            timer.cancel()
        self._releases.pop(uid, None)
        self._deleting.discard(uid)


@kopf.on.startup()
async def start_pod_releases(memo: kopf.Memo, **_: Any) -> None:
    """The releases' timers run on kopf's event loop."""
    memo.pod_releases = PodReleases(asyncio.get_running_loop())


def _release(
    namespace: str, name: str, uid: str, resource_version: str, logger: kopf.Logger
) -> bool:
    try:
        deleted = api.delete_finished_pod(
            namespace, name, uid=uid, resource_version=resource_version
        )
    except Exception as error:  # a timer's thread: nobody else would see it
        logger.warning("could not delete the finished build pod %s/%s: %s", namespace, name, error)
        return False
    if deleted:
        logger.info(
            "deleted the finished build pod %s/%s (its result is recorded)", namespace, name
        )
    return deleted


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
        _release,
        namespace,
        pod_meta["name"],
        pod_meta["uid"],
        str(pod_meta.get("resourceVersion") or ""),
        logger,
    )
    delay = 0.0 if decision.delete else (decision.at - now).total_seconds()
    releases.schedule(pod_meta["uid"], delay, release)


def forget(memo: kopf.Memo, pod_uid: str) -> None:
    releases: PodReleases | None = getattr(memo, "pod_releases", None)
    if releases is not None:
        releases.forget(pod_uid)
