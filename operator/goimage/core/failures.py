"""Failure details: which documented reason a failed build gets, and its message.

Kaniko says where it failed in the last line it logs ("error resolving source
context", "error building image", "error pushing image"); the kubelet hands
the log's tail to us as the termination message (FallbackToLogsOnError). The
message kept for the status is the tail that explains the failure, cut to fit,
with the command that shows the rest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from goimage.core.conditions import Reason

MESSAGE_LIMIT = 1500
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Kaniko's own wrapping of each stage's error, most specific first.
_KANIKO_STAGES: tuple[tuple[str, Reason], ...] = (
    ("error resolving source context", Reason.SOURCE_FAILED),
    ("error resolving dockerfile path", Reason.SOURCE_FAILED),
    ("error checking push permissions", Reason.PUSH_FAILED),
    ("error pushing image", Reason.PUSH_FAILED),
    ("error building image", Reason.BUILD_FAILED),
)
# Log lines that are progress, not explanation.
_NOISE = re.compile(
    r"(Enumerating objects|Counting objects|Compressing objects|Total \d+|"
    r"Retrieving image|Unpacking rootfs|Taking snapshot|Pushing layer|Pushed|"
    r"Using caching version|Checking for cached layer|No cached layer found)"
)
# Kaniko's own INFO lines: what it was doing, not what went wrong. Dropped when
# other lines remain, so the message leads with the error, not with progress.
_KANIKO_INFO = re.compile(r"^INFO\[\d+\]")
# The kernel's words for a full filesystem (ENOSPC), whoever prints them.
NO_SPACE = "no space left on device"
REBUILD = "a rebuild (annotation goimage.dev/rebuild) is likely to succeed"


@dataclass(frozen=True)
class Failure:
    reason: Reason
    message: str

    def as_status(self) -> dict[str, str]:
        return {"reason": str(self.reason), "message": self.message}


# Kaniko (cobra) prints its usage after an error in flag or source checks; the
# usage is longer than the kubelet's 80-line tail, so the error itself is cut.
_KANIKO_USAGE = 'Use "executor [command] --help"'
_USAGE_START = re.compile(r"^Usage:\s*$", re.MULTILINE)


def classify_build_log(log_tail: str) -> Reason:
    lowered = log_tail.lower()
    for marker, reason in _KANIKO_STAGES:
        if marker in lowered:
            return reason
    if _KANIKO_USAGE in log_tail:
        # Only the checks before the build print usage; with the flags the
        # operator sets, what fails there is the git source.
        return Reason.SOURCE_FAILED
    return Reason.BUILD_FAILED


def shows_only_usage(log_tail: str) -> bool:
    """True when the tail is Kaniko's usage text without the error that caused it."""
    return _KANIKO_USAGE in log_tail and not any(m in log_tail.lower() for m, _ in _KANIKO_STAGES)


def without_usage(log: str) -> str:
    """The log up to Kaniko's usage text: the part that says what went wrong."""
    match = _USAGE_START.search(log)
    return log[: match.start()] if match else log


def _informative(log_tail: str) -> list[str]:
    lines = [
        line.rstrip()
        for line in _ANSI.sub("", log_tail).splitlines()
        if line.strip() and not _NOISE.search(line)
    ]
    errors = [line for line in lines if not _KANIKO_INFO.match(line)]
    return errors or lines


def summarize(log_tail: str, *, hint: str = "", limit: int = MESSAGE_LIMIT) -> str:
    """The informative end of a log, without colour codes, progress or Kaniko's INFO lines."""
    lines = _informative(log_tail)
    suffix = f"\n{hint}" if hint else ""
    budget = limit - len(suffix)
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        if used + len(line) + 1 > budget:
            if not kept:
                kept.append("..." + line[-(budget - 3) :])
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join(reversed(kept)) + suffix


def logs_hint(namespace: str, name: str, build: str, container: str, *, retention: str) -> str:
    """Where the whole log is: `kubectl gib logs` of this build (its `container` step's
    lines), while its pod is kept.

    Not `kubectl logs <pod>`: the operator deletes a finished build's pod once
    `retention` (its finishedPodRetention setting) has passed, and the plugin
    says so plainly when the pod is gone; a pod name would lead nowhere then.
    """
    command = f"kubectl gib logs -n {namespace} {name}"
    if retention.strip() in ("0", ""):
        return (
            f'More: {command} -f while a rebuild runs, step "{container}" (the operator deletes '
            "a finished build's pod, and its log, at once: finishedPodRetention is 0)"
        )
    return (
        f'More: {command} --build {build}, step "{container}" (the build\'s pod, and its log, '
        f"is kept for {retention} after the build ends)"
    )


