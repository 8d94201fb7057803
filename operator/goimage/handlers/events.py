"""Post a GoImageBuild's Event from the handler that decided it (see core/events.py for why
not kopf's background poster): a failed post is logged, never fails the handler."""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from typing import Any

from goimage.core.events import event_body
from goimage.handlers.clock import now
from goimage.k8s import api

_LOG = logging.getLogger(__name__)
# Which replica told it (the pod's name in a cluster).
INSTANCE = socket.gethostname()


def tell(meta: Mapping[str, Any], type: str, reason: str, message: str) -> None:
    """An Event of `type` (Normal, Warning) about the GoImageBuild with metadata `meta`."""
    body = event_body(
        involved=meta, type=type, reason=reason, message=message, now=now(), instance=INSTANCE
    )
    try:
        api.post_event(body)
    except Exception as error:  # an Event is news, not state: the status holds the truth
        _LOG.warning("could not post the %s Event of %s: %s", reason, meta.get("name"), error)


def warn(meta: Mapping[str, Any], reason: str, message: str) -> None:
    tell(meta, "Warning", reason, message)
