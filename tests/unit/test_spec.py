"""parse_spec: the API's defaults, the names derived from the spec, and every refusal."""

from __future__ import annotations

from typing import Any

import pytest
from tests import invalid_specs
from tests.unit import factories
from tests.unit.factories import IMAGE, parse

from goimage.core import spec as specs

ALPINE = "alpine:3.20"
SHA = "sha256:" + "a" * 64


class TestDefaults:
    def test_api_defaults_applied_to_a_minimal_spec(self) -> None:
        spec = parse()
        assert spec.go.version == "1.26"
        assert spec.go.image == ""
        assert spec.go.package == "."
        assert spec.go.ldflags == "-s -w"
        assert spec.go.tags == ()
        assert spec.go.cgo is False
        assert spec.go.env == ()
        assert spec.output.tags == ("latest",)
        assert spec.output.insecure is False
        assert spec.output.max_size is None
        assert spec.output.push_secret_name == ""
        assert spec.builder.timeout_seconds == 1800
        assert spec.builder.cache.enabled is True
        assert spec.builder.image == ""
        assert spec.runtime.user == "65532:65532"
        assert spec.runtime.image == "gcr.io/distroless/static-debian12:nonroot"
        assert spec.runtime.kind == "distroless"
        assert spec.source.git.revision == ""
        assert spec.source.context_dir == ""

    def test_derived_values_of_a_minimal_spec(self) -> None:
        spec = parse()
        assert spec.builder_image == "golang:1.26"
        assert spec.cache_repo == f"{IMAGE}/cache"
        assert spec.binary_name == "gitback"

    def test_cgo_defaults_to_a_runtime_with_libc(self) -> None:
        spec = parse({"go.cgo": True})
        assert spec.runtime.image == "gcr.io/distroless/base-debian12:nonroot"
        assert spec.runtime.kind == "distroless"
        assert spec.builder_image == "golang:1.26-bookworm"  # glibc no newer than the runtime's

    def test_cgo_on_alpine_builds_on_alpine(self) -> None:
        spec = parse({"go.cgo": True, "runtime.image": ALPINE})
        assert spec.builder_image == "golang:1.26-alpine"

    def test_go_image_overrides_the_builder(self) -> None:
        spec = parse({"go.image": "registry.example.com/go:1.26-custom", "go.cgo": True})
        assert spec.builder_image == "registry.example.com/go:1.26-custom"

    def test_go_version_picks_the_builder(self) -> None:
        assert parse({"go.version": "1.24.3"}).builder_image == "golang:1.24.3"

    @pytest.mark.parametrize("value", [None, ""])
    def test_empty_values_take_the_default(self, value: Any) -> None:
        spec = parse(
            {
                "go.version": value,
                "go.package": value,
                "runtime.user": value,
                "runtime.image": value,
                "builder.timeout": value,
                "output.tags": value,
            }
        )
        assert spec == parse()

    def test_cache_repo_when_set(self) -> None:
        spec = parse({"builder.cache": {"enabled": True, "repo": "reg.example.com/c"}})
        assert spec.cache_repo == "reg.example.com/c"

    def test_cache_can_be_disabled(self) -> None:
        assert parse({"builder.cache.enabled": False}).builder.cache.enabled is False

    def test_output_tags_keep_their_order_without_duplicates(self) -> None:
        spec = parse({"output.tags": ["v1", "latest", "v1", "stable"]})
        assert spec.output.tags == ("v1", "latest", "stable")

    def test_ports_sorted_and_unique(self) -> None:
        assert parse({"runtime.ports": [9090, 8080, 9090]}).runtime.ports == (8080, 9090)

    def test_full_spec_parses_every_field(self) -> None:
        spec = specs.parse_spec(factories.full_spec())
        assert spec.source.git.secret_name == "git-auth"
        assert spec.source.context_dir == "services/gitback"
        assert spec.go.env[0] == specs.EnvVar("GOPROXY", "https://proxy.golang.org,direct")
        assert spec.runtime.labels == (
            ("org.opencontainers.image.licenses", "Apache-2.0"),
            ("team", "platform"),
        )
        assert spec.output.push_secret_name == "regcred"
        assert spec.output.max_size == 30 * 1024 * 1024
        assert spec.builder.timeout_seconds == 45 * 60
        assert spec.builder.resources == {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"memory": "4Gi"},
        }
        assert spec.builder.node_selector == (("kubernetes.io/arch", "amd64"), ("pool", "builds"))
        assert spec.builder.tolerations[1] == specs.Toleration(
            key="node.kubernetes.io/not-ready",
            operator="Exists",
            effect="NoExecute",
            toleration_seconds=300,
        )
        assert spec.builder.registry_mirrors == ("mirror.gcr.io",)

    def test_spec_is_frozen(self) -> None:
        spec = parse()
        with pytest.raises(AttributeError):
            spec.go.version = "1.0"  # type: ignore[misc]


