"""render_dockerfile: the golden files, the shape every Dockerfile has, and its quoting."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest
from tests.conftest import Golden
from tests.unit import factories
from tests.unit.factories import parse

from goimage.core import dockerfile
from goimage.core import spec as specs

RESOURCE = "team-a/gitback"
ALPINE = "alpine:3.20"


def full_values() -> dict[str, Any]:
    """env, labels, args, ports, build tags, a commit: everything the template can show."""
    raw = factories.full_spec()
    raw["source"]["git"]["revision"] = factories.COMMIT
    return {key: raw[key] for key in ("source", "go", "runtime", "output")}


# name of the golden file -> values applied to the minimal spec
CASES: dict[str, dict[str, Any]] = {
    "distroless-static": {},
    "scratch": {"runtime.image": "scratch", "go.package": "./cmd/gitback"},
    "alpine-packages": {"runtime.image": ALPINE, "runtime.packages": ["ca-certificates", "tzdata"]},
    "cgo-distroless-base": {"go.cgo": True, "go.package": "./cmd/gitback"},
    "cgo-alpine": {"go.cgo": True, "runtime.image": ALPINE, "runtime.packages": ["libgcc"]},
    "full": full_values(),
}


def render(values: dict[str, Any] | None = None, commit: str = factories.COMMIT) -> str:
    return dockerfile.render_dockerfile(parse(values), resource=RESOURCE, commit=commit)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        full = pending + line
        pending = ""
        keyword, _, rest = full.strip().partition(" ")
        result.append((keyword, rest))
    assert not pending, "a continuation line ends the file"
    return result


def stages(text: str) -> list[list[tuple[str, str]]]:
    """The instructions of each stage, each list starting with its FROM."""
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            found.append([])
        assert found, f"{keyword} before the first FROM"
        found[-1].append((keyword, rest))
    return found


def build_line(text: str) -> list[str]:
    """The `go build` RUN, split as /bin/sh -c would split it."""
    runs = [rest for keyword, rest in instructions(text) if keyword == "RUN"]
    builds = [run for run in runs if run.startswith("go build")]
    assert len(builds) == 1, runs
    return shlex.split(builds[0])


def unquote_dq(word: str) -> str:
    """A Dockerfile double-quoted word (ENV, LABEL) as the Dockerfile parser reads it.

    Inside double quotes the parser takes \\ before ", \\ and $ as an escape and
    expands an unescaped $; the test fails on an unescaped $ or " in the middle.
    """
    assert word.startswith('"'), word
    assert word.endswith('"'), word
    out: list[str] = []
    body = word[1:-1]
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body) and body[index + 1] in '"\\$':
            out.append(body[index + 1])
            index += 2
            continue
        assert char not in '"$', f"unescaped {char!r} in {word}"
        out.append(char)
        index += 1
    return "".join(out)


def split_assignment(rest: str) -> tuple[str, str]:
    """KEY=VALUE of ENV or LABEL, where VALUE (and a quoted KEY) are double-quoted words."""
    if rest.startswith('"'):
        # A quoted key ends at the first unescaped quote.
        index = 1
        while rest[index] != '"':
            index += 2 if rest[index] == "\\" else 1
        key, remainder = unquote_dq(rest[: index + 1]), rest[index + 1 :]
        assert remainder.startswith("="), rest
        return key, unquote_dq(remainder[1:])
    key, _, value = rest.partition("=")
    return key, unquote_dq(value) if value.startswith('"') else value


class TestGolden:
    @pytest.mark.parametrize("name", sorted(CASES))
    def test_dockerfile_matches_golden(self, name: str, golden: Golden) -> None:
        golden(f"dockerfile/{name}.Dockerfile", render(CASES[name]))


@pytest.mark.parametrize("name", sorted(CASES))
class TestShape:
    """What every rendered Dockerfile holds, whatever the goldens say."""

    def test_two_stages_builder_then_runtime(self, name: str) -> None:
        spec = parse(CASES[name])
        build, runtime = stages(render(CASES[name]))
        assert build[0] == ("FROM", f"{spec.builder_image} AS build")
        assert runtime[0] == ("FROM", spec.runtime.image)

    def test_modules_download_before_the_source_is_copied(self, name: str) -> None:
        build = stages(render(CASES[name]))[0]
        order = [" ".join(item) for item in build]
        go_mod = order.index("COPY go.mod go.sum* ./")
        download = next(i for i, item in enumerate(order) if item.startswith("RUN go mod download"))
        source = order.index("COPY . .")
        compile_ = next(i for i, item in enumerate(order) if item.startswith("RUN go build"))
        assert go_mod < download < source < compile_

    def test_std_packages_compile_in_the_module_layer_with_the_builds_flags(
        self, name: str
    ) -> None:
        # Go's build cache reuses a package only when its flags match: the module
        # layer's precompile must use the build's -trimpath and tags.
        spec = parse(CASES[name])
        build = stages(render(CASES[name]))[0]
        layer = next(rest for keyword, rest in build if rest.startswith("go mod download"))
        download, precompile = (shlex.split(part) for part in layer.split(" && "))
        assert download == ["go", "mod", "download"]
        expected = ["go", "build", "-trimpath"]
        if spec.go.tags:
            expected.append(f"-tags={','.join(spec.go.tags)}")
        assert precompile == [*expected, "fmt", "os", "flag"]
        assert [a for a in build_line(render(CASES[name])) if a in expected] == expected

    def test_go_env_precedes_the_module_download(self, name: str) -> None:
        build = stages(render(CASES[name]))[0]
        download = next(i for i, (_, cmd) in enumerate(build) if cmd.startswith("go mod download"))
        env_names = [split_assignment(rest)[0] for keyword, rest in build if keyword == "ENV"]
        assert "CGO_ENABLED" in env_names
        env_indexes = [i for i, (keyword, _) in enumerate(build) if keyword == "ENV"]
        assert max(env_indexes) < download

    def test_build_is_trimmed_and_uses_the_ldflags(self, name: str) -> None:
        spec = parse(CASES[name])
        argv = build_line(render(CASES[name]))
        assert argv[:2] == ["go", "build"]
        assert "-trimpath" in argv
        assert f"-ldflags={spec.go.ldflags}" in argv
        assert argv[argv.index("-o") + 1] == f"/out/bin/{spec.binary_name}"
        assert argv[-1] == spec.go.package
        if spec.go.tags:
            assert f"-tags={','.join(spec.go.tags)}" in argv
        else:
            assert not any(arg.startswith("-tags") for arg in argv)

    def test_cgo_enabled_only_for_cgo(self, name: str) -> None:
        spec = parse(CASES[name])
        build = stages(render(CASES[name]))[0]
        expected = "1" if spec.go.cgo else "0"
        assert ("ENV", f"CGO_ENABLED={expected}") in build

    def test_runtime_stage_runs_the_binary_as_the_user(self, name: str) -> None:
        spec = parse(CASES[name])
        runtime = stages(render(CASES[name]))[-1]
        binary = f"/usr/local/bin/{spec.binary_name}"
        assert ("COPY", f"--from=build /out/bin/{spec.binary_name} {binary}") in runtime
        assert ("USER", spec.runtime.user) in runtime
        entrypoints = [rest for keyword, rest in runtime if keyword == "ENTRYPOINT"]
        assert [json.loads(e) for e in entrypoints] == [[binary]]
        # USER before ENTRYPOINT and CMD: the last word on who runs the process.
        keywords = [keyword for keyword, _ in runtime]
        assert keywords.index("USER") < keywords.index("ENTRYPOINT")
        # Then only the source's labels, the commit's last: a new commit changes no
        # earlier instruction (and so no cache key of a layer).
        assert keywords[-3] in ("ENTRYPOINT", "CMD")
        assert runtime[-2:] == [
            ("LABEL", f'"org.opencontainers.image.source"="{spec.source.git.url}"'),
            ("LABEL", f'"org.opencontainers.image.revision"="{factories.COMMIT}"'),
        ]

    def test_oci_labels_name_the_source(self, name: str) -> None:
        spec = parse(CASES[name])
        runtime = stages(render(CASES[name]))[-1]
        labels = dict(split_assignment(rest) for keyword, rest in runtime if keyword == "LABEL")
        assert labels["org.opencontainers.image.source"] == spec.source.git.url
        assert labels["org.opencontainers.image.title"] == spec.binary_name

    def test_names_the_resource_it_came_from(self, name: str) -> None:
        assert f"GoImageBuild {RESOURCE};" in render(CASES[name]).splitlines()[0]


class TestRuntimeKinds:
    def test_distroless_copies_only_the_binary(self) -> None:
        runtime = stages(render())[-1]
        copies = [rest for keyword, rest in runtime if keyword == "COPY"]
        assert copies == ["--from=build /out/bin/gitback /usr/local/bin/gitback"]
        assert not [rest for keyword, rest in runtime if keyword == "RUN"]

    def test_scratch_gets_ca_certificates_and_the_user_from_the_builder(self) -> None:
        text = render({"runtime.image": "scratch"})
        build, runtime = stages(text)
        copies = [rest for keyword, rest in runtime if keyword == "COPY"]
        assert (
            "--from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt"
            in (copies)
        )
        assert "--from=build /out/etc/passwd /etc/passwd" in copies
        assert "--from=build /out/etc/group /etc/group" in copies
        # The passwd and group files are written in the build stage, after the build.
        users = [rest for keyword, rest in build if keyword == "RUN" and "/out/etc/passwd" in rest]
        assert len(users) == 1
        assert "nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin" in users[0]
        assert "nonroot:x:65532:" in users[0]

    def test_scratch_user_without_group_uses_uid_as_gid(self) -> None:
        text = render({"runtime.image": "scratch", "runtime.user": "1000"})
        assert "nonroot:x:1000:1000:nonroot:" in text
        assert ("USER", "1000") in stages(text)[-1]

    @pytest.mark.parametrize("image", ["gcr.io/distroless/static-debian12:nonroot", ALPINE])
    def test_only_scratch_copies_passwd(self, image: str) -> None:
        assert "/etc/passwd" not in render({"runtime.image": image})

    def test_alpine_installs_the_packages_in_the_runtime_stage(self) -> None:
        text = render({"runtime.image": ALPINE, "runtime.packages": ["tzdata", "curl=8.9.1-r0"]})
        build, runtime = stages(text)
        runs = [shlex.split(rest) for keyword, rest in runtime if keyword == "RUN"]
        assert runs == [["apk", "add", "--no-cache", "tzdata", "curl=8.9.1-r0"]]
        # Installed as root, before USER drops to the non-root user.
        keywords = [keyword for keyword, _ in runtime]
        assert keywords.index("RUN") < keywords.index("USER")
        assert not any("apk" in rest for _, rest in build)

    def test_alpine_without_packages_runs_nothing(self) -> None:
        runtime = stages(render({"runtime.image": ALPINE}))[-1]
        assert "RUN" not in [keyword for keyword, _ in runtime]

    def test_cgo_on_alpine_builds_with_musl(self) -> None:
        build, _ = stages(render({"go.cgo": True, "runtime.image": ALPINE}))
        assert build[0] == ("FROM", "golang:1.26-alpine AS build")
        assert ("RUN", "apk add --no-cache build-base") in build
        assert ("ENV", "CGO_ENABLED=1") in build

    def test_cgo_on_libc_base_builds_on_debian(self) -> None:
        build, runtime = stages(render({"go.cgo": True}))
        assert build[0] == ("FROM", "golang:1.26-bookworm AS build")
        assert runtime[0] == ("FROM", "gcr.io/distroless/base-debian12:nonroot")
        assert not any("build-base" in rest for _, rest in build)

    def test_go_image_override(self) -> None:
        build, _ = stages(render({"go.image": "registry.example.com/golang:1.26-fips"}))
        assert build[0] == ("FROM", "registry.example.com/golang:1.26-fips AS build")


class TestDetails:
    def test_env_labels_args_ports(self) -> None:
        text = render(full_values())
        build, runtime = stages(text)
        build_env = [split_assignment(rest) for keyword, rest in build if keyword == "ENV"]
        assert build_env == [
            ("CGO_ENABLED", "0"),
            ("GOPROXY", "https://proxy.golang.org,direct"),
            ("GOPRIVATE", "github.com/flarexes/*"),
            ("GOFLAGS", "-mod=readonly"),
        ]
        runtime_env = [split_assignment(rest) for keyword, rest in runtime if keyword == "ENV"]
        assert runtime_env == [("GITBACK_HOME", "/data")]
        assert ("EXPOSE", "8080 9090") in runtime
        cmd = [json.loads(rest) for keyword, rest in runtime if keyword == "CMD"]
        assert cmd == [["serve", "--listen=:8080"]]

    def test_labels_add_revision_for_the_commit_and_users_win_but_for_the_source(
        self,
    ) -> None:
        spec = parse(
            {
                "source.git.revision": "main",
                "runtime.labels": {
                    "org.opencontainers.image.title": "Git Back",
                    "org.opencontainers.image.revision": "not-the-commit",
                },
            }
        )
        assert dockerfile.oci_labels(spec) == [("org.opencontainers.image.title", "Git Back")]
        assert dockerfile.source_labels(spec, factories.COMMIT) == [
            ("org.opencontainers.image.source", factories.GIT_URL),
            ("org.opencontainers.image.revision", factories.COMMIT),
        ]
        text = dockerfile.render_dockerfile(spec, resource=RESOURCE, commit=factories.COMMIT)
        assert "not-the-commit" not in text

    def test_no_revision_label_without_a_commit(self) -> None:
        labels = dict(dockerfile.source_labels(parse({"source.git.revision": "main"}), ""))
        assert "org.opencontainers.image.revision" not in labels

    def test_a_new_commit_changes_only_the_last_line(self) -> None:
        other = "0" * 40
        before, after = render().splitlines(), render(commit=other).splitlines()
        assert before[:-1] == after[:-1]
        assert after[-1] == f'LABEL "org.opencontainers.image.revision"="{other}"'

    def test_no_cmd_expose_without_args_ports(self) -> None:
        keywords = [keyword for keyword, _ in instructions(render())]
        assert "CMD" not in keywords
        assert "EXPOSE" not in keywords

    def test_same_spec_same_text(self) -> None:
        assert render(full_values()) == render(full_values())


HOSTILE = [
    "$(rm -rf /)",
    "`reboot`",
    'it\'s "quoted"',
    "$HOME",
    "${PATH:-x}",
    "back\\slash",
    "ends with \\",
    "\\$HOME",
    "'; touch /pwned; echo '",
    "a && b || c; d > /e < f | g &",
    "*?[]~#!",
    "ünïcødé ✓",
]


@pytest.mark.parametrize("value", HOSTILE)
class TestQuoting:
    """The template is a security boundary: a hostile value stays one intact value."""

    def test_ldflags_is_one_shell_word(self, value: str) -> None:
        ldflags = f"-s -w -X main.v={value}"
        argv = build_line(render({"go.ldflags": ldflags}))
        assert f"-ldflags={ldflags}" in argv
        assert argv[-3:] == ["-o", "/out/bin/gitback", "."]

    def test_package_is_one_shell_word(self, value: str) -> None:
        # The package cannot hold spaces or '..'; anything else it may, quoted.
        kept = "".join(c for c in value if not c.isspace() and c not in "\\")
        package = "./cmd/" + (kept or "x")  # a value of only spaces leaves a plain name
        text = render({"go.package": package, "go.binaryName": "app"})
        assert build_line(text)[-1] == package

    def test_env_values_are_escaped(self, value: str) -> None:
        text = render(
            {
                "go.env": [{"name": "GOFLAGS", "value": value}],
                "runtime.env": [{"name": "APP_GREETING", "value": value}],
            }
        )
        env = [split_assignment(rest) for keyword, rest in instructions(text) if keyword == "ENV"]
        assert ("GOFLAGS", value) in env
        assert ("APP_GREETING", value) in env

    def test_label_values_are_escaped(self, value: str) -> None:
        text = render({"runtime.labels": {"team": value}})
        labels = dict(
            split_assignment(rest) for keyword, rest in instructions(text) if keyword == "LABEL"
        )
        assert labels["team"] == value

    def test_args_are_json(self, value: str) -> None:
        text = render({"runtime.args": [value, "--flag", value]})
        cmd = [rest for keyword, rest in instructions(text) if keyword == "CMD"]
        assert [json.loads(c) for c in cmd] == [[value, "--flag", value]]

    def test_no_line_is_added(self, value: str) -> None:
        plain = render(
            {
                "go.env": [{"name": "GOFLAGS", "value": "x"}],
                "runtime.args": ["x"],
                "runtime.labels": {"team": "x"},
            }
        )
        hostile = render(
            {
                "go.ldflags": value,
                "go.env": [{"name": "GOFLAGS", "value": value}],
                "runtime.args": [value],
                "runtime.labels": {"team": value},
            }
        )
        assert len(hostile.splitlines()) == len(plain.splitlines())
        assert [k for k, _ in instructions(hostile)] == [k for k, _ in instructions(plain)]

    def test_packages_are_refused(self, value: str) -> None:
        with pytest.raises(specs.SpecError) as caught:
            parse({"runtime.image": ALPINE, "runtime.packages": ["tzdata", f"curl{value}"]})
        assert caught.value.field == "spec.runtime.packages[1]"

    def test_build_tags_are_refused(self, value: str) -> None:
        with pytest.raises(specs.SpecError) as caught:
            parse({"go.tags": [value]})
        assert caught.value.field == "spec.go.tags[0]"


def test_double_quoted_filter() -> None:
    assert dockerfile._double_quoted('a"b\\c$d') == '"a\\"b\\\\c\\$d"'


# --- several platforms ------------------------------------------------------------------------

TWO_PLATFORMS = {"output.platforms": ["linux/amd64", "linux/arm64"]}
MULTI_CASES: dict[str, dict[str, Any]] = {
    "multi-platform": TWO_PLATFORMS,
    "multi-platform-scratch": {
        **TWO_PLATFORMS,
        "output.platforms": ["linux/amd64", "linux/arm64", "linux/arm/v7"],
        "runtime.image": "scratch",
    },
}


class TestPlatforms:
    @pytest.mark.parametrize("name", sorted(MULTI_CASES))
    def test_dockerfile_matches_golden(self, name: str, golden: Golden) -> None:
        golden(f"dockerfile/{name}.Dockerfile", render(MULTI_CASES[name]))

    @pytest.mark.parametrize("name", sorted(CASES))
    def test_one_platform_declares_no_target(self, name: str) -> None:
        text = render(CASES[name])
        assert "ARG" not in [keyword for keyword, _ in instructions(text)]
        assert "--platform" not in text

    @pytest.mark.parametrize("platform", specs.KNOWN_PLATFORMS)
    def test_one_platform_is_the_same_dockerfile_whichever(self, platform: str) -> None:
        # Built natively on a node of that platform: nothing to cross-compile.
        assert render({"output.platforms": [platform]}) == render()

    @pytest.mark.parametrize("name", sorted(MULTI_CASES))
    def test_builder_runs_on_the_build_platform_and_takes_the_target(self, name: str) -> None:
        spec = parse(MULTI_CASES[name])
        build, runtime = stages(render(MULTI_CASES[name]))
        assert build[0] == ("FROM", f"--platform=$BUILDPLATFORM {spec.builder_image} AS build")
        assert build[1:4] == [("ARG", "GOOS"), ("ARG", "GOARCH"), ("ARG", "GOARM")]
        # Declared before both go builds (the module layer's warm-up and the binary's).
        runs = [i for i, (_, rest) in enumerate(build) if "go build" in rest]
        assert len(runs) == 2
        assert min(runs) > 3
        # The runtime stage is the target's base (Kaniko's --custom-platform) and runs nothing.
        assert runtime[0] == ("FROM", spec.runtime.image)
        assert "RUN" not in [keyword for keyword, _ in runtime]

    def test_still_static(self) -> None:
        assert ("ENV", "CGO_ENABLED=0") in stages(render(TWO_PLATFORMS))[0]
