"""The source commit through the operator's pure parts: spec.source.git.poll, the plan's
commit, status.source from the Job, which build is current when a poll started newer
ones, what a poll decides, and the resolve pods' answers.

Jobs are the Kaniko Jobs the operator makes (kaniko_job), shaped as the jobs index
keeps them; the GoImageBuild as the goimagebuilds index keeps it.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit import factories
from tests.unit.factories import COMMIT

from goimage.core import kaniko_job, naming, reconcile, source, status, status_update
from goimage.core.conditions import Reason
from goimage.core.plan import BuildPlan
from goimage.core.settings import Settings
from goimage.core.source import Resolved, ResolveError, SourceUnavailable
from goimage.core.spec import SpecError, parse_spec

NOW = "2025-11-20T10:30:00Z"
NEW = "9" * 40
HEAD = Resolved(COMMIT, "refs/heads/main")


def plan(values: dict[str, Any] | None = None, **body_args: Any) -> BuildPlan:
    return factories.plan({"source.git.revision": "main", **(values or {})}, **body_args)


def indexed(build: BuildPlan, created: str, *, done: bool = False) -> dict[str, Any]:
    """`build`'s Job as the jobs index keeps it."""
    job = kaniko_job.build_kaniko_job(build, Settings())
    job["metadata"]["creationTimestamp"] = created
    conditions = [{"type": "Complete", "status": "True"}] if done else []
    return {"metadata": job["metadata"], "spec": job["spec"], "status": {"conditions": conditions}}


# --- spec.source.git.poll --------------------------------------------------------------------


def test_poll_is_a_duration_in_seconds() -> None:
    git = factories.parse({"source.git.poll": "5m"}).source.git
    assert git.poll_seconds == 300
    assert factories.parse().source.git.poll_seconds == 0


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"source.git.poll": "29s"}, "minimum, 30s"),
        ({"source.git.poll": "5 minutes"}, "not a duration"),
        ({"source.git.revision": COMMIT, "source.git.poll": "1h"}, "a commit never moves"),
        ({"source.git.revision": "a" * 64, "source.git.poll": "1h"}, "a commit never moves"),
    ],
)
def test_poll_refusals_name_the_field(values: dict[str, Any], words: str) -> None:
    with pytest.raises(SpecError) as refused:
        parse_spec(factories.spec_with(values))
    assert refused.value.field == "spec.source.git.poll"
    assert words in refused.value.message


def test_a_tag_or_the_default_branch_may_be_polled() -> None:
    assert factories.parse({"source.git.revision": "v1", "source.git.poll": "1m"})
    assert factories.parse({"source.git.revision": "", "source.git.poll": "30s"})


# --- the plan's commit -----------------------------------------------------------------------


def test_a_branch_is_resolved_later_a_commit_now() -> None:
    assert plan().source is None
    assert plan().commit == ""
    assert factories.plan({"source.git.revision": COMMIT}).source == Resolved(COMMIT)
    assert factories.plan({"source.git.revision": "b" * 64}).source == Resolved("b" * 64)


def test_a_poll_build_is_named_after_the_generation_and_the_commit() -> None:
    polled = plan().for_poll(Resolved(NEW, "refs/heads/main"))
    assert polled.build_id == f"3-c{NEW[:10]}"
    assert polled.object_name == f"gitback-3-c{NEW[:10]}"
    assert polled.labels[naming.LABEL_GENERATION] == "3"
    assert polled.commit == NEW


@pytest.mark.parametrize(
    ("build", "base", "poll", "family"),
    [
        ("3", "3", False, True),
        ("3-c0123456789", "3", True, True),
        ("3-c01234", "3", False, False),  # a rebuild token's hash, not a poll
        ("3-c0123456789", "3-c01234", False, False),
        ("3-c01234-c0123456789", "3-c01234", True, True),
        ("4-c0123456789", "3", False, False),
    ],
)
def test_poll_builds_are_told_apart_from_rebuilds(
    build: str, base: str, poll: bool, family: bool
) -> None:
    assert naming.is_poll_build_of(build, base) is poll
    assert naming.in_build_family(build, base) is family


# --- status.source ---------------------------------------------------------------------------


def test_status_source_comes_from_the_job() -> None:
    job = indexed(plan().with_source(HEAD), "2025-11-20T10:00:00Z")
    patch = status.status_from_build(job=job, pod=None, previous={}, now=NOW)
    assert patch["source"] == {
        "url": factories.GIT_URL,
        "revision": "main",
        "commit": COMMIT,
        "shortCommit": COMMIT[:12],
        "ref": "refs/heads/main",
    }


def test_a_new_build_says_its_commit_before_its_job_runs() -> None:
    patch = status.status_for_new_build(plan().with_source(HEAD), previous={}, now=NOW)
    assert patch["source"]["commit"] == COMMIT
    assert patch["source"]["url"] == factories.GIT_URL