class TestBinaryName:
    @pytest.mark.parametrize(
        ("values", "expected"),
        [
            pytest.param({"go.package": "./cmd/gitback"}, "gitback", id="package"),
            pytest.param({"go.package": "./cmd/server/"}, "server", id="package-trailing-slash"),
            pytest.param({}, "gitback", id="dot-uses-repo-without-.git"),
            pytest.param(
                {"source.git.url": "https://gitlab.example.com/group/sub/api-server"},
                "api-server",
                id="dot-uses-repo",
            ),
            pytest.param(
                {"source.git.url": "https://git.example.com/org/tool.git/"},
                "tool",
                id="dot-repo-trailing-slash",
            ),
            pytest.param(
                {"source.contextDir": "services/billing"}, "billing", id="dot-uses-contextDir"
            ),
            pytest.param(
                {"source.contextDir": "services/billing", "go.package": "./cmd/worker"},
                "worker",
                id="package-beats-contextDir",
            ),
            pytest.param(
                {"go.package": "./cmd/gitback", "go.binaryName": "gb"}, "gb", id="explicit"
            ),
        ],
    )
    def test_default_binary_name(self, values: dict[str, Any], expected: str) -> None:
        assert parse(values).binary_name == expected


class TestValuesAccepted:
    @pytest.mark.parametrize(
        "image",
        [
            "registry.example.com:5000/team/app",
            "localhost:5000/app",
            "127.0.0.1:5000/a/b/c",
            "docker.io/library/app",
            "app",
        ],
    )
    def test_output_image_with_host_port(self, image: str) -> None:
        assert parse({"output.image": image}).output.image == image

    @pytest.mark.parametrize(
        ("value", "seconds"),
        [
            ("30m", 1800),
            ("1h", 3600),
            ("1h30m", 5400),
            ("90s", 90),
            ("1.5h", 5400),
            ("2m30s", 150),
            ("1500ms", 2),
            ("500ms", 1),
        ],
    )
    def test_timeouts(self, value: str, seconds: int) -> None:
        assert parse({"builder.timeout": value}).builder.timeout_seconds == seconds

    @pytest.mark.parametrize(
        ("value", "size"),
        [
            ("30Mi", 30 * 1024**2),
            ("50M", 50_000_000),
            ("1Gi", 1024**3),
            ("512Ki", 512 * 1024),
            (1000, 1000),
            # Fractions round up (a Decimal's // truncates toward zero: 0.5 became 0).
            ("1.5", 2),
            ("0.5", 1),
            ("100m", 1),
        ],
    )
    def test_max_sizes(self, value: object, size: int) -> None:
        assert parse({"output.maxSize": value}).output.max_size == size

    @pytest.mark.parametrize(
        "image",
        [ALPINE, "docker.io/library/alpine:3.20", "alpine", f"alpine@{SHA}", "mirror.io/alpine:3"],
    )
    def test_packages_on_alpine_bases(self, image: str) -> None:
        spec = parse({"runtime.image": image, "runtime.packages": ["tzdata", "curl=8.9.1-r0"]})
        assert spec.runtime.kind == "alpine"
        assert spec.runtime.packages == ("tzdata", "curl=8.9.1-r0")

    @pytest.mark.parametrize(
        "image", [ALPINE, "gcr.io/distroless/base-debian12:nonroot", "debian:12-slim"]
    )
    def test_cgo_on_a_libc_base(self, image: str) -> None:
        assert parse({"go.cgo": True, "runtime.image": image}).go.cgo is True

    def test_scratch_runtime(self) -> None:
        assert parse({"runtime.image": "scratch"}).runtime.kind == "scratch"

    @pytest.mark.parametrize("user", ["0", "1000", "1000:1000", "65532:65532"])
    def test_users(self, user: str) -> None:
        assert parse({"runtime.user": user}).runtime.user == user

    @pytest.mark.parametrize("revision", ["main", "release/1.2", "v1.2.3", "refs/tags/v1"])
    def test_revisions(self, revision: str) -> None:
        assert parse({"source.git.revision": revision}).source.git.revision == revision

    def test_commit_revision(self) -> None:
        assert parse({"source.git.revision": factories.COMMIT}).source.git.is_commit
        assert not parse({"source.git.revision": "main"}).source.git.is_commit

    def test_hostile_but_harmless_ldflags_are_kept_verbatim(self) -> None:
        # Quoting, not refusal, is the answer for free text: see test_dockerfile.
        ldflags = "-X 'main.v=$(rm -rf /)' -X main.h=$HOME"
        assert parse({"go.ldflags": ldflags}).go.ldflags == ldflags

    def test_context_dir_slashes_trimmed(self) -> None:
        assert parse({"source.contextDir": "services/api/"}).source.context_dir == "services/api"


