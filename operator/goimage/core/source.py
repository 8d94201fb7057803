"""Which commit a build builds: revision kinds, refs to a commit, polling, the resolve Job.

The commit is chosen before the build's Job is made, and the Job pins it: the
image's revision label and a reproducible digest need it in the Dockerfile,
and Kaniko's arguments are fixed when the Job is made. A public repository's
refs the operator lists itself (`goimage.git_remote`); for a repository with
a `secretRef` a short resolve Job lists them with the Secret as env vars, so
the operator still reads no Secret: it reads only that pod's termination
message. Everything here is pure: no network, no API calls.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from goimage.core import naming
from goimage.core.policy import PodPlacement
from goimage.core.spec import GitSource

# The build Job's record of the commit it builds (naming holds every annotation key).
ANNOTATION_COMMIT = naming.ANNOTATION_COMMIT
# The resolve Job's record of what it resolves (a result for another revision is stale).
ANNOTATION_REVISION = naming.ANNOTATION_REVISION
# What a resolve pod's result is for: a build id (a build waits for it) or POLL_REQUEST.
ANNOTATION_RESOLVE_FOR = f"{naming.GROUP}/resolve-for"
POLL_REQUEST = "poll"
# app.kubernetes.io/component of a resolve Job and its pod; build Jobs carry "build".
COMPONENT_RESOLVE = naming.COMPONENT_RESOLVE
CONTAINER_RESOLVE = "resolve"
RESOLVE_SUFFIX = "resolve"
# A resolve pod lists refs and exits: a minute covers a slow git host and the image pull.
RESOLVE_DEADLINE_S = 120
# The Job controller removes a resolve Job the operator did not (e.g. it was down).
RESOLVE_TTL_S = 600
# The git timeout inside the resolve pod: well within the Job's deadline.
RESOLVE_GIT_TIMEOUT_S = 30.0
# The operator image's non-root user (as the report step's).
RESOLVER_UID = 65532
# A termination message is at most 4 KiB; an error is cut well below.
_MAX_ERROR = 1024

HEAD = "HEAD"
PEELED = "^{}"
_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


class ResolveError(ValueError):
    """A revision that names no commit of the repository, or a git server that did not say."""


class SourceUnavailable(ResolveError):
    """The git server could not be asked, or refused the credentials: worth another try
    later, unlike a revision the repository does not have."""


class RevisionKind(enum.Enum):
    HEAD = "head"  # no revision: the repository's default branch
    COMMIT = "commit"  # a full commit id: itself, no network
    REF = "ref"  # a full ref (refs/heads/x, refs/tags/v1, refs/pull/1/head)
    NAME = "name"  # a branch, else a tag, of that name


@dataclass(frozen=True)
class Resolved:
    """The commit a revision names now, and the full ref it was read from ("" for a commit)."""

    commit: str
    ref: str = ""


def revision_kind(revision: str) -> RevisionKind:
    if not revision:
        return RevisionKind.HEAD
    if _COMMIT.match(revision):
        return RevisionKind.COMMIT
    if revision.startswith("refs/"):
        return RevisionKind.REF
    return RevisionKind.NAME


def candidate_refs(revision: str) -> tuple[str, ...]:
    """The refs that may carry the revision, in the order git (and Kaniko) try them."""
    kind = revision_kind(revision)
    if kind is RevisionKind.HEAD:
        return (HEAD,)
    if kind is RevisionKind.COMMIT:
        return ()
    if kind is RevisionKind.REF:
        return (revision,)
    return (f"refs/heads/{revision}", f"refs/tags/{revision}")


def choose_commit(revision: str, refs: Mapping[str, str], *, head_target: str = "") -> Resolved:
    """The commit `revision` names in a ref listing (`git ls-remote`: name -> object id,
    with `<tag>^{}` entries for annotated tags peeled to their commit).

    A branch wins over a tag of the same name; an annotated tag gives the commit
    it points at, not the tag object. `head_target` is the ref HEAD points at,
    when the server says (it becomes `ref` for an empty revision).
    """
    kind = revision_kind(revision)
    if kind is RevisionKind.COMMIT:
        return Resolved(commit=revision)
    for ref in candidate_refs(revision):
        if ref not in refs:
            continue
        commit = refs.get(ref + PEELED, refs[ref])
        if not _COMMIT.match(commit):
            raise ResolveError(f"the git server gave {commit!r} for {ref}, not a commit id")
        name = head_target if ref == HEAD and head_target else ref
        return Resolved(commit=commit, ref=name)
    if kind is RevisionKind.HEAD:
        raise ResolveError("the repository has no HEAD (is it empty?)")
    if kind is RevisionKind.REF:
        raise ResolveError(f"the repository has no ref {revision}")
    hint = (
        " (a commit must be its full 40-character id)" if _looks_like_short_commit(revision) else ""
    )
    raise ResolveError(f"the repository has no branch or tag named {revision!r}{hint}")


def _looks_like_short_commit(revision: str) -> bool:
    return 4 <= len(revision) < 40 and all(c in "0123456789abcdef" for c in revision)


def kaniko_git_fragment(resolved: Resolved) -> str:
    """What follows `git://host/path` in Kaniko's --context to build exactly this commit.

    `#<ref>#<commit>` clones that ref and checks the commit out, so a commit
    reachable only from a tag or a pull ref is there too; `#<commit>` clones the
    default branch (all branches) and checks the commit out.
    """
    if resolved.ref and resolved.ref != HEAD:
        return f"#{resolved.ref}#{resolved.commit}"
    return f"#{resolved.commit}"


# --- polling -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollStep:
    """What one tick of the poll timer does for one GoImageBuild."""

    due: bool  # list the branch's head now
    next_poll: datetime  # when to look next: the caller keeps it (in memory) for the next tick


def first_poll(uid: str, interval_s: float, now: datetime) -> datetime:
    """When a resource's first check after a (re)start is due: within one interval, at an
    offset fixed by its uid, so 1,000 resources do not all ask git in the same second."""
    fraction = int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16) / 0x1_0000_0000
    return now + timedelta(seconds=interval_s * fraction)


def poll_step(
    *, uid: str, interval_s: float, next_poll: datetime | None, now: datetime
) -> PollStep:
    """Whether the branch's head is to be listed now, and when next.

    `next_poll` is what the previous step returned (None: none since the
    operator started). A shortened interval takes effect at once: the next
    check is never further away than one interval.
    """
    if next_poll is None:
        next_poll = first_poll(uid, interval_s, now)
    next_poll = min(next_poll, now + timedelta(seconds=interval_s))
    if now >= next_poll:
        return PollStep(due=True, next_poll=now + timedelta(seconds=interval_s))
    return PollStep(due=False, next_poll=next_poll)


def builds_new_commit(latest_commit: str | None, head: str) -> bool:
    """Whether the head a poll found starts a build of the same generation.

    `latest_commit` is the commit of the generation's latest build (its Job's
    annotation). None means no build of this generation records one (none has
    started, or its Job predates commits): the poll then starts nothing, so a
    restart or an upgrade never builds without a new commit.
    """
    if latest_commit is None or not _COMMIT.match(head):
        return False
    return head != latest_commit


def latest_build_commit(jobs: Iterable[Mapping[str, Any]], generation: int) -> str | None:
    """The commit of the newest build Job of `generation` (None: no such Job, or no commit)."""
    ours = [
        job
        for job in jobs
        if (job["metadata"].get("labels") or {}).get(naming.LABEL_COMPONENT, naming.COMPONENT_BUILD)
        == naming.COMPONENT_BUILD
        and (job["metadata"].get("labels") or {}).get(naming.LABEL_GENERATION) == str(generation)
    ]
    if not ours:
        return None
    newest = max(
        ours,
        key=lambda job: (job["metadata"].get("creationTimestamp") or "", job["metadata"]["name"]),
    )
    commit = (newest["metadata"].get("annotations") or {}).get(ANNOTATION_COMMIT)
    return commit if commit and _COMMIT.match(commit) else None


def resolved_in_status(
    status: Mapping[str, Any], *, build_id: str, revision: str
) -> Resolved | None:
    """The commit a build's status already names before its Job exists (it waits for a
    slot or for quota): that build keeps it, instead of asking git again and maybe
    building another commit than the one its status said."""
    if status.get("buildId") != build_id or status.get("jobName"):
        return None
    named = status.get("source") or {}
    commit = str(named.get("commit") or "")
    if named.get("revision") != revision or not _COMMIT.match(commit):
        return None
    return Resolved(commit=commit, ref=str(named.get("ref") or ""))


def poll_build_id(base_build_id: str, commit: str) -> str:
    """The id of a build a poll starts: the generation's id and the commit, so a restarted
    operator that finds the same new commit makes the same Job name (AlreadyExists)."""
    return f"{base_build_id}-c{commit[: naming.POLL_COMMIT_CHARS]}"


# --- the resolve Job (repositories with a secretRef) ---------------------------------------


def resolve_labels(resource_name: str, uid: str, generation: int) -> dict[str, str]:
    """Labels of a resolve Job and its pod: the owner's, but component `resolve` and no
    build id, so nothing that looks for build Jobs takes it for one."""
    return {
        naming.LABEL_MANAGED_BY: naming.MANAGED_BY,
        naming.LABEL_COMPONENT: COMPONENT_RESOLVE,
        naming.LABEL_BUILD_NAME: naming.label_value(resource_name),
        naming.LABEL_BUILD_UID: uid,
        naming.LABEL_GENERATION: str(generation),
    }


def resolve_job_name(resource_name: str, request: str = "") -> str:
    """One resolve Job per GoImageBuild and request (a build id, or POLL_REQUEST) at a time:
    its name is the lock, as a build's is; a poll's and a build's never wait for each other."""
    suffix = f"{RESOLVE_SUFFIX}-{request}" if request else RESOLVE_SUFFIX
    return naming.build_object_name(resource_name, suffix)


