"""Post a GoImageBuild's Events (see core/events.py for why not kopf's poster).

`tell` queues the Event and returns: a handler does not wait for the API
server to store its news, as it did not with kopf's poster. A few poster threads post from the
queue; at shutdown, after kopf has let the handlers in flight finish,
`drain` (a kopf cleanup handler) posts what is left, so that an Event decided
in a SIGTERM's grace period is not lost. A failed post is logged, never
raised: an Event is news, the status holds the truth.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

import kopf

from goimage.core.events import event_body
from goimage.handlers.clock import now
from goimage.k8s import api

_LOG = logging.getLogger(__name__)
# Which replica told it (the pod's name in a cluster).
INSTANCE = socket.gethostname()
POSTERS = 4
# How long shutdown waits for the queued Events (inside kopf's cleanup).
DRAIN_TIMEOUT_S = 5.0

_queue: queue.Queue[dict[str, Any]] = queue.Queue()
_started = threading.Lock()
_threads: list[threading.Thread] = []


def _post(body: dict[str, Any]) -> None:
    try:
        api.post_event(body)
    except Exception as error:
        involved = body["involvedObject"]
        _LOG.warning(
            "could not post the %s Event of %s/%s: %s",
            body["reason"], involved["namespace"], involved["name"], error,
        )  # fmt: skip


def _poster() -> None:
    while True:
        body = _queue.get()
        try:
            _post(body)
        finally:
            _queue.task_done()


def _ensure_posters() -> None:
    with _started:
        if not _threads:
            for index in range(POSTERS):
                thread = threading.Thread(target=_poster, name=f"events-{index}", daemon=True)
                thread.start()
                _threads.append(thread)


def tell(meta: Mapping[str, Any], type: str, reason: str, message: str) -> None:
    """Queue an Event of `type` (Normal, Warning) about the GoImageBuild with `meta`."""
    _ensure_posters()
    _queue.put(
        event_body(
            involved=meta, type=type, reason=reason, message=message, now=now(), instance=INSTANCE
        )
    )


def warn(meta: Mapping[str, Any], reason: str, message: str) -> None:
    tell(meta, "Warning", reason, message)


def wait_posted(timeout: float) -> bool:
    """Wait until every queued Event is posted (or failed); False if `timeout` passed first."""
    deadline = time.monotonic() + timeout
    while _queue.unfinished_tasks:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@kopf.on.cleanup()
def drain(logger: kopf.Logger, **_: Any) -> None:
    """At shutdown, once the handlers are done: post the Events they queued."""
    left = _queue.unfinished_tasks
    if left and not wait_posted(DRAIN_TIMEOUT_S):
        logger.warning("%d Events not posted at shutdown", _queue.unfinished_tasks)
