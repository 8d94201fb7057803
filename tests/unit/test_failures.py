"""failures: which documented reason a failed build gets, and a message that fits."""

from __future__ import annotations

import pytest

from goimage.core import failures
from goimage.core.conditions import Reason

COMPILE_LOG = """\
INFO[0003] Retrieving image manifest golang:1.26
INFO[0012] RUN go build -trimpath -buildvcs=false -ldflags='-s -w' -o /out/gitback .
INFO[0012] Taking snapshot of full filesystem...
# github.com/flarexes/gitback
./main.go:14:2: undefined: fmt.Printn
./main.go:20:9: cannot use x (variable of type int) as string value in return statement
error building image: error building stage: failed to execute command: \
waiting for process to exit: exit status 1
"""


@pytest.mark.parametrize(
    ("log", "reason"),
    [
        (
            "error resolving source context: repository not found",
            Reason.SOURCE_FAILED,
        ),
        (
            "Error resolving source context: authentication required",
            Reason.SOURCE_FAILED,
        ),
        ("error resolving dockerfile path: no such file", Reason.SOURCE_FAILED),
        (
            "error checking push permissions -- make sure you entered the correct tag name",
            Reason.PUSH_FAILED,
        ),
        ("error pushing image: failed to push to destination: UNAUTHORIZED", Reason.PUSH_FAILED),
        (COMPILE_LOG, Reason.BUILD_FAILED),
        ("something else entirely", Reason.BUILD_FAILED),
        ("", Reason.BUILD_FAILED),
    ],
)
def test_classify_build_log(log: str, reason: Reason) -> None:
    assert failures.classify_build_log(log) is reason


def test_summary_keeps_the_compiler_lines_and_drops_progress() -> None:
    text = failures.summarize(COMPILE_LOG)
    assert "./main.go:14:2: undefined: fmt.Printn" in text
    assert text.endswith("exit status 1")
    assert "Taking snapshot" not in text
    assert "Retrieving image" not in text


def test_summary_strips_colours_and_blank_lines() -> None:
    text = failures.summarize("\x1b[31mERRO\x1b[0m[0001] boom\n\n   \nlast\n")
    assert text == "ERRO[0001] boom\nlast"


def test_summary_appends_the_hint() -> None:
    hint = failures.logs_hint("team-a", "gitback", "3", "build", retention="5m")
    assert hint == (
        'More: kubectl gib logs -n team-a gitback --build 3, step "build" '
        "(the build's pod, and its log, is kept for 5m after the build ends)"
    )
    text = failures.summarize(COMPILE_LOG, hint=hint)
    assert text.endswith("\n" + hint)


def test_the_hint_never_names_a_pod_that_is_deleted_at_once() -> None:
    # finishedPodRetention 0: the pod goes as soon as the result is written, so the
    # hint names no pod and no build whose log is gone, only a rebuild's to follow.
    hint = failures.logs_hint("team-a", "gitback", "3", "build", retention="0")
    assert hint == (
        'More: kubectl gib logs -n team-a gitback -f while a rebuild runs, step "build" (the '
        "operator deletes a finished build's pod, and its log, at once: finishedPodRetention is 0)"
    )
    assert "--build" not in hint


# 200: the hint (about 130 characters) leaves room for about one log line.
@pytest.mark.parametrize("limit", [200, 300, failures.MESSAGE_LIMIT])
def test_summary_keeps_the_end_within_the_limit(limit: int) -> None:
    log = "\n".join(f"line {n:04d} " + "x" * 40 for n in range(500))
    hint = failures.logs_hint("ns", "app", "1", "build", retention="5m")
    text = failures.summarize(log, hint=hint, limit=limit)
    assert len(text) <= limit
    assert "line 0499" in text
    assert "line 0000" not in text
    assert text.endswith(hint)
    # Whole lines only, newest last.
    body = text.removesuffix("\n" + hint).splitlines()
    assert all(line.startswith("line ") for line in body)
    assert body == sorted(body)


def test_one_long_line_is_cut_from_the_front() -> None:
    line = "error pushing image: " + "y" * 5000 + " END"
    text = failures.summarize(line, limit=200)
    assert len(text) <= 200
    assert text.startswith("...")
    assert text.endswith(" END")


def test_failure_as_status() -> None:
    failure = failures.Failure(Reason.PUSH_FAILED, "denied")
    assert failure.as_status() == {"reason": "PushFailed", "message": "denied"}


KANIKO_USAGE_TAIL = """      --skip-unused-stages                        Build only used stages
  -v, --verbosity string                          Log level (default "info")

Use "executor [command] --help" for more information about a command.
"""

KANIKO_FULL_LOG = (
    """Enumerating objects: 5, done.
Error: error resolving source context: invalid branch: no-such-branch
Usage:
  executor [flags]
  executor [command]
"""
    + KANIKO_USAGE_TAIL
)


def test_a_usage_only_tail_is_a_source_failure_whose_error_must_be_read_from_the_log() -> None:
    assert failures.shows_only_usage(KANIKO_USAGE_TAIL)
    assert failures.classify_build_log(KANIKO_USAGE_TAIL) is Reason.SOURCE_FAILED
    error = failures.without_usage(KANIKO_FULL_LOG)
    assert "invalid branch: no-such-branch" in error
    assert "executor [flags]" not in error
    assert failures.classify_build_log(error) is Reason.SOURCE_FAILED


def test_a_tail_with_the_error_needs_no_log() -> None:
    tail = "error building image: exit status 1\n" + KANIKO_USAGE_TAIL
    assert not failures.shows_only_usage(tail)
    assert failures.without_usage("no usage here") == "no usage here"