def git_env(git: GitSource) -> list[dict[str, Any]]:
    """The Secret's keys as the env vars Kaniko reads (GIT_USERNAME, GIT_PASSWORD, GIT_TOKEN):
    the resolve pod gets exactly what the build pod gets."""
    if not git.secret_name:
        return []
    return [
        {
            "name": variable,
            "valueFrom": {"secretKeyRef": {"name": git.secret_name, "key": key, "optional": True}},
        }
        for variable, key in (
            ("GIT_USERNAME", "username"),
            ("GIT_PASSWORD", "password"),
            ("GIT_TOKEN", "token"),
        )
    ]


def build_resolve_job(
    *,
    resource_name: str,
    namespace: str,
    uid: str,
    generation: int,
    git: GitSource,
    image: str,
    service_account_name: str = "",
    placement: PodPlacement | None = None,
    request: str = "",
) -> dict[str, Any]:
    """The Job whose pod runs `goimage-operator resolve` with the repository's Secret and
    writes {"commit", "ref"} as its termination message.

    `request` says what the answer is for (the build id that waits for it, or
    POLL_REQUEST); the pod carries it, and the revision, as annotations, so the
    operator reads both from the pod alone (`resolve_request`).
    """
    labels = resolve_labels(resource_name, uid, generation)
    pod_annotations = {ANNOTATION_REVISION: git.revision}
    if request:
        pod_annotations[ANNOTATION_RESOLVE_FOR] = request
    placement = placement or PodPlacement()
    container: dict[str, Any] = {
        "name": CONTAINER_RESOLVE,
        "image": image,
        "command": ["goimage-operator", "resolve"],
        "args": [
            f"--url={git.url}",
            f"--revision={git.revision}",
            f"--timeout={RESOLVE_GIT_TIMEOUT_S:g}",
        ],
        "env": git_env(git),
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RESOLVER_UID,
            "runAsGroup": RESOLVER_UID,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # A crash (not a refused revision, which the step writes itself) still tells why.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 5,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
    }
    if service_account_name:
        pod_spec["serviceAccountName"] = service_account_name
    # What a policy forces onto every build pod goes onto this one too.
    pod_spec.update(placement.pod_fields())
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": resolve_job_name(resource_name, request),
            "namespace": namespace,
            "labels": labels,
            "annotations": {ANNOTATION_REVISION: git.revision},
            "ownerReferences": [naming.owner_reference(resource_name, uid)],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": RESOLVE_DEADLINE_S,
            "ttlSecondsAfterFinished": RESOLVE_TTL_S,
            "template": {
                "metadata": {"labels": labels, "annotations": pod_annotations},
                "spec": pod_spec,
            },
        },
    }


