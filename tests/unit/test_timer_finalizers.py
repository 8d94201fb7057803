"""handlers/timer_finalizers.py: the operator's timers put no finalizer on GoImageBuilds."""

from __future__ import annotations

import kopf
from kopf._core.intents import handlers as kopf_handlers

from goimage import runner


def test_no_timer_of_the_operator_asks_for_a_finalizer() -> None:
    registry = kopf.get_default_registry()
    timers = [
        handler
        for handler in registry._spawning.get_all_handlers()
        if isinstance(handler, kopf_handlers.TimerHandler)
    ]
    assert len(timers) >= 4  # the queue, quota/source retry, poll, missing pod
    assert len(timers) == runner.TIMERS_WITHOUT_FINALIZERS
    assert not any(timer.requires_finalizer for timer in timers)