# The refusals live in one table with the API server's (tests/invalid_specs.py):
# each row must be refused by both, naming the same field.
@pytest.mark.parametrize("row", invalid_specs.rows("parser"))
def test_refusal_names_the_field(row: invalid_specs.InvalidSpec) -> None:
    with pytest.raises(specs.SpecError) as caught:
        specs.parse_spec(row.spec())
    assert caught.value.field == row.field
    assert str(caught.value) == f"{row.field}: {caught.value.message}"
    assert caught.value.message


@pytest.mark.parametrize("row", invalid_specs.rows("api_server_only"))
def test_api_server_only_rows_pass_the_parser(row: invalid_specs.InvalidSpec) -> None:
    # The table says only the API server judges these: if the parser refuses one
    # now, the row belongs to both sides (judged_by=BOTH).
    assert specs.parse_spec(row.spec())


def test_spec_error_is_a_value_error() -> None:
    assert issubclass(specs.SpecError, ValueError)


class TestDurationAndSize:
    def test_parse_duration_rounds_up(self) -> None:
        assert specs.parse_duration("1001ms", field="f") == 2

    def test_parse_duration_names_the_given_field(self) -> None:
        with pytest.raises(specs.SpecError) as caught:
            specs.parse_duration("soon", field="spec.builder.timeout")
        assert caught.value.field == "spec.builder.timeout"
        assert "soon" in caught.value.message

    def test_parse_size_names_the_given_field(self) -> None:
        with pytest.raises(specs.SpecError) as caught:
            specs.parse_size("-1", field="spec.output.maxSize")
        assert caught.value.field == "spec.output.maxSize"

    @pytest.mark.parametrize(
        ("image", "name"),
        [
            ("alpine", "alpine"),
            ("alpine:3.20", "alpine"),
            ("docker.io/library/alpine:3.20", "alpine"),
            (f"localhost:5000/alpine@{SHA}", "alpine"),
            ("localhost:5000/team/app", "app"),
        ],
    )
    def test_image_repository_name(self, image: str, name: str) -> None:
        assert specs.image_repository_name(image) == name


def test_cgo_enabled_in_go_env_is_refused_in_favour_of_go_cgo() -> None:
    with pytest.raises(specs.SpecError) as caught:
        parse({"go.env": [{"name": "CGO_ENABLED", "value": "1"}]})
    assert caught.value.field == "spec.go.env[0].name"
