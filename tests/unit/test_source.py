"""core.source: revisions, refs to a commit, the poll schedule, the resolve Job and its result."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.unit.factories import COMMIT, GIT_URL, NAME, NAMESPACE, UID

from goimage import git_remote, resolver
from goimage.core import naming, source
from goimage.core.policy import PodPlacement
from goimage.core.source import Resolved, ResolveError, RevisionKind, SourceUnavailable
from goimage.core.spec import GitSource, Toleration

TAG_OBJECT = "9" * 40
OTHER = "a" * 40
NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

# As `git ls-remote` lists a repository with a branch and a tag both named
# "v1", an annotated tag (with its peeled entry) and a lightweight one.
REFS = {
    "HEAD": COMMIT,
    "refs/heads/main": COMMIT,
    "refs/heads/v1": OTHER,
    "refs/tags/v1": TAG_OBJECT,
    "refs/tags/v1^{}": COMMIT,
    "refs/tags/light": OTHER,
    "refs/pull/7/head": OTHER,
}


@pytest.mark.parametrize(
    ("revision", "kind"),
    [
        ("", RevisionKind.HEAD),
        (COMMIT, RevisionKind.COMMIT),
        ("b" * 64, RevisionKind.COMMIT),
        ("refs/tags/v1", RevisionKind.REF),
        ("main", RevisionKind.NAME),
        ("4f1c2b3", RevisionKind.NAME),  # short ids are not commits: ls-remote cannot see them
        (COMMIT.upper(), RevisionKind.NAME),
    ],
)
def test_revision_kinds(revision: str, kind: RevisionKind) -> None:
    assert source.revision_kind(revision) is kind


def test_candidate_refs_follow_git_order() -> None:
    assert source.candidate_refs("") == ("HEAD",)
    assert source.candidate_refs(COMMIT) == ()
    assert source.candidate_refs("refs/pull/7/head") == ("refs/pull/7/head",)
    assert source.candidate_refs("v1") == ("refs/heads/v1", "refs/tags/v1")


def test_a_commit_is_itself_without_a_listing() -> None:
    assert source.choose_commit(COMMIT, {}) == Resolved(commit=COMMIT)


def test_a_branch_wins_over_a_tag_of_the_same_name() -> None:
    assert source.choose_commit("v1", REFS) == Resolved(commit=OTHER, ref="refs/heads/v1")


def test_an_annotated_tag_is_peeled_to_its_commit() -> None:
    refs = {k: v for k, v in REFS.items() if k != "refs/heads/v1"}
    assert source.choose_commit("v1", refs) == Resolved(commit=COMMIT, ref="refs/tags/v1")
    assert source.choose_commit("refs/tags/v1", REFS) == Resolved(COMMIT, "refs/tags/v1")


def test_a_lightweight_tag_and_a_full_ref_as_given() -> None:
    assert source.choose_commit("light", REFS) == Resolved(OTHER, "refs/tags/light")
    assert source.choose_commit("refs/pull/7/head", REFS) == Resolved(OTHER, "refs/pull/7/head")


def test_no_revision_is_head_named_by_its_target() -> None:
    assert source.choose_commit("", REFS) == Resolved(COMMIT, "HEAD")
    resolved = source.choose_commit("", REFS, head_target="refs/heads/main")
    assert resolved == Resolved(COMMIT, "refs/heads/main")


@pytest.mark.parametrize(
    ("revision", "refs", "words"),
    [
        ("nope", REFS, "no branch or tag named 'nope'"),
        ("4f1c2b3", REFS, "its full 40-character id"),
        ("refs/heads/gone", REFS, "no ref refs/heads/gone"),
        ("", {}, "no HEAD"),
        ("main", {"refs/heads/main": "not-a-commit"}, "not a commit id"),
    ],
)
def test_revisions_that_name_no_commit(revision: str, refs: dict[str, str], words: str) -> None:
    with pytest.raises(ResolveError, match=words):
        source.choose_commit(revision, refs)


def test_kaniko_fragment_clones_the_ref_and_checks_out_the_commit() -> None:
    assert source.kaniko_git_fragment(Resolved(COMMIT, "refs/tags/v1")) == (
        f"#refs/tags/v1#{COMMIT}"
    )
    assert source.kaniko_git_fragment(Resolved(COMMIT, "HEAD")) == f"#{COMMIT}"
    assert source.kaniko_git_fragment(Resolved(COMMIT)) == f"#{COMMIT}"


# --- polling ----------------------------------------------------------------------------------


def test_first_poll_is_within_one_interval_and_spread_by_uid() -> None:
    firsts = {source.first_poll(f"uid-{i}", 300, NOW) for i in range(1000)}
    assert all(NOW <= first < NOW + timedelta(seconds=300) for first in firsts)
    # Spread over the interval: no ten-second window holds more than 1000/30*3 resources.
    windows = [int((first - NOW).total_seconds() // 10) for first in firsts]
    assert max(windows.count(w) for w in set(windows)) < 100
    assert source.first_poll("uid-1", 300, NOW) == source.first_poll("uid-1", 300, NOW)


def test_poll_steps_through_the_intervals() -> None:
    first = source.poll_step(uid=UID, interval_s=60, next_poll=None, now=NOW)
    assert not first.due
    assert NOW <= first.next_poll < NOW + timedelta(seconds=60)
    before = source.poll_step(
        uid=UID,
        interval_s=60,
        next_poll=first.next_poll,
        now=first.next_poll - timedelta(milliseconds=1),
    )
    assert before == source.PollStep(due=False, next_poll=first.next_poll)
    at = source.poll_step(uid=UID, interval_s=60, next_poll=first.next_poll, now=first.next_poll)
    assert at == source.PollStep(due=True, next_poll=first.next_poll + timedelta(seconds=60))


def test_a_shorter_interval_takes_effect_at_once() -> None:
    step = source.poll_step(uid=UID, interval_s=30, next_poll=NOW + timedelta(hours=1), now=NOW)
    assert step == source.PollStep(due=False, next_poll=NOW + timedelta(seconds=30))


@pytest.mark.parametrize(
    ("latest", "head", "build"),
    [
        (COMMIT, COMMIT, False),  # no build without a new commit
        (COMMIT, OTHER, True),  # one build per new commit
        (None, OTHER, False),  # no build of the generation records a commit: the poll waits
        (COMMIT, "", False),  # the server said nothing usable
    ],
)
def test_builds_only_a_new_commit(latest: str | None, head: str, build: bool) -> None:
    assert source.builds_new_commit(latest, head) is build


def job(
    name: str, generation: int, created: str, commit: str | None, component: str = "build"
) -> dict[str, Any]:
    annotations = {} if commit is None else {source.ANNOTATION_COMMIT: commit}
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": created,
            "labels": {naming.LABEL_GENERATION: str(generation), naming.LABEL_COMPONENT: component},
            "annotations": annotations,
        }
    }


def test_latest_build_commit_is_the_newest_build_job_of_the_generation() -> None:
    jobs = [
        job("app-2", 2, "2026-01-01T10:00:00Z", COMMIT),
        job("app-2-cb", 2, "2026-01-01T11:00:00Z", OTHER),
        job("app-3", 3, "2026-01-01T12:00:00Z", COMMIT),
        job("app-resolve", 2, "2026-01-01T13:00:00Z", None, component="resolve"),
    ]
    assert source.latest_build_commit(jobs, 2) == OTHER
    assert source.latest_build_commit(jobs, 3) == COMMIT
    assert source.latest_build_commit(jobs, 4) is None
    # A Job made before builds recorded commits: nothing to compare with.
    assert source.latest_build_commit([job("app-5", 5, "2026-01-01T10:00:00Z", None)], 5) is None


def test_poll_build_ids_are_fixed_by_the_commit() -> None:
    assert source.poll_build_id("3", COMMIT) == "3-c4f1c2b3a5d"
    name = naming.build_object_name("x" * 63, source.poll_build_id("3-abcdef", COMMIT))
    assert len(name) <= 63
    assert name.endswith(f"-3-abcdef-c{COMMIT[:10]}")


# --- the resolve Job --------------------------------------------------------------------------

PRIVATE = GitSource(url=GIT_URL, revision="main", secret_name="git-creds")


def resolve_job(**kwargs: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "resource_name": NAME,
        "namespace": NAMESPACE,
        "uid": UID,
        "generation": 4,
        "git": PRIVATE,
        "image": "registry.example.com/goimage-operator:1",
    }
    return source.build_resolve_job(**(args | kwargs))


def test_resolve_job_runs_the_resolve_step_with_the_builds_git_env() -> None:
    job_ = resolve_job()
    pod = job_["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["goimage-operator", "resolve"]
    assert container["args"] == [f"--url={GIT_URL}", "--revision=main", "--timeout=30"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert refs == {
        "GIT_USERNAME": {"name": "git-creds", "key": "username", "optional": True},
        "GIT_PASSWORD": {"name": "git-creds", "key": "password", "optional": True},
        "GIT_TOKEN": {"name": "git-creds", "key": "token", "optional": True},
    }
    # The build pod's credentials, the same way (kaniko_job._git_env less GIT_PULL_METHOD).
    from goimage.core import kaniko_job

    kaniko_env = [e for e in kaniko_job._git_env(PRIVATE) if e["name"] != "GIT_PULL_METHOD"]
    assert container["env"] == kaniko_env
    assert pod["automountServiceAccountToken"] is False
    assert pod["restartPolicy"] == "Never"
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert job_["spec"]["backoffLimit"] == 0
    assert job_["spec"]["activeDeadlineSeconds"] == source.RESOLVE_DEADLINE_S
    assert job_["spec"]["ttlSecondsAfterFinished"] == source.RESOLVE_TTL_S


def test_resolve_job_is_no_build_job() -> None:
    meta = resolve_job()["metadata"]
    assert meta["name"] == f"{NAME}-resolve"
    assert meta["labels"][naming.LABEL_COMPONENT] == "resolve"
    assert naming.LABEL_BUILD_ID not in meta["labels"]
    assert meta["labels"][naming.LABEL_BUILD_UID] == UID
    assert meta["ownerReferences"] == [naming.owner_reference(NAME, UID)]
    assert meta["annotations"] == {source.ANNOTATION_REVISION: "main"}
    build_labels = naming.child_labels(NAME, UID, 4, "4")
    assert build_labels[naming.LABEL_COMPONENT] == "build"
    assert resolve_job()["spec"]["template"]["metadata"]["labels"] == meta["labels"]


def test_resolve_job_gets_the_placement_a_policy_forces() -> None:
    placement = PodPlacement(
        node_selector=(("pool", "builds"),),
        tolerations=(Toleration(key="builds", operator="Exists", effect="NoSchedule"),),
        runtime_class_name="gvisor",
    )
    pod = resolve_job(placement=placement, service_account_name="builder")["spec"]["template"][
        "spec"
    ]
    assert pod["nodeSelector"] == {"pool": "builds"}
    assert pod["tolerations"] == [{"key": "builds", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["runtimeClassName"] == "gvisor"
    assert pod["serviceAccountName"] == "builder"


def test_a_public_repository_resolve_job_has_no_secret() -> None:
    (container,) = resolve_job(git=GitSource(url=GIT_URL))["spec"]["template"]["spec"]["containers"]
    assert container["env"] == []
    assert "--revision=" in container["args"]


# --- the resolve pod's result -----------------------------------------------------------------


def pod(terminated: dict[str, Any] | None) -> dict[str, Any]:
    state = {"terminated": terminated} if terminated else {"running": {}}
    return {"status": {"containerStatuses": [{"name": "resolve", "state": state}]}}


def test_termination_messages_round_trip() -> None:
    resolved = Resolved(COMMIT, "refs/heads/main")
    assert source.parse_resolve_message(source.resolve_message(resolved)) == resolved
    missing = source.resolve_error_message(ResolveError("no branch or tag named 'x'"))
    with pytest.raises(ResolveError, match="no branch") as refused:
        source.parse_resolve_message(missing)
    assert type(refused.value) is ResolveError  # the spec's to fix: no point in asking again
    down = source.resolve_error_message(SourceUnavailable("connection refused"))
    with pytest.raises(SourceUnavailable, match="connection refused"):
        source.parse_resolve_message(down)
    assert len(source.resolve_error_message(ResolveError("e" * 10_000))) < 4096


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("", "wrote no result"),
        ("Traceback ...\nImportError: dulwich", "ImportError: dulwich"),
        ('{"commit": "abc"}', "wrote no commit"),
        ("[1]", r"\[1\]"),
    ],
)
def test_messages_without_a_commit(message: str, words: str) -> None:
    """A step that did not run to its end: worth another try, not the spec's fault."""
    with pytest.raises(SourceUnavailable, match=words):
        source.parse_resolve_message(message)