def test_git_unavailable_is_pending_and_tried_again() -> None:
    patch = status.status_for_source_unavailable(
        plan(), error="connection refused", previous={}, now=NOW
    )
    assert patch["phase"] == "Pending"
    ready = patch["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", str(Reason.SOURCE_UNAVAILABLE))
    assert "connection refused" in ready["message"]
    assert "spec.source.git.revision 'main'" in ready["message"]
    assert status.waits_for_source(patch)
    assert status.awaits_source(patch)
    assert not status.waits_for_quota(patch)


def test_git_unreachable_past_the_limit_ends_source_failed() -> None:
    waiting = status.status_for_source_unavailable(
        plan(), error="connection refused", previous={}, now=NOW
    )
    just_before = "2025-11-20T10:31:59Z"
    at_limit = "2025-11-20T10:32:00Z"  # NOW + SOURCE_WAIT_LIMIT_S
    assert status.SOURCE_WAIT_LIMIT_S == 120
    assert not status.source_wait_over(waiting, just_before)
    assert status.source_wait_over(waiting, at_limit)
    # Still waiting, written again later: the wait counts from when it began.
    again = status.status_for_source_unavailable(
        plan(), error="connection refused", previous=waiting, now=just_before
    )
    assert status.source_wait_over(again, at_limit)
    gone = status.status_for_source_gone(
        plan(), error="connection refused", previous=waiting, now=at_limit
    )
    assert gone["phase"] == "Failed"
    assert gone["failure"]["reason"] == str(Reason.SOURCE_FAILED)
    message = gone["failure"]["message"]
    assert "git server of https://" in message
    assert "could not be asked for 120 s (connection refused)" in message
    assert "goimage.dev/rebuild" in message
    assert not status.waits_for_source(gone)


def test_a_missing_revision_fails_source_failed_naming_the_field() -> None:
    patch = status.status_for_source_failed(
        plan(), error="the repository has no branch or tag named 'main'", previous={}, now=NOW
    )
    assert patch["phase"] == "Failed"
    assert patch["failure"]["reason"] == "SourceFailed"
    assert patch["failure"]["message"].startswith("spec.source.git.revision 'main': ")
    assert patch["source"]["commit"] is None


def test_resolving_awaits_the_source() -> None:
    patch = status.status_for_resolving(plan(), job_name="gitback-resolve-3", previous={}, now=NOW)
    assert patch["phase"] == "Pending"
    assert patch["jobName"] is None
    assert status.awaits_source(patch)
    assert not status.waits_for_source(patch)


def test_a_waiting_build_keeps_the_commit_its_status_named() -> None:
    resolved = plan().with_source(HEAD)
    queued = status.status_for_queued(
        resolved, position=1, waiting=1, limit=1, policy="p", previous={}, now=NOW
    )
    assert queued["source"]["ref"] == "refs/heads/main"
    assert source.resolved_in_status(queued, build_id="3", revision="main") == HEAD
    # Another build, another revision, or a Job made: it asks git again.
    assert source.resolved_in_status(queued, build_id="3-abcdef", revision="main") is None
    assert source.resolved_in_status(queued, build_id="3", revision="v1") is None
    assert (
        source.resolved_in_status(queued | {"jobName": "x"}, build_id="3", revision="main") is None
    )
    unavailable = status.status_for_source_unavailable(plan(), error="x", previous={}, now=NOW)
    assert source.resolved_in_status(unavailable, build_id="3", revision="main") is None


# --- which build is current ------------------------------------------------------------------


def owner(**status_: Any) -> dict[str, Any]:
    body = factories.body(generation=3)
    return {"metadata": body["metadata"], "status": status_}


def test_a_poll_build_is_current_once_made_and_the_older_one_no_more() -> None:
    base = indexed(plan().with_source(HEAD), "2025-11-20T10:00:00Z", done=True)
    polled_plan = plan().for_poll(Resolved(NEW, "refs/heads/main"))
    polled = indexed(polled_plan, "2025-11-20T10:05:00Z")
    jobs = [base, polled]
    named = owner(buildId=polled_plan.build_id)
    assert status_update.runs_current_build(polled, named, jobs)
    assert not status_update.runs_current_build(base, named, jobs)
    # Its status written, its Job not indexed yet: the older build writes nothing.
    assert not status_update.runs_current_build(base, named, [base])
    # Before any poll: the generation's own build.
    assert status_update.runs_current_build(base, owner(buildId="3"), [base])


# --- what reconciling and polling decide -----------------------------------------------------


def test_a_poll_build_stands_for_its_generation() -> None:
    base = indexed(plan().with_source(HEAD), "2025-11-20T10:00:00Z", done=True)
    polled = indexed(plan().for_poll(Resolved(NEW)), "2025-11-20T10:05:00Z")
    decision = reconcile.decide(plan(), [base, polled], current_status={}, history_limit=3, now=NOW)
    # Not started again, and the running poll build is not taken for an old one.
    assert not decision.start
    assert decision.remove == ()


