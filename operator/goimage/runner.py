"""`goimage-operator run`: kopf with our handlers, standalone or in a namespace list."""

from __future__ import annotations

import logging

import kopf
from kopf._core.engines import indexing

from goimage import metrics

# Importing registers the handlers with kopf's default registry.
from goimage.handlers import (
    api_session,
    builds,
    children,
    events,
    first_listing,
    indexes,
    slim_watch,
    startup,
    timer_finalizers,
)

HANDLER_MODULES = (api_session, builds, children, events, indexes, slim_watch, startup)
# After every handler above is registered.
TIMERS_WITHOUT_FINALIZERS = timer_finalizers.timers_without_finalizers(kopf.get_default_registry())
LOG_FORMATS = {"text": kopf.LogFormat.FULL, "json": kopf.LogFormat.JSON}
LOG_LEVELS = ("debug", "info", "warning")


def run(
    *, namespaces: list[str], liveness: str, metrics_port: int, log_format: str, log_level: str
) -> int:
    kopf.configure(
        verbose=log_level == "debug",
        quiet=log_level == "warning",
        log_format=LOG_FORMATS[log_format],
        log_refkey="k8s" if log_format == "json" else None,
    )
    if log_level != "debug":
        # The client logs every request at debug level, and nothing else of use.
        logging.getLogger("urllib3").setLevel(logging.INFO)
    if metrics_port:
        metrics.serve(metrics_port)
    api_session.attach(namespaces)
    # The operator's own indexers and memo, shared with the first listing's indexing.
    indexers = indexing.OperatorIndexers()
    memo = kopf.Memo()
    first_listing.attach(
        first_listing.Target(indexers=indexers, registry=kopf.get_default_registry(), memo=memo)
    )
    kopf.run(
        standalone=True,
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=liveness or None,
        memo=memo,
        indexers=indexers,
    )
    return 0