def test_resolve_pod_results() -> None:
    ok = source.resolve_message(Resolved(COMMIT, "refs/heads/main"))
    assert source.resolve_pod_result(pod(None)) is None
    assert source.resolve_pod_result({"status": {}}) is None
    assert source.resolve_pod_result(pod({"exitCode": 0, "message": ok})) == Resolved(
        COMMIT, "refs/heads/main"
    )
    failed = source.resolve_pod_result(
        pod(
            {
                "exitCode": 1,
                "message": source.resolve_error_message(SourceUnavailable("asks for credentials")),
            }
        )
    )
    assert isinstance(failed, SourceUnavailable)
    assert str(failed) == "asks for credentials"
    odd = source.resolve_pod_result(pod({"exitCode": 137, "message": ok}))
    assert isinstance(odd, SourceUnavailable)
    assert "exited 137" in str(odd)


# --- the resolve step's edges that need no git server -------------------------------------------


def test_credentials_from_env_as_kaniko_reads_them() -> None:
    assert git_remote.Credentials.from_env({}) is None
    both = git_remote.Credentials.from_env({"GIT_USERNAME": "u", "GIT_PASSWORD": "s3cr3t"})
    assert both == git_remote.Credentials("u", "s3cr3t")
    token = git_remote.Credentials.from_env(
        {"GIT_USERNAME": "u", "GIT_PASSWORD": "s3cr3t", "GIT_TOKEN": "t"}
    )
    assert token == git_remote.Credentials("t", "")
    assert "s3cr3t" not in repr(both)


def test_redact_drops_userinfo() -> None:
    assert git_remote.redact("https://u:secret@git.example/r.git") == "https://git.example/r.git"
    assert git_remote.redact(GIT_URL) == GIT_URL


def test_resolve_step_of_a_commit_writes_it_without_network(tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    code, message = resolver.resolve_step(
        url="http://127.0.0.1:9/never.git", revision=COMMIT, termination_log=log
    )
    assert code == 0
    assert json.loads(log.read_text()) == {"commit": COMMIT, "ref": ""} == json.loads(message)