def test_a_resolve_job_is_no_build() -> None:
    resolve_job = source.build_resolve_job(
        resource_name="gitback",
        namespace="team-a",
        uid=factories.UID,
        generation=3,
        git=plan().spec.source.git,
        image="operator:1",
        request="3",
    )
    assert reconcile.build_jobs_only([resolve_job]) == []
    decision = reconcile.decide(plan(), [resolve_job], current_status={}, history_limit=3, now=NOW)
    assert decision.start
    assert decision.remove == ()


def poll(jobs: list[dict[str, Any]], head: Resolved, current: dict[str, Any] | None = None) -> Any:
    return reconcile.decide_poll(
        plan(), jobs, head, current_status=current or {}, history_limit=3, now=NOW
    )


def test_no_build_without_a_new_commit() -> None:
    base = indexed(plan().with_source(HEAD), "2025-11-20T10:00:00Z", done=True)
    assert poll([base], HEAD) is None


def test_no_poll_build_before_the_generation_records_a_commit() -> None:
    assert poll([], Resolved(NEW)) is None
    unresolved = indexed(plan(), "2025-11-20T10:00:00Z", done=True)
    assert poll([unresolved], Resolved(NEW)) is None


def test_a_new_commit_starts_one_build_of_the_same_generation() -> None:
    base = indexed(plan().with_source(HEAD), "2025-11-20T10:00:00Z")
    decided = poll([base], Resolved(NEW, "refs/heads/main"))
    assert decided is not None
    polled, decision = decided
    assert polled.build_id == f"3-c{NEW[:10]}"
    assert polled.generation == 3
    assert decision.start
    assert decision.status is not None
    assert decision.status["observedGeneration"] == 3
    reconciling = [c for c in decision.status["conditions"] if c["type"] == "Reconciling"]
    assert reconciling[0]["status"] == "True"
    assert decision.status["source"]["commit"] == NEW
    # The generation's running build is superseded, as by a new spec.
    assert decision.remove == ("gitback-3",)
    # Its Job made (or found after a restart): the same commit starts nothing more.
    made = indexed(polled, "2025-11-20T10:05:00Z")
    assert poll([base, made], Resolved(NEW, "refs/heads/main")) is None


def test_a_commit_built_already_is_not_built_again() -> None:
    base = indexed(plan().with_source(HEAD), "2025-11-20T10:00:00Z", done=True)
    polled = indexed(plan().for_poll(Resolved(NEW)), "2025-11-20T10:05:00Z", done=True)
    # The branch moved back to the generation's first commit: that one, built, once more.
    decided = poll([base, polled], HEAD)
    assert decided is not None
    assert decided[0].build_id == f"3-c{COMMIT[:10]}"
    again = indexed(decided[0], "2025-11-20T10:09:00Z")
    assert poll([base, polled, again], HEAD) is None


# --- the resolve pods' answers ---------------------------------------------------------------


def test_an_answer_is_taken_once_and_a_pod_read_once() -> None:
    answers = source.Answers()
    key = ("uid", "3", "main")
    assert answers.put(key, HEAD, pod_uid="pod-1", now=0.0)
    assert not answers.put(key, Resolved(NEW), pod_uid="pod-1", now=1.0)
    assert answers.take(key, now=2.0) == HEAD
    assert answers.take(key, now=3.0) is None


def test_an_old_answer_is_not_used() -> None:
    answers = source.Answers()
    answers.put(("uid", "poll", "main"), HEAD, pod_uid="pod-1", now=0.0)
    assert answers.take(("uid", "poll", "main"), now=source.ANSWER_TTL_S + 1) is None


def test_a_resolve_pod_says_what_it_answers() -> None:
    job = source.build_resolve_job(
        resource_name="gitback",
        namespace="team-a",
        uid="u-1",
        generation=3,
        git=plan().spec.source.git,
        image="operator:1",
        request=source.POLL_REQUEST,
    )
    assert job["metadata"]["name"] == "gitback-resolve-poll"
    pod = {"metadata": job["spec"]["template"]["metadata"]}
    assert source.resolve_request(pod) == source.ResolveRequest("u-1", 3, "main", "poll")


def test_a_failed_resolve_job_is_an_unavailable_source() -> None:
    job = {
        "metadata": {"name": "gitback-resolve-3"},
        "status": {
            "conditions": [{"type": "Failed", "status": "True", "message": "Job was active longer"}]
        },
    }
    error = source.resolve_job_failure(job)
    assert isinstance(error, SourceUnavailable)
    assert isinstance(error, ResolveError)
    assert "Job was active longer" in str(error)
    assert source.resolve_job_failure({"metadata": {"name": "x"}, "status": {}}) is None
