"""publisher: the crane command lines of the publish step, and reading crane's answer.

The publish step against a real registry (`crane registry serve`) is in
tests/integration/test_publish.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from goimage import cli, publisher
from goimage.core import results

REPO = "registry.example.com/team/gitback"
LOCAL = "localhost:5000/team/gitback"
AMD64 = "sha256:" + "a" * 64
ARM64 = "sha256:" + "b" * 64


class TestPushArgv:
    def test_pushes_the_layout_by_its_digest_without_a_tag(self) -> None:
        assert publisher.push_argv(Path("/goimage/out/linux-arm64/oci"), REPO, ARM64) == [
            "crane",
            "push",
            "/goimage/out/linux-arm64/oci",
            f"{REPO}@{ARM64}",
        ]

    def test_insecure_only_for_the_outputs_registry(self) -> None:
        layout = Path("/o")
        assert "--insecure" in publisher.push_argv(layout, LOCAL, AMD64, ["localhost:5000"])
        assert "--insecure" not in publisher.push_argv(layout, REPO, AMD64, ["localhost:5000"])
        assert "--insecure" not in publisher.push_argv(layout, LOCAL, AMD64, [])


class TestIndexArgv:
    def test_one_index_per_tag_over_the_platform_images_in_order(self) -> None:
        assert publisher.index_argv(REPO, "v1", [AMD64, ARM64]) == [
            "crane",
            "index",
            "append",
            f"--tag={REPO}:v1",
            "--manifest",
            f"{REPO}@{AMD64}",
            "--manifest",
            f"{REPO}@{ARM64}",
        ]

    def test_order_is_the_callers(self) -> None:
        argv = publisher.index_argv(REPO, "latest", [ARM64, AMD64])
        manifests = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--manifest"]
        assert manifests == [f"{REPO}@{ARM64}", f"{REPO}@{AMD64}"]

    def test_insecure(self) -> None:
        argv = publisher.index_argv(LOCAL, "v1", [AMD64], ["localhost:5000"])
        assert argv[:4] == ["crane", "index", "append", "--insecure"]


class TestPushedDigest:
    def test_last_line_names_the_repository_and_digest(self) -> None:
        out = f"2026/11/28 base unspecified, using empty index\n{REPO}@{AMD64}\n"
        assert publisher.pushed_digest(out, REPO) == AMD64

    @pytest.mark.parametrize(
        "out",
        ["", f"other.example.com/app@{AMD64}\n", f"{REPO}@sha256:short\n", f"{REPO}:v1\n"],
    )
    def test_anything_else_is_an_error(self, out: str) -> None:
        with pytest.raises(results.ResultError):
            publisher.pushed_digest(out, REPO)


class TestCommandLine:
    def test_platform_must_be_platform_equals_layout(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        argv = ["publish", "--platform=/goimage/out/oci", f"--image={REPO}", "--tag=v1"]
        with pytest.raises(SystemExit) as caught:
            cli.main([*argv, f"--out={tmp_path / 'p.json'}"])
        assert caught.value.code == 2
        assert "PLATFORM=OCI_LAYOUT" in capsys.readouterr().err

    def test_a_layout_that_is_missing_exits_1_before_any_push(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "published.json"
        argv = [
            "publish",
            f"--platform=linux/amd64={tmp_path / 'nowhere'}",
            f"--image={REPO}",
            "--tag=v1",
            f"--out={out}",
        ]
        assert cli.main(argv) == 1
        assert capsys.readouterr().err.startswith("publish: no OCI layout")
        assert not out.exists()

    def test_report_needs_published_with_platforms(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        argv = ["report", f"--platform=linux/amd64={tmp_path}", f"--image={REPO}"]
        assert cli.main([*argv, f"--termination-log={tmp_path / 'log'}"]) == 1
        assert "publish" in capsys.readouterr().err
