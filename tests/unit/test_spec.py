"""parse_spec: the API's defaults, the names derived from the spec, and every refusal."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit import factories
from tests.unit.factories import DELETE, IMAGE, parse, spec_with

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


# (values applied to the minimal spec, the field the error must name)
REFUSALS: list[Any] = [
    # required fields
    pytest.param({"output.image": DELETE}, "spec.output.image", id="output.image-missing"),
    pytest.param({"output.image": ""}, "spec.output.image", id="output.image-empty"),
    pytest.param({"output": DELETE}, "spec.output", id="output-missing"),
    pytest.param({"source": DELETE}, "spec.source", id="source-missing"),
    pytest.param({"source.git": DELETE}, "spec.source.git", id="git-missing"),
    pytest.param({"source.git.url": DELETE}, "spec.source.git.url", id="url-missing"),
    pytest.param({"source": "github.com/x"}, "spec.source", id="source-not-object"),
    # output.image: no tag, no digest
    pytest.param({"output.image": f"{IMAGE}:v1"}, "spec.output.image", id="image-tag"),
    pytest.param(
        {"output.image": "localhost:5000/app:latest"}, "spec.output.image", id="image-port-tag"
    ),
    pytest.param({"output.image": f"{IMAGE}@{SHA}"}, "spec.output.image", id="image-digest"),
    pytest.param({"output.image": "Registry.io/Team/App"}, "spec.output.image", id="image-upper"),
    pytest.param({"output.image": "registry.io/my app"}, "spec.output.image", id="image-space"),
    # runtime.packages on a non-alpine base
    pytest.param({"runtime.packages": ["curl"]}, "spec.runtime.packages", id="packages-distroless"),
    pytest.param(
        {"runtime.image": "scratch", "runtime.packages": ["curl"]},
        "spec.runtime.packages",
        id="packages-scratch",
    ),
    pytest.param(
        {"runtime.image": "debian:12", "runtime.packages": ["curl"]},
        "spec.runtime.packages",
        id="packages-debian",
    ),
    pytest.param(
        {"runtime.image": ALPINE, "runtime.packages": ["curl; rm -rf /"]},
        "spec.runtime.packages[0]",
        id="packages-shell",
    ),
    pytest.param(
        {"runtime.image": ALPINE, "runtime.packages": ["tzdata", "$(id)"]},
        "spec.runtime.packages[1]",
        id="packages-subst",
    ),
    pytest.param(
        {"runtime.image": ALPINE, "runtime.packages": ["--allow-untrusted"]},
        "spec.runtime.packages[0]",
        id="packages-flag",
    ),
    # cgo needs a libc
    pytest.param({"go.cgo": True, "runtime.image": "scratch"}, "spec.go.cgo", id="cgo-scratch"),
    pytest.param(
        {"go.cgo": True, "runtime.image": "gcr.io/distroless/static-debian12:nonroot"},
        "spec.go.cgo",
        id="cgo-static",
    ),
    pytest.param({"go.cgo": "yes"}, "spec.go.cgo", id="cgo-not-bool"),
    # maxSize
    pytest.param({"output.maxSize": "lots"}, "spec.output.maxSize", id="maxSize-word"),
    pytest.param({"output.maxSize": "30XB"}, "spec.output.maxSize", id="maxSize-unit"),
    pytest.param({"output.maxSize": ""}, "spec.output.maxSize", id="maxSize-empty"),
    pytest.param({"output.maxSize": [30]}, "spec.output.maxSize", id="maxSize-list"),
    pytest.param({"output.maxSize": True}, "spec.output.maxSize", id="maxSize-bool"),
    pytest.param({"output.maxSize": "0"}, "spec.output.maxSize", id="maxSize-zero"),
    pytest.param({"output.maxSize": 0}, "spec.output.maxSize", id="maxSize-zero-int"),
    pytest.param({"output.maxSize": "-1Mi"}, "spec.output.maxSize", id="maxSize-negative"),
    pytest.param({"output.maxSize": -5}, "spec.output.maxSize", id="maxSize-negative-int"),
    # durations
    pytest.param({"builder.timeout": "30"}, "spec.builder.timeout", id="timeout-no-unit"),
    pytest.param({"builder.timeout": "abc"}, "spec.builder.timeout", id="timeout-word"),
    pytest.param({"builder.timeout": "1d"}, "spec.builder.timeout", id="timeout-days"),
    pytest.param({"builder.timeout": "0s"}, "spec.builder.timeout", id="timeout-zero"),
    pytest.param({"builder.timeout": "-5m"}, "spec.builder.timeout", id="timeout-negative"),
    pytest.param({"builder.timeout": "30 m"}, "spec.builder.timeout", id="timeout-space"),
    pytest.param({"builder.timeout": "m"}, "spec.builder.timeout", id="timeout-unit-only"),
    pytest.param({"builder.timeout": 1800}, "spec.builder.timeout", id="timeout-int"),
    # newlines and control characters
    pytest.param({"go.ldflags": "-s\n-w"}, "spec.go.ldflags", id="ldflags-newline"),
    pytest.param({"go.ldflags": "-s -w\r"}, "spec.go.ldflags", id="ldflags-cr"),
    pytest.param({"go.ldflags": "-s\x00"}, "spec.go.ldflags", id="ldflags-nul"),
    pytest.param({"go.ldflags": ["-s"]}, "spec.go.ldflags", id="ldflags-list"),
    pytest.param(
        {"go.env": [{"name": "GOFLAGS", "value": "x\nRUN id"}]},
        "spec.go.env[0].value",
        id="go-env-newline",
    ),
    pytest.param(
        {"runtime.env": [{"name": "A", "value": "1"}, {"name": "B", "value": "a\nb"}]},
        "spec.runtime.env[1].value",
        id="runtime-env-newline",
    ),
    pytest.param(
        {"go.env": [{"name": "N", "value": 1}]}, "spec.go.env[0].value", id="env-value-int"
    ),
    pytest.param({"runtime.args": ["ok", "a\nb"]}, "spec.runtime.args[1]", id="args-newline"),
    pytest.param(
        {"runtime.labels": {"team": "a\nb"}}, "spec.runtime.labels[team]", id="label-newline"
    ),
    pytest.param({"runtime.labels": {"team": 5}}, "spec.runtime.labels[team]", id="label-int"),
    pytest.param({"runtime.labels": {"bad key": "x"}}, "spec.runtime.labels", id="label-key"),
    pytest.param({"runtime.labels": ["a"]}, "spec.runtime.labels", id="labels-list"),
    pytest.param(
        {"source.git.revision": "main\nx"}, "spec.source.git.revision", id="revision-newline"
    ),
    # environment variable names
    pytest.param(
        {"go.env": [{"name": "1ABC", "value": ""}]}, "spec.go.env[0].name", id="env-digit"
    ),
    pytest.param({"go.env": [{"name": "A-B", "value": ""}]}, "spec.go.env[0].name", id="env-dash"),
    pytest.param({"go.env": [{"name": "A B", "value": ""}]}, "spec.go.env[0].name", id="env-space"),
    pytest.param({"go.env": [{"name": "", "value": "x"}]}, "spec.go.env[0].name", id="env-empty"),
    pytest.param({"go.env": [{"value": "x"}]}, "spec.go.env[0].name", id="env-no-name"),
    pytest.param({"go.env": ["GOFLAGS=x"]}, "spec.go.env[0].name", id="env-string"),
    pytest.param(
        {"runtime.env": [{"name": "$X", "value": ""}]}, "spec.runtime.env[0].name", id="env-dollar"
    ),
    pytest.param({"go.env": {"A": "1"}}, "spec.go.env", id="env-map"),
    # git URLs
    pytest.param(
        {"source.git.url": "ssh://git@github.com/org/app.git"}, "spec.source.git.url", id="ssh"
    ),
    pytest.param(
        {"source.git.url": "git@github.com:org/app.git"}, "spec.source.git.url", id="scp-style"
    ),
    pytest.param({"source.git.url": "file:///etc/passwd"}, "spec.source.git.url", id="file"),
    pytest.param({"source.git.url": "git://github.com/a/b"}, "spec.source.git.url", id="git"),
    pytest.param(
        {"source.git.url": "https://github.com/a/b#main"}, "spec.source.git.url", id="fragment"
    ),
    pytest.param({"source.git.url": "https://"}, "spec.source.git.url", id="no-host"),
    pytest.param(
        {"source.git.revision": "--upload-pack=touch /x"},
        "spec.source.git.revision",
        id="revision-flag",
    ),
    pytest.param(
        {"source.git.revision": "my branch"}, "spec.source.git.revision", id="revision-space"
    ),
    # paths that leave the repository
    pytest.param({"source.contextDir": ".."}, "spec.source.contextDir", id="ctx-dotdot"),
    pytest.param({"source.contextDir": "../other"}, "spec.source.contextDir", id="ctx-up"),
    pytest.param({"source.contextDir": "a/../../b"}, "spec.source.contextDir", id="ctx-inner"),
    pytest.param({"source.contextDir": "/etc"}, "spec.source.contextDir", id="ctx-absolute"),
    pytest.param({"source.contextDir": "a\\b"}, "spec.source.contextDir", id="ctx-backslash"),
    pytest.param({"source.contextDir": "my dir"}, "spec.source.contextDir", id="ctx-space"),
    pytest.param({"go.package": "./../x"}, "spec.go.package", id="pkg-up"),
    pytest.param({"go.package": "./a/../../b"}, "spec.go.package", id="pkg-inner"),
    pytest.param({"go.package": "../x"}, "spec.go.package", id="pkg-no-dot-slash"),
    pytest.param({"go.package": "cmd/x"}, "spec.go.package", id="pkg-relative"),
    pytest.param({"go.package": "/src/cmd"}, "spec.go.package", id="pkg-absolute"),
    pytest.param({"go.package": "./my pkg"}, "spec.go.package", id="pkg-space"),
    # users
    pytest.param({"runtime.user": "root"}, "spec.runtime.user", id="user-root-name"),
    pytest.param({"runtime.user": "nonroot"}, "spec.runtime.user", id="user-name"),
    pytest.param({"runtime.user": "1000:abc"}, "spec.runtime.user", id="user-group-name"),
    pytest.param({"runtime.user": "-1"}, "spec.runtime.user", id="user-negative"),
    pytest.param({"runtime.user": "1:2:3"}, "spec.runtime.user", id="user-three"),
    pytest.param({"runtime.user": "1000:"}, "spec.runtime.user", id="user-empty-group"),
    pytest.param({"runtime.user": 1000}, "spec.runtime.user", id="user-int"),
    # image tags
    pytest.param({"output.tags": ["-bad"]}, "spec.output.tags[0]", id="tag-dash"),
    pytest.param({"output.tags": [".bad"]}, "spec.output.tags[0]", id="tag-dot"),
    pytest.param({"output.tags": ["ok", "has space"]}, "spec.output.tags[1]", id="tag-space"),
    pytest.param({"output.tags": ["a" * 129]}, "spec.output.tags[0]", id="tag-long"),
    pytest.param({"output.tags": ["v1:2"]}, "spec.output.tags[0]", id="tag-colon"),
    pytest.param({"output.tags": ["$(id)"]}, "spec.output.tags[0]", id="tag-subst"),
    pytest.param({"output.tags": [1]}, "spec.output.tags[0]", id="tag-int"),
    pytest.param({"output.tags": "latest"}, "spec.output.tags", id="tags-string"),
    # ports
    pytest.param({"runtime.ports": [0]}, "spec.runtime.ports", id="port-zero"),
    pytest.param({"runtime.ports": [65536]}, "spec.runtime.ports", id="port-high"),
    pytest.param({"runtime.ports": [-1]}, "spec.runtime.ports", id="port-negative"),
    pytest.param({"runtime.ports": ["80"]}, "spec.runtime.ports", id="port-string"),
    pytest.param({"runtime.ports": [True]}, "spec.runtime.ports", id="port-bool"),
    pytest.param({"runtime.ports": [80.5]}, "spec.runtime.ports", id="port-float"),
    pytest.param({"runtime.ports": "80"}, "spec.runtime.ports", id="ports-string"),
    # the go section
    pytest.param({"go.version": "latest"}, "spec.go.version", id="go-version-word"),
    pytest.param({"go.version": "1"}, "spec.go.version", id="go-version-major"),
    pytest.param({"go.version": "1.26; id"}, "spec.go.version", id="go-version-shell"),
    pytest.param({"go.binaryName": "a/b"}, "spec.go.binaryName", id="binary-slash"),
    pytest.param({"go.binaryName": "my app"}, "spec.go.binaryName", id="binary-space"),
    pytest.param({"go.binaryName": "$(id)"}, "spec.go.binaryName", id="binary-subst"),
    pytest.param({"go.binaryName": ".hidden"}, "spec.go.binaryName", id="binary-dot"),
    pytest.param({"go.tags": ["a b"]}, "spec.go.tags[0]", id="build-tag-space"),
    pytest.param({"go.tags": ["ok", "$(id)"]}, "spec.go.tags[1]", id="build-tag-subst"),
    pytest.param({"go.image": "golang:1.26 AS x"}, "spec.go.image", id="go-image-space"),
    pytest.param({"go.image": "golang:$V"}, "spec.go.image", id="go-image-dollar"),
    pytest.param({"runtime.image": "alpine AS build"}, "spec.runtime.image", id="rt-image-space"),
    pytest.param({"runtime.image": "${BASE}"}, "spec.runtime.image", id="rt-image-var"),
    # a binary name derived from user text must be a file name too
    pytest.param(
        {"source.git.url": "https://example.com/org/$(reboot)"},
        "spec.go.binaryName",
        id="derived-binary-from-url",
    ),
    pytest.param(
        {"go.package": "./cmd/$(id)"}, "spec.go.binaryName", id="derived-binary-from-package"
    ),
    pytest.param(
        {"source.contextDir": "svc/`id`"}, "spec.go.binaryName", id="derived-binary-from-context"
    ),
    # the rest of output and builder
    pytest.param({"output.insecure": "true"}, "spec.output.insecure", id="insecure-string"),
    pytest.param(
        {"output.pushSecretRef": {"name": 5}},
        "spec.output.pushSecretRef.name",
        id="push-secret-int",
    ),
    pytest.param(
        {"source.git.secretRef": {"name": ["a"]}},
        "spec.source.git.secretRef.name",
        id="git-secret-list",
    ),
    pytest.param(
        {"builder.cache.enabled": "no"}, "spec.builder.cache.enabled", id="cache-not-bool"
    ),
    pytest.param({"builder.cache": "on"}, "spec.builder.cache", id="cache-not-object"),
    pytest.param(
        {"builder.resources": {"limits": {"memory": "lots"}}},
        "spec.builder.resources.limits.memory",
        id="resources-quantity",
    ),
    pytest.param(
        {"builder.resources": {"claims": {}}}, "spec.builder.resources", id="resources-kind"
    ),
    pytest.param(
        {"builder.tolerations": ["builds"]}, "spec.builder.tolerations[0]", id="toleration"
    ),
    pytest.param(
        {"builder.registryMirrors": ["mirror.gcr.io", 5]},
        "spec.builder.registryMirrors[1]",
        id="mirror-int",
    ),
]


@pytest.mark.parametrize(("values", "field"), REFUSALS)
def test_refusal_names_the_field(values: dict[str, Any], field: str) -> None:
    with pytest.raises(specs.SpecError) as caught:
        specs.parse_spec(spec_with(values))
    assert caught.value.field == field
    assert str(caught.value) == f"{field}: {caught.value.message}"
    assert caught.value.message


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
