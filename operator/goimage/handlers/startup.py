"""Operator start-up: kopf's settings, our settings, the API client, and what the
handlers share (kopf's memo: the settings, the statuses last written)."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from goimage.config import load_settings
from goimage.core import naming
from goimage.core.status_cache import WrittenStatuses
from goimage.handlers.builds import NamespaceLocks
from goimage.k8s import api

KOPF_PREFIX = f"kopf.{naming.GROUP}"


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
    # Events: our own build transitions (kopf.event, not subject to this level),
    # plus kopf's own warnings and errors.
    settings.posting.level = logging.WARNING
    # Handlers are synchronous API calls; enough threads for bursts of builds.
    settings.execution.max_workers = api.HANDLER_THREADS
    settings.watching.server_timeout = 300
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
    memo.settings = load_settings()
    logger.info("settings: %s", memo.settings)
    # kopf gives each object's handlers a shallow copy of this memo: one cache for all.
    memo.written_statuses = WrittenStatuses()
    memo.namespace_locks = NamespaceLocks()
