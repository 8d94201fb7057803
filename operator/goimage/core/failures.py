"""Failure details: which documented reason a failed build gets, and its message.

Kaniko says where it failed in the last line it logs ("error resolving source
context", "error building image", "error pushing image"); the kubelet hands
the log's tail to us as the termination message (FallbackToLogsOnError). The
message kept for the status is the tail that explains the failure, cut to fit,
with the command that shows the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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


def summarize(log_tail: str, *, hint: str = "", limit: int = MESSAGE_LIMIT) -> str:
    """The informative end of a log, without colour codes or progress lines."""
    lines = [
        line.rstrip()
        for line in _ANSI.sub("", log_tail).splitlines()
        if line.strip() and not _NOISE.search(line)
    ]
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


def logs_hint(namespace: str, pod: str, container: str) -> str:
    return f"More: kubectl logs -n {namespace} {pod} -c {container}"