def out_of_disk(log_tail: str) -> bool:
    """True when the log says a filesystem was full (the node's disk, or the build's share)."""
    return NO_SPACE in log_tail.lower()


def disk_full(log_tail: str, *, hint: str = "", limit: int = MESSAGE_LIMIT) -> Failure:
    """OutOfDisk: the message leads with the log's "no space left on device" line."""
    lines = _informative(log_tail)
    line = next((x for x in reversed(lines) if NO_SPACE in x.lower()), NO_SPACE)
    advice = (
        "the build ran out of disk space: raise spec.builder.resources.requests.ephemeral-storage "
        "(the scheduler then keeps that much free on the node for it) and, if the build itself "
        f"needs more, limits.ephemeral-storage; {REBUILD} on a node with room"
    )
    head = line if len(line) <= limit // 3 else line[: limit // 3 - 3] + "..."
    rest = [x for x in lines if x != line]
    budget = limit - len(head) - len(advice) - 2
    tail = summarize("\n".join(rest), hint=hint, limit=budget) if budget > 0 else hint
    return Failure(Reason.OUT_OF_DISK, "\n".join(x for x in (head, advice, tail) if x))


def _condition(pod: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return cond  # type: ignore[no-any-return]
    return None


def _evicted(words: str) -> Failure:
    """The kubelet's eviction, by what it ran short of."""
    lowered = words.lower()
    if "exceeds the total limit" in lowered or "local ephemeral storage limit" in lowered:
        return Failure(
            Reason.OUT_OF_DISK,
            f"the build pod was evicted for using more disk than its limit: {words}; raise "
            "spec.builder.resources.limits.ephemeral-storage",
        )
    if "ephemeral-storage" in lowered or "nodefs" in lowered or "imagefs" in lowered:
        what = "disk"
        advice = "requests.ephemeral-storage"
    elif "memory" in lowered:
        what = "memory"
        advice = "requests.memory"
    else:
        what = "a resource"
        advice = "requests"
    return Failure(
        Reason.BUILD_POD_EVICTED,
        f"the build pod was evicted: its node ran low on {what} ({words}); {REBUILD}; a larger "
        f"spec.builder.resources.{advice} makes the scheduler keep room for it",
    )


_NODE_LOST = "the build pod was lost with its node ({words}); {rebuild}"


def disruption(pod: Mapping[str, Any]) -> Failure | None:
    """Why the build pod was stopped from outside (deleted, evicted, its node lost); None if
    it was not.

    From the pod's `DisruptionTarget` condition (set by whoever deletes it: the
    Eviction API, the scheduler, the taint manager, the pod GC, the kubelet), its
    `reason` (Evicted, NodeLost, a node shutdown) and its deletionTimestamp (a plain delete).
    """
    status = pod.get("status") or {}
    reason = str(status.get("reason") or "")
    words = str(status.get("message") or "").strip().rstrip(".")
    target = _condition(pod, "DisruptionTarget") or {}
    cause = str(target.get("reason") or "") if target.get("status") == "True" else ""
    said = str(target.get("message") or "").strip().rstrip(".")
    if reason == "Evicted":
        return _evicted(words or said or "evicted by the kubelet")
    if reason == "NodeLost" or cause in ("DeletionByTaintManager", "DeletionByPodGC"):
        detail = {
            "DeletionByTaintManager": "its node was tainted NoExecute: not ready, unreachable "
            "or taken out of service",
            "DeletionByPodGC": "its node is gone",
        }.get(cause, words or "its node stopped answering")
        return Failure(Reason.NODE_LOST, _NODE_LOST.format(words=detail, rebuild=REBUILD))
    if "shutdown" in words.lower() or "shutdown" in said.lower():
        return Failure(Reason.NODE_LOST, _NODE_LOST.format(words=words or said, rebuild=REBUILD))
    if cause == "EvictionByEvictionAPI":
        return Failure(
            Reason.BUILD_POD_EVICTED,
            "the build pod was evicted through the Eviction API (a node drain or an "
            f"autoscaler moving pods); {REBUILD}",
        )
    if cause == "PreemptionByScheduler":
        return Failure(
            Reason.BUILD_POD_EVICTED,
            "the build pod was preempted: the scheduler removed it to make room for a pod of "
            f"higher priority; {REBUILD}",
        )
    if cause == "TerminationByKubelet":
        return _evicted(said or words or "stopped by the kubelet")
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return Failure(
            Reason.BUILD_POD_DELETED,
            "the build pod was deleted while the build ran (by a person, a cleanup tool or a "
            f"controller), so the build did not finish; {REBUILD}",
        )
    return None
