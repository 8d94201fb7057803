"""GoImageBuild handlers: start the build of the current generation, retire older ones.

Runs on create, on every non-status change (a new generation, the rebuild
annotation), on resume after an operator restart, and for builds that wait
for a slot, when one frees. Each but the last first settles what the build's
Jobs and Pods did while the operator was away (`handlers.build_status`).
Idempotent: the build's Job has a deterministic name, so a build already
started is found in the jobs index (or refused by the API server as
AlreadyExists), never started twice. What to do is decided in the core
(`core.reconcile`, `core.enforcement`, `core.build_queue`); this module does it.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from goimage import git_remote, metrics
from goimage.core import build_queue, enforcement, naming, policy, reconcile, source, status
from goimage.core.conditions import Reason
from goimage.core.configmap import build_configmap
from goimage.core.dockerfile import render_dockerfile
from goimage.core.kaniko_job import build_kaniko_job
from goimage.core.plan import BuildPlan, plan_build
from goimage.core.settings import Settings
from goimage.core.spec import SpecError
from goimage.core.spec import poll_seconds as parse_poll
from goimage.core.status import waits_for_quota, waits_for_source
from goimage.handlers import build_status, events, first_listing
from goimage.handlers.clock import now
from goimage.k8s import api

RESOURCE = (naming.GROUP, naming.VERSION, naming.PLURAL)
# How often a waiting build looks for a slot by itself, besides being started
# when a build of its namespace ends: a safety net for an end this process
# saw before the index showed the waiting build.
QUEUE_RECHECK_S = 15.0
# A build whose Job a ResourceQuota refused is tried again after this long, then
# after twice as long each time, up to the cap: it starts by itself once the
# quota allows, without a create every few seconds for ever.
QUOTA_RETRY_FIRST_S = 5.0
QUOTA_RETRY_MAX_S = 60.0
# How long the operator waits for a public repository's git server to list its refs
# (each connect and each read): a handler thread is held that long at most.
GIT_TIMEOUT_S = 10.0
# How often the poll timer looks whether a resource's poll is due (`source.poll_step`
# keeps each resource's own interval): a new commit is seen within its interval plus this.
POLL_TICK_S = 5.0


def quota_retry_delay(retry: int) -> float:
    """Seconds before the next try of a build refused for quota, after `retry` tries."""
    return min(QUOTA_RETRY_FIRST_S * 2.0 ** max(retry, 0), QUOTA_RETRY_MAX_S)


class NamespaceLocks:
    """One lock per namespace: count the running builds and start one, as one step."""

    def __init__(self) -> None:
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._guard = threading.Lock()

    def of(self, namespace: str) -> threading.Lock:
        with self._guard:
            return self._locks[namespace]


class Indexes:
    """The indexes a reconcile reads, as kopf hands them to a handler."""

    def __init__(
        self,
        *,
        build_jobs: kopf.Index[Any, Any],
        build_policies: kopf.Index[Any, Any],
        namespace_labels: kopf.Index[Any, Any],
        queued_builds: kopf.Index[Any, Any],
    ) -> None:
        self.build_jobs = build_jobs
        self.build_policies = build_policies
        self.namespace_labels = namespace_labels
        self.queued_builds = queued_builds

    def governing(self, namespace: str) -> list[policy.Policy]:
        labels: Mapping[str, str] = next(iter(self.namespace_labels.get(namespace, [])), {})
        return policy.governing(self.build_policies.get(None, []), labels)


def start_build(plan: BuildPlan, job: dict[str, Any], new_status: dict[str, Any] | None) -> bool:
    """Write the build's status, make its ConfigMap and Job; False if the Job existed already
    (another event got there first)."""
    if new_status is not None:
        api.patch_build_status(plan.namespace, plan.resource_name, new_status)
    dockerfile = render_dockerfile(plan.spec, resource=plan.resource, commit=plan.commit)
    configmap_uid = api.create_configmap(
        build_configmap(
            name=plan.object_name,
            namespace=plan.namespace,
            labels=plan.labels,
            owner=plan.owner,
            dockerfile=dockerfile,
            spec=plan.raw_spec,
        )
    )
    if configmap_uid:
        # What lets the operator delete the ConfigMap later without reading it.
        annotations = job["metadata"].setdefault("annotations", {})
        annotations[naming.ANNOTATION_CONFIGMAP_UID] = configmap_uid
    return api.create_job(job)


def write_refusal(
    body: Mapping[str, Any], current: Mapping[str, Any], reason: Reason, message: str
) -> None:
    """Failed without a Job, written (and told in an Event) only when it is news."""
    meta = body["metadata"]
    patch = status.status_for_refusal(
        reason=reason,
        generation=int(meta.get("generation") or 1),
        message=message,
        previous=current,
        now=now(),
    )
    if status.would_change(patch, current):
        api.patch_build_status(meta["namespace"], meta["name"], patch)
        events.warn(meta, str(reason), message)


def _queue_or_start(
    plan: BuildPlan,
    admitted: enforcement.Admitted,
    decision: reconcile.Decision,
    job: dict[str, Any],
    *,
    current: Mapping[str, Any],
    queued: Iterable[build_queue.Waiting],
    locks: NamespaceLocks,
) -> bool:
    """Start the build if its namespace has a slot for it, else write its place in the queue."""
    if not admitted.limit:
        return start_build(plan, job, decision.status)
    since = current.get("queuedSince") if current.get("buildId") == plan.build_id else None
    me = build_queue.Waiting(plan.resource_name, str(since or now()))
    with locks.of(plan.namespace):
        # A consistent read: the index trails the Jobs this process just made.
        running = build_queue.running(api.list_build_jobs(plan.namespace))
        place = build_queue.decide(me, queued, running=running, limit=admitted.limit)
        if place.start:
            return start_build(plan, job, decision.status)
    patch = status.status_for_queued(
        plan,
        position=place.position,
        waiting=place.waiting,
        limit=admitted.limit,
        policy=admitted.limit_policy,
        previous=current,
        now=now(),
    )
    if status.would_change(patch, current):
        api.patch_build_status(plan.namespace, plan.resource_name, patch)
    return False


def write_quota_wait(
    plan: BuildPlan, current: Mapping[str, Any], refused: api.QuotaExceeded
) -> None:
    """Pending/WaitingForQuota, written (and told in an Event) only when it is news."""
    patch = status.status_for_quota(plan, refused=str(refused), previous=current, now=now())
    if status.would_change(patch, current):
        api.patch_build_status(plan.namespace, plan.resource_name, patch)
        if not waits_for_quota(current):
            meta = {"name": plan.resource_name, "namespace": plan.namespace, "uid": plan.uid}
            events.warn(meta, str(Reason.WAITING_FOR_QUOTA), str(refused))


class SourceWait(Exception):
    """The commit is being resolved by a resolve Job: the build goes on with its answer."""


def resolve_commit(
    plan: BuildPlan,
    request: str,
    *,
    current: Mapping[str, Any],
    settings: Settings,
    answers: source.Answers,
    placement: policy.PodPlacement | None,
) -> source.Resolved:
    """The commit `plan` builds. A commit revision is itself; a build whose status named
    its commit before its Job (queued, waiting for quota) keeps it; a public repository's
    refs the operator lists (this handler's thread waits GIT_TIMEOUT_S at most); a private
    one's a resolve Job lists with the Secret (SourceWait until its pod has answered:
    the resolve pod handler goes on then). Raises SourceUnavailable or ResolveError."""
    if plan.source is not None:
        return plan.source
    git = plan.spec.source.git
    named = source.resolved_in_status(current, build_id=plan.build_id, revision=git.revision)
    if named is not None:
        return named
    if not git.secret_name:
        return git_remote.resolve(git.url, git.revision, timeout_s=GIT_TIMEOUT_S)
    answer = answers.take((plan.uid, request, git.revision), now=time.monotonic())
    if isinstance(answer, source.Resolved):
        return answer
    if isinstance(answer, source.ResolveError):
        raise answer
    job = source.build_resolve_job(
        resource_name=plan.resource_name,
        namespace=plan.namespace,
        uid=plan.uid,
        generation=plan.generation,
        git=git,
        image=settings.reporter_image,
        service_account_name=plan.spec.builder.service_account_name,
        placement=placement,
        request=request,
    )
    api.create_job(job)  # AlreadyExists: it runs already
    raise SourceWait(job["metadata"]["name"])


def _carry_out(
    plan: BuildPlan,
    decision: reconcile.Decision,
    body: Mapping[str, Any],
    *,
    current: Mapping[str, Any],
    request: str,
    settings: Settings,
    indexes: Indexes,
    locks: NamespaceLocks,
    answers: source.Answers,
    logger: kopf.Logger,
) -> bool:
    """Start `plan`'s build if `decision` says so (its commit resolved first), then remove
    the builds it supersedes; True when the build waits to be tried again (quota, git)."""
    meta = body["metadata"]
    namespace, uid = meta["namespace"], meta["uid"]
    started = waits = False
    if decision.start:
        try:
            admitted = enforcement.enforce(
                plan,
                indexes.governing(namespace),
                settings,
                dockerfile=render_dockerfile(plan.spec, resource=plan.resource),
            )
            plan = plan.with_source(
                resolve_commit(
                    plan,
                    request,
                    current=current,
                    settings=settings,
                    answers=answers,
                    placement=admitted.placement,
                )
            )
            # A status written before the commit was known is replaced by the build's own.
            if decision.status is not None or status.awaits_source(current):
                new_status = status.status_for_new_build(plan, previous=current, now=now())
                decision = dataclasses.replace(decision, status=new_status)
            job = build_kaniko_job(plan, settings, admitted.placement)
            started = _queue_or_start(
                plan,
                admitted,
                decision,
                job,
                current=current,
                queued=indexes.queued_builds.get(namespace, []),
                locks=locks,
            )
        except SourceWait as wait:
            if not status.awaits_source(current) or current.get("buildId") != plan.build_id:
                patch = status.status_for_resolving(
                    plan, job_name=str(wait), previous=current, now=now()
                )
                api.patch_build_status(namespace, plan.resource_name, patch)
            # Unavailable before: keep the retry's growing delay while the pod answers.
            return waits_for_source(current)
        except source.SourceUnavailable as error:
            if status.source_wait_over(current, now()):
                patch = status.status_for_source_gone(
                    plan, error=str(error), previous=current, now=now()
                )
                api.patch_build_status(namespace, plan.resource_name, patch)
                events.warn(meta, str(Reason.SOURCE_FAILED), patch["failure"]["message"])
                return False
            write_source_unavailable(plan, current, str(error))
            logger.info("build %s waits for its source: %s", plan.build_id, error)
            waits = True
        except source.ResolveError as error:
            patch = status.status_for_source_failed(
                plan, error=str(error), previous=current, now=now()
            )
            if status.would_change(patch, current):
                api.patch_build_status(namespace, plan.resource_name, patch)
                events.warn(meta, str(Reason.SOURCE_FAILED), str(error))
            return False
        except enforcement.Refusal as refusal:
            write_refusal(body, current, refusal.reason, refusal.message)
        except api.Refused as refused:
            # Never retried: the same Job would be refused again, for ever.
            write_refusal(body, current, Reason.INVALID_SPEC, str(refused))
        except api.QuotaExceeded as refused:
            # Not the spec's fault: tried again with a growing delay, not every 10 s for ever.
            write_quota_wait(plan, current, refused)
            logger.info("build %s waits for quota: %s", plan.build_id, refused)
            waits = True
        except ApiException as error:
            if not api.namespace_terminating(error):
                raise
            logger.info("namespace %s is being deleted: no build started", namespace)
            return False
    if started:
        metrics.build_started(namespace)
        logger.info(
            "build %s of commit %s started as job %s", plan.build_id, plan.commit, plan.object_name
        )
        events.tell(
            meta,
            "Normal",
            "BuildStarted",
            f"build {plan.build_id}: job {plan.object_name}, commit {plan.commit}",
        )
    for old in decision.remove:
        api.delete_build_objects(namespace, old, owner_uid=uid)
        logger.info("removed build %s (superseded or past the history limit)", old)
    return waits


def write_source_unavailable(plan: BuildPlan, current: Mapping[str, Any], error: str) -> None:
    """Pending/SourceUnavailable, written (and told in an Event) only when it is news."""
    patch = status.status_for_source_unavailable(plan, error=error, previous=current, now=now())
    if status.would_change(patch, current):
        api.patch_build_status(plan.namespace, plan.resource_name, patch)
        if not waits_for_source(current):
            meta = {"name": plan.resource_name, "namespace": plan.namespace, "uid": plan.uid}
            events.warn(meta, str(Reason.SOURCE_UNAVAILABLE), error)


def _waiting_poll_build(
    plan: BuildPlan, jobs: Iterable[Mapping[str, Any]], current: Mapping[str, Any]
) -> bool:
    """Whether the status names a poll's build of `plan` whose Job is not made yet (queued,
    waiting for quota or for git): the poll's path starts it, not the generation's."""
    named = str(current.get("buildId") or "")
    if not naming.is_poll_build_of(named, plan.build_id):
        return False
    return not any(
        (job["metadata"].get("labels") or {}).get(naming.LABEL_BUILD_ID) == named for job in jobs
    )


def reconcile_body(
    body: Mapping[str, Any], *, settings: Settings, indexes: Indexes, locks: NamespaceLocks,
    logger: kopf.Logger, answers: source.Answers | None = None,
) -> bool:  # fmt: skip
    """Bring one GoImageBuild's builds where its spec asks; True when its build waits to
    be tried again (a ResourceQuota refused it, or git could not be asked: its status
    says so; `retry_waiting_build` tries again)."""
    meta = body["metadata"]
    namespace, uid = meta["namespace"], meta["uid"]
    current = dict(body.get("status") or {})
    answers = answers if answers is not None else source.Answers()
    try:
        plan = plan_build(body)
    except SpecError as error:
        write_refusal(body, current, Reason.INVALID_SPEC, str(error))
        return False
    jobs: Iterable[Mapping[str, Any]] = list(indexes.build_jobs.get((namespace, uid), []))
    if _waiting_poll_build(plan, jobs, current):
        return poll_body(
            body, settings=settings, indexes=indexes, locks=locks, logger=logger, answers=answers
        )
    decision = reconcile.decide(
        plan,
        jobs,
        current_status=current,
        history_limit=settings.history_limit,
        now=now(),
    )
    return _carry_out(
        plan,
        decision,
        body,
        current=current,
        request=plan.build_id,
        settings=settings,
        indexes=indexes,
        locks=locks,
        answers=answers,
        logger=logger,
    )


def poll_body(
    body: Mapping[str, Any], *, settings: Settings, indexes: Indexes, locks: NamespaceLocks,
    logger: kopf.Logger, answers: source.Answers,
) -> bool:  # fmt: skip
    """Look at the branch's head now: a new commit starts a build of the same generation.

    Nothing is started while no build of the generation records a commit (the
    generation's own build comes first, by `reconcile_body`). A head git cannot
    give now changes no status: the last build stands, and the next poll asks again.
    """
    meta = body["metadata"]
    namespace, uid = meta["namespace"], meta["uid"]
    current = dict(body.get("status") or {})
    try:
        plan = plan_build(body)
    except SpecError:
        return False  # reconcile_body says so in the status
    jobs: Iterable[Mapping[str, Any]] = list(indexes.build_jobs.get((namespace, uid), []))
    if not plan.spec.source.git.poll_seconds or plan.source is not None:
        return False
    if source.latest_build_commit(reconcile.family(plan, jobs), plan.generation) is None:
        return False
    try:
        head = resolve_commit(
            plan,
            source.POLL_REQUEST,
            current={},  # a poll asks git what the head is now
            settings=settings,
            answers=answers,
            placement=None,
        )
    except SourceWait:
        return False
    except source.ResolveError as error:
        logger.warning("poll of %s found no commit: %s", plan.spec.source.git.url, error)
        return False
    polled = reconcile.decide_poll(
        plan,
        jobs,
        head,
        current_status=current,
        history_limit=settings.history_limit,
        now=now(),
    )
    if polled is None:
        return False
    new_plan, decision = polled
    logger.info("poll found commit %s: build %s", head.commit, new_plan.build_id)
    return _carry_out(
        new_plan,
        decision,
        body,
        current=current,
        request=source.POLL_REQUEST,
        settings=settings,
        indexes=indexes,
        locks=locks,
        answers=answers,
        logger=logger,
    )


def poll_due(uid: str, interval_s: float, schedule: dict[str, datetime]) -> bool:
    """Whether a resource's poll is due on this tick; keeps its next time in `schedule`."""
    step = source.poll_step(
        uid=uid, interval_s=interval_s, next_poll=schedule.get(uid), now=datetime.now(UTC)
    )
    schedule[uid] = step.next_poll
    return step.due


def with_memo(
    step: Callable[..., bool],
    body: Mapping[str, Any],
    *,
    memo: kopf.Memo,
    indexes: Indexes,
    logger: kopf.Logger,
) -> bool:
    """`step` (`reconcile_body` or `poll_body`) of `body`, with what the operator's memo holds."""
    return step(
        body,
        settings=memo.settings,
        indexes=indexes,
        locks=memo.namespace_locks,
        logger=logger,
        answers=memo.source_answers,
    )


def start_waiting_builds(
    namespace: str, *, settings: Settings, indexes: Indexes, locks: NamespaceLocks,
    logger: kopf.Logger, answers: source.Answers | None = None,
) -> None:  # fmt: skip
    """A slot may have freed in `namespace`: reconcile its waiting builds, oldest first,
    until one of them cannot start."""
    waiting = sorted(indexes.queued_builds.get(namespace, []), key=lambda w: (w.since, w.name))
    for entry in waiting:
        body = api.get_build(namespace, entry.name)
        if body is None:
            continue
        reconcile_body(
            body, settings=settings, indexes=indexes, locks=locks, logger=logger, answers=answers
        )
        after = api.get_build(namespace, entry.name)
        if after is not None and build_queue.is_queued(after.get("status") or {}):
            return


# kopf passes each index (build_jobs, ...) as a keyword its handler protocols do not list.
# The timer is the safety net of the queue: a waiting build looks for a slot by itself.
@kopf.on.resume(*RESOURCE, backoff=10)
@kopf.on.create(*RESOURCE, backoff=10)
@kopf.on.update(*RESOURCE, backoff=10)
@kopf.timer(  # type: ignore[arg-type]
    *RESOURCE, interval=QUEUE_RECHECK_S, when=lambda status, **_: build_queue.is_queued(status)
)
def reconcile_build(
    *,
    body: kopf.Body,
    memo: kopf.Memo,
    logger: kopf.Logger,
    build_jobs: kopf.Index[Any, Any],
    build_pods: kopf.Index[Any, Any],
    goimagebuilds: kopf.Index[Any, Any],
    build_policies: kopf.Index[Any, Any],
    namespace_labels: kopf.Index[Any, Any],
    queued_builds: kopf.Index[Any, Any],
    reason: str | None = None,
    **_: Any,
) -> None:
    indexes = Indexes(
        build_jobs=build_jobs,
        build_policies=build_policies,
        namespace_labels=namespace_labels,
        queued_builds=queued_builds,
    )
    uid = body["metadata"]["uid"]
    try:
        if reason is not None:  # a change, not the queue's timer
            # First what the build's Jobs and Pods did while the operator was away (those
            # of its first listing reach no event handler).
            build_status.catch_up(
                namespace=body["metadata"]["namespace"],
                uid=uid,
                build_jobs=build_jobs,
                build_pods=build_pods,
                goimagebuilds=goimagebuilds,
                memo=memo,
                logger=logger,
            )
        with_memo(reconcile_body, body, memo=memo, indexes=indexes, logger=logger)
    finally:
        first_listing.handled(uid)  # one of the first listing makes room for the next


# A build that a ResourceQuota refused, or whose git server could not be asked,
# tries again by itself: first after QUOTA_RETRY_FIRST_S, then (kopf's
# TemporaryError) after a growing delay.
@kopf.timer(  # type: ignore[arg-type]
    *RESOURCE,
    interval=QUOTA_RETRY_FIRST_S,
    initial_delay=QUOTA_RETRY_FIRST_S,
    when=lambda status, **_: waits_for_quota(status) or waits_for_source(status),
)
def retry_after_quota(
    *,
    body: kopf.Body,
    memo: kopf.Memo,
    logger: kopf.Logger,
    retry: int,
    build_jobs: kopf.Index[Any, Any],
    build_policies: kopf.Index[Any, Any],
    namespace_labels: kopf.Index[Any, Any],
    queued_builds: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    indexes = Indexes(
        build_jobs=build_jobs,
        build_policies=build_policies,
        namespace_labels=namespace_labels,
        queued_builds=queued_builds,
    )
    if with_memo(reconcile_body, body, memo=memo, indexes=indexes, logger=logger):
        delay = quota_retry_delay(retry + 1)
        raise kopf.TemporaryError(f"still waiting; next try in {delay:.0f}s", delay=delay)


def _polls(spec: Mapping[str, Any]) -> bool:
    return bool(((spec.get("source") or {}).get("git") or {}).get("poll"))


# The poll: a fixed tick for every resource with spec.source.git.poll; each
# resource's own interval is kept in memory (`poll_due`), so a changed interval
# takes effect at once and no timer is re-made.
@kopf.timer(  # type: ignore[arg-type]
    *RESOURCE, interval=POLL_TICK_S, when=lambda spec, **_: _polls(spec)
)
def poll_source(
    *,
    body: kopf.Body,
    spec: kopf.Spec,
    memo: kopf.Memo,
    logger: kopf.Logger,
    build_jobs: kopf.Index[Any, Any],
    build_policies: kopf.Index[Any, Any],
    namespace_labels: kopf.Index[Any, Any],
    queued_builds: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    try:
        interval = spec_poll_seconds(spec)
    except SpecError:
        return
    if not interval or not poll_due(body["metadata"]["uid"], interval, memo.poll_schedule):
        return
    indexes = Indexes(
        build_jobs=build_jobs,
        build_policies=build_policies,
        namespace_labels=namespace_labels,
        queued_builds=queued_builds,
    )
    with_memo(poll_body, body, memo=memo, indexes=indexes, logger=logger)


def spec_poll_seconds(spec: Mapping[str, Any]) -> int:
    """spec.source.git.poll in seconds, without parsing the whole spec on every tick."""
    git = (spec.get("source") or {}).get("git") or {}
    return parse_poll(str(git.get("poll") or ""))