@dataclass(frozen=True)
class ResolveRequest:
    """What a resolve pod answers: whose, for which generation, revision and request."""

    uid: str
    generation: int
    revision: str
    request: str


def resolve_request(pod: Mapping[str, Any]) -> ResolveRequest:
    """The request a resolve pod answers, from its labels and annotations."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    return ResolveRequest(
        uid=str(labels.get(naming.LABEL_BUILD_UID, "")),
        generation=int(labels.get(naming.LABEL_GENERATION) or 0),
        revision=str(annotations.get(ANNOTATION_REVISION, "")),
        request=str(annotations.get(ANNOTATION_RESOLVE_FOR, "")),
    )


def resolve_job_failure(job: Mapping[str, Any]) -> SourceUnavailable | None:
    """A resolve Job that ended Failed (its deadline, a pod that never ran): git could
    not be asked; None while it runs or when it completed (its pod has the answer)."""
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            why = condition.get("message") or condition.get("reason") or "it failed"
            return SourceUnavailable(f"the resolve job {job['metadata']['name']} ended: {why}")
    return None


def resolve_message(resolved: Resolved) -> str:
    """The resolve step's termination message on success."""
    return json.dumps({"commit": resolved.commit, "ref": resolved.ref}, sort_keys=True)


def resolve_error_message(error: ResolveError) -> str:
    """The resolve step's termination message when it found no commit."""
    unavailable = isinstance(error, SourceUnavailable)
    return json.dumps({"error": str(error)[:_MAX_ERROR], "unavailable": unavailable})


