"""The `goimage-operator` command line: the report step's exit codes and output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.unit.oci_layouts import write_layout

from goimage import cli

IMAGE = "registry.example.com/team/gitback"


def report_args(layout: Path, digest: Path, log: Path) -> list[str]:
    return [
        "report",
        f"--oci-layout={layout}",
        f"--digest-file={digest}",
        f"--image={IMAGE}",
        f"--termination-log={log}",
    ]


def test_report_prints_and_writes_the_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = write_layout(tmp_path)
    log = tmp_path / "termination-log"
    assert cli.main(report_args(made.path, made.digest_file, log)) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {
        "digest": made.manifest_digest,
        "size": made.size,
        "image": f"{IMAGE}@{made.manifest_digest}",
    }
    assert out.strip() == log.read_text()
    assert err == ""


def test_report_error_exits_1_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "termination-log"
    assert cli.main(report_args(tmp_path / "none", tmp_path / "digest", log)) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("report: no OCI layout")
    assert not log.exists()


def test_report_digest_mismatch_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    made = write_layout(tmp_path)
    made.digest_file.write_text("sha256:" + "f" * 64)
    assert cli.main(report_args(made.path, made.digest_file, tmp_path / "log")) == 1
    assert "differs" in capsys.readouterr().err


def test_report_missing_manifest_exits_1(tmp_path: Path) -> None:
    made = write_layout(tmp_path)
    (made.path / "blobs" / "sha256" / made.manifest_digest.partition(":")[2]).unlink()
    assert cli.main(report_args(made.path, made.digest_file, tmp_path / "log")) == 1


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([], id="no-command"),
        pytest.param(["report"], id="report-without-flags"),
        pytest.param(["build"], id="unknown-command"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == 2
    assert "usage: goimage-operator" in capsys.readouterr().err
