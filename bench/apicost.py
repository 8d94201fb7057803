"""API requests as the API server counts them: ``apiserver_request_total`` from /metrics.

A window's count is the difference of two scrapes. The operator's share of a
window is what remains after taking away the benchmark's own requests (its
client counts them) and the background: what the same workload costs with no
operator (the floor run: the controller-manager's Job controller and garbage
collector, the API server's own housekeeping), per build.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping

from bench.kube import Kube, RequestKey

# (verb, resource, subresource): the labels that matter here (code, scope,
# version and component are summed over).
_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
_LONGRUNNING = re.compile(r"^apiserver_longrunning_requests\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

WATCH = "WATCH"
READS = ("GET", "LIST")
WRITES = ("POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION", "APPLY")

# The least the design needs per build, with the reason for each; see bench/README.md.
MINIMUM: dict[RequestKey, tuple[int, str]] = {
    ("POST", "configmaps", ""): (1, "the rendered Dockerfile reaches the build pod"),
    ("POST", "jobs", ""): (1, "the Kaniko build itself"),
    ("PATCH", "goimagebuilds", "status"): (
        2,
        "Pending at observedGeneration N when the build starts (kstatus: seen, reconciling), "
        "Succeeded with digest and size when it ends",
    ),
    ("POST", "events", ""): (2, "BuildStarted and BuildSucceeded, as documented"),
}


def _samples(text: str, pattern: re.Pattern[str]) -> Counter[RequestKey]:
    counts: Counter[RequestKey] = Counter()
    for line in text.splitlines():
        match = pattern.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        key = (labels.get("verb", ""), labels.get("resource", ""), labels.get("subresource", ""))
        counts[key] += int(float(match["value"]))
    return counts


def scrape(kube: Kube) -> tuple[Counter[RequestKey], Counter[RequestKey]]:
    """Requests completed so far, and long-running requests (watches) open now."""
    text = kube.get_text("/metrics")
    return _samples(text, _SAMPLE), _samples(text, _LONGRUNNING)


def difference(
    after: Mapping[RequestKey, int], before: Mapping[RequestKey, int]
) -> Counter[RequestKey]:
    result: Counter[RequestKey] = Counter()
    for key in set(after) | set(before):
        delta = after.get(key, 0) - before.get(key, 0)
        if delta:
            result[key] = delta
    return result


def without_own(counted: Counter[RequestKey], own: Mapping[RequestKey, int]) -> Counter[RequestKey]:
    """`counted` less the benchmark's own completed requests (its watches end later)."""
    result = Counter(counted)
    for key, value in own.items():
        if key[0] != WATCH:
            result[key] -= value
    return result


def per_build(
    with_operator: Counter[RequestKey], background: Counter[RequestKey], builds: int
) -> dict[RequestKey, float]:
    """(operator run - floor run), both already less the benchmark's own requests, per build."""
    result: dict[RequestKey, float] = {}
    for key in set(with_operator) | set(background):
        value = (with_operator.get(key, 0) - background.get(key, 0)) / builds
        if abs(value) >= 0.005:
            result[key] = value
    return result


def label(key: RequestKey) -> str:
    verb, resource, subresource = key
    if not resource:  # a non-resource URL (discovery, /metrics)
        return f"{verb} {subresource or '/metrics'}"
    return f"{verb} {resource}{'/' + subresource if subresource else ''}"


# What the operator's code can request (handlers/, k8s/api.py, kopf's own patches
# and events). The rest of a window (pods, jobs/status, leases, ...) is the
# controller-manager's and the API server's, whatever the difference of two runs
# says of it.
OPERATOR_RESOURCES = {
    ("goimagebuilds", ""),
    ("goimagebuilds", "status"),
    ("configmaps", ""),
    ("jobs", ""),
    ("pods", "log"),
    ("events", ""),
}


def operators(
    per_build_: dict[RequestKey, float], events_posted: int, builds: int
) -> dict[RequestKey, float]:
    """The operator's share: its resources only, its events counted as Event objects.

    Events are posted by the controller-manager too, a number that varies between
    runs; the operator's own are exact: the Event objects kopf made.
    """
    result = {k: v for k, v in per_build_.items() if (k[1], k[2]) in OPERATOR_RESOURCES}
    result = {k: v for k, v in result.items() if k[1] != "events"}
    if events_posted:
        result[("POST", "events", "")] = events_posted / builds
    return result