def parse_resolve_message(message: str) -> Resolved:
    """The commit in a resolve pod's termination message, or ResolveError with its words
    (SourceUnavailable when git could not say, or the step did not run to its end)."""
    try:
        data = json.loads(message)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        # A crash: the kubelet's tail of the log (FallbackToLogsOnError), or nothing.
        text = message.strip()[-_MAX_ERROR:] or "the resolve step wrote no result"
        raise SourceUnavailable(text)
    if "error" in data:
        kind = SourceUnavailable if data.get("unavailable") else ResolveError
        raise kind(str(data["error"]))
    commit, ref = data.get("commit"), data.get("ref", "")
    if not isinstance(commit, str) or not _COMMIT.match(commit) or not isinstance(ref, str):
        raise SourceUnavailable(f"the resolve step wrote no commit: {message[:200]!r}")
    return Resolved(commit=commit, ref=ref)


def resolve_pod_result(pod: Mapping[str, Any]) -> Resolved | ResolveError | None:
    """A resolve pod's answer: the commit, the reason it has none, or None while it runs."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") != CONTAINER_RESOLVE:
            continue
        terminated = (status.get("state") or {}).get("terminated")
        if not terminated:
            return None
        try:
            resolved = parse_resolve_message(terminated.get("message") or "")
        except ResolveError as error:
            return error
        if terminated.get("exitCode") != 0:
            return SourceUnavailable(f"the resolve step exited {terminated.get('exitCode')}")
        return resolved
    return None


# --- the answers of resolve pods, until a build or a poll takes them ----------------------

# An answer older than this is not used: a resolve Job lives at most that long.
ANSWER_TTL_S = float(RESOLVE_DEADLINE_S)
AnswerKey = tuple[str, str, str]  # (GoImageBuild uid, request, revision)


class Answers:
    """Resolve pods' answers that the operator has read and not used yet.

    Each is taken once (by the build or the poll that asked), none is used
    after ANSWER_TTL_S, and each pod is read once: a pod's later events (its
    deletion) do not put an old answer back. In memory only: after a restart,
    a resolve pod still there is read again from the initial listing.
    """

    def __init__(self, limit: int = 4096) -> None:
        self._answers: OrderedDict[AnswerKey, tuple[float, Resolved | ResolveError]] = OrderedDict()
        self._pods: OrderedDict[str, None] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def put(
        self, key: AnswerKey, answer: Resolved | ResolveError, *, pod_uid: str, now: float
    ) -> bool:
        """Keep `answer`; False (and nothing kept) if pod `pod_uid` was read already."""
        with self._lock:
            if pod_uid in self._pods:
                return False
            self._pods[pod_uid] = None
            self._answers[key] = (now, answer)
            for kept in (self._pods, self._answers):
                while len(kept) > self._limit:
                    kept.popitem(last=False)
            return True

    def take(self, key: AnswerKey, *, now: float) -> Resolved | ResolveError | None:
        """The answer for `key`, removed; None if there is none recent enough."""
        with self._lock:
            entry = self._answers.pop(key, None)
        if entry is None or now - entry[0] > ANSWER_TTL_S:
            return None
        return entry[1]
