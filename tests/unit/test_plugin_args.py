"""`kubectl gib`'s command line: kubectl's flags anywhere, each command's own, usage errors
as kubectl prints them, and the rebuild annotation's value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from goimage.plugin import main


def parse(*argv: str) -> dict[str, object]:
    return vars(main.build_parser().parse_args(list(argv)))


def test_logs_with_its_flags() -> None:
    args = parse("logs", "hello", "-f", "--build", "3-1a2b3c")
    assert args == {
        "kubeconfig": None,
        "context": None,
        "namespace": None,
        "command": "logs",
        "name": "hello",
        "follow": True,
        "build": "3-1a2b3c",
    }


def test_logs_defaults_to_the_current_build_once() -> None:
    args = parse("logs", "hello")
    assert (args["follow"], args["build"]) == (False, None)


@pytest.mark.parametrize(
    "argv",
    [
        ("-n", "team-a", "--context", "dev", "--kubeconfig", "/k", "rebuild", "hello"),
        ("rebuild", "hello", "-n", "team-a", "--context", "dev", "--kubeconfig", "/k"),
        ("--kubeconfig", "/k", "rebuild", "--namespace", "team-a", "hello", "--context=dev"),
    ],
)
def test_kubectl_flags_before_or_after_the_command(argv: tuple[str, ...]) -> None:
    args = parse(*argv)
    assert (args["namespace"], args["context"], args["kubeconfig"]) == ("team-a", "dev", "/k")
    assert (args["command"], args["name"]) == ("rebuild", "hello")


@pytest.mark.parametrize("command", ["sbom", "provenance"])
def test_artifact_commands_default_to_a_table(command: str) -> None:
    args = parse(command, "hello")
    assert (args["output"], args["insecure_registry"]) == ("table", [])
    args = parse(
        command, "hello", "-o", "json", "--insecure-registry", "r:5000", "--insecure-registry=q"
    )
    assert (args["output"], args["insecure_registry"]) == ("json", ["r:5000", "q"])


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["sbom", "hello", "-o", "yaml"], "argument -o/--output: invalid choice: 'yaml'"),
        (["logs"], "the following arguments are required: NAME"),
        (["delete", "hello"], "argument COMMAND: invalid choice: 'delete'"),
        (["rebuild", "hello", "--force"], "unrecognized arguments: --force"),
    ],
)
def test_usage_errors_are_kubectls(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main.main(argv)
    assert exited.value.code == 1
    out, err = capsys.readouterr()
    assert out == ""
    first, second = err.splitlines()
    assert first.startswith("error: ")
    assert words in first
    assert second.startswith("See 'kubectl gib")
    assert second.endswith("--help' for usage.")


def test_rebuild_tokens_are_new_each_time() -> None:
    now = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    assert main.rebuild_token(now) == "2026-03-04T05:06:07.890123Z"
    assert main.rebuild_token(now + timedelta(microseconds=1)) != main.rebuild_token(now)
    # Another zone's clock gives the same UTC value.
    assert main.rebuild_token(now.astimezone(timezone(timedelta(hours=2)))) == main.rebuild_token(
        now
    )


def test_artifact_reference_says_what_the_status_lacks() -> None:
    resource = {
        "metadata": {"name": "hello"},
        "status": {"phase": "Building", "conditions": [{"type": "Ready", "reason": "Building"}]},
    }
    with pytest.raises(main.UserError) as refused:
        main.artifact_reference(resource, "sbom", "SBOM")
    assert str(refused.value) == (
        'goimagebuild "hello" has no SBOM yet (status.sbom.digest is not set);'
        " status: phase Building, Building"
    )
    resource["status"] = {"image": "r.example/a@sha256:1", "provenance": {"digest": "sha256:2"}}
    assert main.artifact_reference(resource, "provenance", "provenance") == (
        "r.example/a@sha256:1",
        "sha256:2",
    )
