"""Operator start-up: kopf's settings, our settings, the API client, and what the
handlers share (kopf's memo: the settings, the statuses last written); and how the
operator stands by, takes over and shuts down (peering and shutdown settings).

Failover is kopf's own peering, not a coordination.k8s.io Lease: every replica
keeps its record (priority, last seen, lifetime) in one ClusterKopfPeering (or a
KopfPeering per watched namespace) that the chart makes. A replica that sees a
live peer of higher priority closes its watch streams and stands by: it lists
nothing, caches nothing and writes nothing but its own record. kopf re-reads a
peer's record when it changes and when its lifetime ends, so a standby resumes
at most `lifetime` seconds after the active one's last keep-alive (SIGKILL, node
lost), and at once when the active one exits on SIGTERM (it deletes its record
on the way out). A Lease would need the same pause and resume of kopf's watch
streams built around kopf; peering is that, and is tested with kopf.

Priorities are by seniority: the replica that started first is active, so a
restarted or upgraded pod joins as a standby instead of taking over a second
time. kopf pauses every operator of one priority, so priorities must differ:
they are the start time in microseconds.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import kopf

from goimage.config import load_settings
from goimage.core import naming, source
from goimage.core.status_cache import WrittenStatuses
from goimage.handlers.builds import NamespaceLocks
from goimage.k8s import api

KOPF_PREFIX = f"kopf.{naming.GROUP}"

PEERING_ENV = "GOIMAGE_PEERING"
PEERING_LIFETIME_ENV = "GOIMAGE_PEERING_LIFETIME"
SHUTDOWN_TIMEOUT_ENV = "GOIMAGE_SHUTDOWN_TIMEOUT"
# Keep-alives come every max(1, lifetime - 5..10) s (kopf's own jitter), so a
# lifetime below 5 s gives no margin; above 60 s a takeover waits for a minute.
PEERING_LIFETIME_RANGE = (5, 300)
DEFAULT_PEERING_LIFETIME_S = 10
DEFAULT_SHUTDOWN_TIMEOUT_S = 20.0
LIST_CHUNK_SIZE = 100
# After the handlers' time on SIGTERM, kopf's own tasks (Events, the peering
# record's removal) get this long before kopf kills its own process.
SHUTDOWN_MARGIN_S = 5.0
# When this process started: its seniority among the replicas.
STARTED_NS = time.time_ns()
# Priorities fall with the start time and stay above zero for ~300 years.
_PRIORITY_CEILING = 10**16


@dataclasses.dataclass(frozen=True)
class Peering:
    """How this process finds its peers; `name` empty: standalone (one replica)."""

    name: str
    lifetime: int
    priority: int


def seniority(started_ns: int) -> int:
    """The priority of a process started at `started_ns` (Unix ns): the earlier, the higher."""
    return _PRIORITY_CEILING - started_ns // 1000


def peering_from_env(env: Mapping[str, str], *, started_ns: int) -> Peering:
    """The peering settings from GOIMAGE_PEERING and GOIMAGE_PEERING_LIFETIME."""
    raw = env.get(PEERING_LIFETIME_ENV, "").strip() or str(DEFAULT_PEERING_LIFETIME_S)
    lifetime = int(raw)
    low, high = PEERING_LIFETIME_RANGE
    if not low <= lifetime <= high:
        raise ValueError(f"{PEERING_LIFETIME_ENV}: {lifetime} is not {low}..{high} seconds")
    return Peering(
        name=env.get(PEERING_ENV, "").strip(), lifetime=lifetime, priority=seniority(started_ns)
    )


def shutdown_timeout_from_env(env: Mapping[str, str]) -> float:
    """Seconds the handlers in flight get to finish after SIGTERM (GOIMAGE_SHUTDOWN_TIMEOUT)."""
    raw = env.get(SHUTDOWN_TIMEOUT_ENV, "").strip()
    timeout = float(raw) if raw else DEFAULT_SHUTDOWN_TIMEOUT_S
    if timeout < 0:
        raise ValueError(f"{SHUTDOWN_TIMEOUT_ENV}: {timeout} is negative")
    return timeout


def configure_peering(settings: kopf.OperatorSettings, peering: Peering) -> None:
    """kopf's peering settings; read by kopf after the start-up handlers, so set here."""
    if not peering.name:
        settings.peering.standalone = True
        return
    settings.peering.standalone = False
    # Mandatory: without its peering object a replica waits instead of acting alone.
    settings.peering.mandatory = True
    settings.peering.name = peering.name
    settings.peering.priority = peering.priority
    settings.peering.lifetime = peering.lifetime


