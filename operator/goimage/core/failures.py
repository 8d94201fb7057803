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


def classify_build_log(log_tail: str) -> Reason:
    lowered = log_tail.lower()
    for marker, reason in _KANIKO_STAGES:
        if marker in lowered:
            return reason
    return Reason.BUILD_FAILED


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
