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


class TestPinBuilder:
    @pytest.mark.parametrize(
        ("machine", "platform"),
        [("x86_64", "linux/amd64"), ("aarch64", "linux/arm64"), ("armv7l", "linux/arm/v7")],
    )
    def test_node_platform_from_uname(self, machine: str, platform: str) -> None:
        assert publisher.node_platform(machine) == platform

    def test_unknown_machine(self) -> None:
        with pytest.raises(results.ResultError):
            publisher.node_platform("mips")

    @pytest.mark.parametrize(
        ("image", "candidates"),
        [
            pytest.param(
                "golang:1.26",
                [
                    "10.0.0.1:5000/library/golang:1.26",
                    "mirror.gcr.io/dh/library/golang:1.26",
                    "index.docker.io/library/golang:1.26",
                ],
                id="docker-hub-official-through-the-mirrors-in-order",
            ),
            pytest.param(
                "docker.io/team/go",
                [
                    "10.0.0.1:5000/team/go:latest",
                    "mirror.gcr.io/dh/team/go:latest",
                    "index.docker.io/team/go:latest",
                ],
                id="docker-io-spelled-out",
            ),
            pytest.param(
                "gcr.io/team/go:1.26",
                ["10.0.0.1:5000/team/go:1.26", "gcr.io/team/go:1.26"],
                id="registry-map",
            ),
            pytest.param(
                f"registry.example.com/go@{AMD64}",
                [f"registry.example.com/go@{AMD64}"],
                id="own-registry-by-digest",
            ),
        ],
    )
    def test_pull_candidates_in_kanikos_order(self, image: str, candidates: list[str]) -> None:
        mirrors = ["10.0.0.1:5000", "mirror.gcr.io/dh"]
        maps = ["gcr.io=10.0.0.1:5000"]
        assert publisher.pull_candidates(image, mirrors, maps) == candidates

    def test_digest_argv(self) -> None:
        assert publisher.digest_argv("localhost:5000/library/golang:1.26", "linux/arm64") == [
            "crane",
            "digest",
            "--platform=linux/arm64",
            "localhost:5000/library/golang:1.26",
        ]
        insecure = publisher.digest_argv("localhost:5000/g:1", "linux/amd64", ["localhost:5000"])
        assert "--insecure" in insecure

    def test_pinned_dockerfile_changes_only_the_builder_stage(self) -> None:
        text = (
            "# golang:1.26 AS build in a comment\n"
            "FROM --platform=$BUILDPLATFORM golang:1.26 AS build\n"
            "RUN go build\n"
            "FROM golang:1.26\n"
        )
        pinned = publisher.pinned_dockerfile(text, "golang:1.26", ARM64)
        assert pinned.splitlines() == [
            "# golang:1.26 AS build in a comment",
            f"FROM --platform=$BUILDPLATFORM golang@{ARM64} AS build",
            "RUN go build",
            "FROM golang:1.26",
        ]

    def test_no_builder_stage(self) -> None:
        with pytest.raises(results.ResultError, match="no builder stage"):
            publisher.pinned_dockerfile("FROM scratch\n", "golang:1.26", ARM64)


# --- SBOM and provenance: the pure parts -------------------------------------------------------


def test_attach_argv_pins_the_created_time_and_speaks_plain_http_to_insecure_registries() -> None:
    argv = publisher.attach_argv(
        "localhost:5000/team/app@sha256:" + "a" * 64,
        "application/spdx+json",
        "sbom.spdx.json",
        ["localhost:5000"],
        Path("/kaniko/.docker/config.json"),
    )
    assert argv == [
        "oras",
        "attach",
        "--artifact-type=application/spdx+json",
        "--annotation=org.opencontainers.image.created=1970-01-01T00:00:00Z",
        "--format=json",
        "--plain-http",
        "--registry-config=/kaniko/.docker/config.json",
        "localhost:5000/team/app@sha256:" + "a" * 64,
        "sbom.spdx.json:application/spdx+json",
    ]
    assert "--plain-http" not in publisher.attach_argv("ghcr.io/a/b@x", "t", "f")


def _config(diff_ids: list[str], history: list[dict[str, str]]) -> dict[str, object]:
    return {"rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": history}


def test_base_leads_by_layers_or_by_history_with_times_zeroed() -> None:
    base = _config(["sha256:1"], [{"created": "2025-01-01T00:00:00Z", "created_by": "ADD x /"}])
    same_layers = _config(["sha256:1", "sha256:2"], [])
    rewritten = _config(
        ["sha256:9", "sha256:2"],
        [{"created": "0001-01-01T00:00:00Z", "created_by": "ADD x /"}, {"created_by": "COPY"}],
    )
    other = _config(["sha256:9", "sha256:2"], [{"created_by": "ADD y /"}, {"created_by": "COPY"}])
    assert publisher.base_leads(base, same_layers)
    assert publisher.base_leads(base, rewritten)
    assert not publisher.base_leads(base, other)
    assert not publisher.base_leads(base, _config([], []))
    assert not publisher.base_leads(
        _config(["sha256:1"], []), _config(["sha256:9", "sha256:2"], [])
    )
