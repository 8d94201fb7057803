"""The operator's kopf timers put no finalizer on the GoImageBuilds they run for.

`kopf.timer` always registers its handler with `requires_finalizer=True`: kopf
then adds its finalizer to a GoImageBuild when a timer's `when` filter starts
to match (a build waiting for its pod, for quota, for its source, in a queue)
and removes it when it stops matching. That was two or more extra PATCHes of
every build (each often refused once as a conflict and retried: 4.3 metadata
PATCHes per build in the 1,000-build burst, where kopf's own annotation needs
one), and a GoImageBuild deleted while the operator is down stayed until it
came back. The timers need no cleanup before a GoImageBuild goes (each one only
re-runs an idempotent reconcile or status read; kopf stops a timer when its
object's deletion is seen), so their handlers are re-registered without it.

Applied at import of the runner, after every handler module registered its
handlers; `tests/unit/test_timer_finalizers.py` checks that no timer of the
default registry asks for a finalizer.
"""

from __future__ import annotations

import dataclasses

import kopf
from kopf._core.intents import handlers as kopf_handlers


def timers_without_finalizers(registry: kopf.OperatorRegistry) -> int:
    """Re-register every timer of `registry` with `requires_finalizer=False`; how many."""
    spawning = getattr(registry, "_spawning", None)
    registered = getattr(spawning, "_handlers", None)
    if not isinstance(registered, list):
        return 0
    changed = 0
    for index, handler in enumerate(registered):
        if isinstance(handler, kopf_handlers.TimerHandler) and handler.requires_finalizer:
            registered[index] = dataclasses.replace(handler, requires_finalizer=False)
            changed += 1
    return changed
