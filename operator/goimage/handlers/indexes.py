"""In-memory indexes of what the operator watches, kept by kopf from its watch streams.

Handlers look builds, Jobs and Pods up here instead of asking the API server:
reconciling a build and deriving its status costs no reads. kopf hands each
index to the handlers that declare a keyword parameter of its function's name
(`build_jobs: kopf.Index[...]`). kopf fills every
index from its initial listing before any handler runs, so a restarted
operator sees the Jobs it made before it decides whether to make one.

Each index keeps only what the handlers read of an object (issue 13: memory
per build), as `core.kept` says: no managedFields, no annotations but the
operator's own (kopf's diffbase and kubectl's last-applied configuration repeat
the whole spec), and of a Job's pod template or a Pod's spec only its
fingerprint (`status_update.pod_fingerprint`). `tests/unit/test_indexes.py` checks
that the core derives the same status from the kept parts as from the whole
objects.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterable
from typing import Any

import kopf
from kopf._cogs.aiokits import aiotoggles

from goimage.core import build_queue, kept, naming, policy, status_update

MANAGED = {naming.LABEL_MANAGED_BY: naming.MANAGED_BY}
# A build's Jobs and Pods; a resolve Job (a private repository's commit) is none of them.
BUILD = MANAGED | {naming.LABEL_COMPONENT: naming.COMPONENT_BUILD}
RESOLVE = MANAGED | {naming.LABEL_COMPONENT: naming.COMPONENT_RESOLVE}


@kopf.index(naming.GROUP, naming.VERSION, naming.PLURAL)
def goimagebuilds(*, namespace: str | None, uid: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    """(namespace, uid) -> the GoImageBuild's metadata and status."""
    return {(namespace, uid): kept.snapshot(body, "status")}


@kopf.index("batch", "v1", "jobs", labels=BUILD)
def build_jobs(
    *, namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    """(namespace, owner uid) -> the owner's Jobs."""
    job = kept.snapshot(body, "status") | {
        "spec": copy.deepcopy(kept.job_spec(body.get("spec"))),
        status_update.FINGERPRINT: status_update.fingerprint_of_template(body),
    }
    return {(namespace, labels.get(naming.LABEL_BUILD_UID)): job}


@kopf.index(
    "v1",
    "pods",
    labels=BUILD,
    when=lambda meta, **_: naming.controller_uid(meta) is not None,
)
def build_pods(*, namespace: str | None, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    """(namespace, controlling Job's uid) -> the Job's Pods, each with its fingerprint.

    By ownership, not by labels: a pod that only copies a build's labels is
    nobody's build pod, and never reaches a status.
    """
    owner = naming.controller_uid(body["metadata"])
    fingerprint = status_update.fingerprint_of_pod(body)
    return {
        (namespace, owner): kept.snapshot(body, "status") | {status_update.FINGERPRINT: fingerprint}
    }


@kopf.index(naming.GROUP, naming.VERSION, policy.PLURAL)
def build_policies(*, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    """None -> every GoImageBuildPolicy, parsed."""
    return {None: policy.parse_policy(body)}


@kopf.index("", "v1", "namespaces")
def namespace_labels(*, name: str, labels: kopf.Labels, **_: Any) -> dict[Any, Any]:
    """namespace name -> its labels (which policies govern it)."""
    return {name: dict(labels)}


# A filter, not a None result: kopf drops an object's entry when it stops matching
# the filter, but keeps the entry of an object whose indexer returns None.
@kopf.index(
    naming.GROUP,
    naming.VERSION,
    naming.PLURAL,
    when=lambda status, **_: build_queue.is_queued(status),
)
def queued_builds(
    *, namespace: str | None, name: str, status: kopf.Status, **_: Any
) -> dict[Any, Any]:
    """namespace -> its builds that wait for a slot (maxConcurrentBuilds)."""
    return {namespace: build_queue.Waiting(name, str(status["queuedSince"]))}


# --- kopf's wait for its indexes, made linear ---------------------------------------------------
#
# At start, kopf holds every object's handlers until every object of every
# indexed kind is indexed: one toggle per object in one ToggleSet, and each
# toggle made or dropped wakes every worker already waiting (notify_all). With
# N objects that is about N² wake-ups on the event loop: 36 CPU s for 3,000
# objects (1,000 builds, their Jobs and Pods), an hour for 30,000. Waking the
# waiters only when the set's state changes is enough for every waiter: a
# ToggleSet's wait_for depends on that state alone, and a member Toggle's own
# wait_for on its own state, which making or dropping another never changes.


def _flipped(toggles: aiotoggles.ToggleSet, was_on: bool) -> None:
    if toggles.is_on() != was_on:
        toggles._condition.notify_all()


async def _make_toggle(
    self: aiotoggles.ToggleSet, __val: bool = False, *, name: str | None = None
) -> aiotoggles.Toggle:
    toggle = aiotoggles.Toggle(__val, name=name, condition=self._condition)
    async with self._condition:
        was_on = self.is_on()
        self._toggles.add(toggle)
        _flipped(self, was_on)
    return toggle


async def _drop_toggle(self: aiotoggles.ToggleSet, toggle: aiotoggles.Toggle) -> None:
    async with self._condition:
        was_on = self.is_on()
        self._toggles.discard(toggle)
        _flipped(self, was_on)


async def _drop_toggles(self: aiotoggles.ToggleSet, toggles: Iterable[aiotoggles.Toggle]) -> None:
    async with self._condition:
        was_on = self.is_on()
        self._toggles.difference_update(toggles)
        _flipped(self, was_on)


def linear_toggle_sets() -> bool:
    """Patch kopf's ToggleSet to wake its waiters only when its state changes; False
    (kopf left alone) if this kopf's ToggleSet is not the one this was written for."""
    probe = aiotoggles.ToggleSet(all)
    expected = ("_condition", "_toggles", "_fn")
    if not all(hasattr(probe, name) for name in expected) or not isinstance(
        probe._condition, asyncio.Condition
    ):
        return False
    aiotoggles.ToggleSet.make_toggle = _make_toggle  # type: ignore[method-assign]
    aiotoggles.ToggleSet.drop_toggle = _drop_toggle  # type: ignore[method-assign]
    aiotoggles.ToggleSet.drop_toggles = _drop_toggles  # type: ignore[method-assign]
    return True


LINEAR_TOGGLE_SETS = linear_toggle_sets()