def configure_shutdown(settings: kopf.OperatorSettings, timeout: float) -> None:
    """On SIGTERM kopf stops watching, then waits `exit_timeout` for each object's handlers
    in flight before it cancels them (default 2 s: too short for a burst's API calls); it
    kills its own process after `ultimate_exiting_timeout` whatever is left (default 10 min:
    far past any grace period, so the kubelet's SIGKILL would come first)."""
    settings.queueing.exit_timeout = timeout
    settings.process.ultimate_exiting_timeout = timeout + SHUTDOWN_MARGIN_S


def check_peering_object(peering: Peering, *, clusterwide: bool) -> None:
    """Fail the start when the cluster-wide peering object is missing: with mandatory
    peering kopf would otherwise wait for it silently, for ever."""
    if not peering.name or not clusterwide:
        return
    if not api.cluster_object_exists("kopf.dev", "v1", "clusterkopfpeerings", peering.name):
        raise kopf.PermanentError(
            f"ClusterKopfPeering {peering.name!r} not found: install the chart's "
            f"(or unset {PEERING_ENV} to run one replica standalone)"
        )


@kopf.on.startup()
def configure(
    settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    # Keep kopf's bookkeeping in annotations: the status schema is ours and
    # structural, so kopf must not write into it. Under a prefix of its own:
    # kopf hides annotations with its prefix from change detection, and
    # goimage.dev/rebuild must stay visible.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{KOPF_PREFIX}/finalizer"
    # Events: our own build transitions (handlers/events.py, posted by the handler),
    # plus kopf's own warnings and errors (kopf's poster).
    settings.posting.level = logging.WARNING
    # Handlers are synchronous API calls; enough threads for bursts of builds.
    settings.execution.max_workers = api.HANDLER_THREADS
    settings.watching.server_timeout = 300
    # The first lists in pages: the whole list's response (about 10 KiB per build
    # pod) is never in memory at once, only one page before its objects are cut
    # to their kept view (handlers/slim_watch.py).
    settings.watching.chunk_size = LIST_CHUNK_SIZE
    # How long kopf waits for its own annotation patch to come back before it
    # takes an older event as current. In a burst the watch lags more than the
    # default 5 s, and kopf then ran the create handler (and its patch) again.
    settings.persistence.consistency_timeout = 60
    # Only our builds' Jobs and Pods, selected by the API server: kopf filters
    # handlers' labels in the operator, after decoding every event of every Pod
    # and Job in the cluster (about 1 CPU second per 1,000 events not ours).
    managed = f"{naming.LABEL_MANAGED_BY}={naming.MANAGED_BY}"
    settings.watching.label_selectors["v1", "pods"] = managed
    settings.watching.label_selectors["batch", "v1", "jobs"] = managed
    peering = peering_from_env(os.environ, started_ns=STARTED_NS)
    configure_peering(settings, peering)
    configure_shutdown(settings, shutdown_timeout_from_env(os.environ))
    check_peering_object(peering, clusterwide=settings.peering.clusterwide)
    if peering.name:
        logger.info(
            "peering %r: priority %d, lifetime %ds; standing by while an older replica lives",
            peering.name, peering.priority, peering.lifetime,
        )  # fmt: skip
    memo.settings = load_settings()
    logger.info("settings: %s", memo.settings)
    # kopf gives each object's handlers a shallow copy of this memo: one cache for all.
    memo.written_statuses = WrittenStatuses()
    memo.namespace_locks = NamespaceLocks()
    # Resolve pods' answers not yet used, and each polled resource's next check.
    memo.source_answers = source.Answers()
    memo.poll_schedule = {}
