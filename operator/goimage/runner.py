"""`goimage-operator run`: kopf with our handlers, standalone or in a namespace list."""

from __future__ import annotations

import kopf

# Importing registers the handlers with kopf's default registry.
from goimage.handlers import builds, children, indexes, startup

HANDLER_MODULES = (builds, children, indexes, startup)


def run(*, namespaces: list[str], liveness: str, verbose: bool) -> int:
    kopf.configure(verbose=verbose)
    kopf.run(
        standalone=True,
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=liveness or None,
        memo=kopf.Memo(),
    )
    return 0
