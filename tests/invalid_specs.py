"""Invalid GoImageBuild specs: one table for both judges, the parser and the API server.

Each row is a spec that must be refused and the field path the refusal must
name. Two tiers read the table:

- the unit tier (tests/unit/test_spec.py): ``parse_spec`` raises ``SpecError``
  whose ``field`` is the row's field;
- the integration tier (tests/integration/test_crd_validation.py): the API
  server refuses ``kubectl apply`` with a message that names the same field
  (and, where a row gives one, the phrase).

``judged_by`` says who can judge a row. Most rules live in both places: the
CRD's schema and CEL rules refuse bad input before it is stored, and the parser
says the same for a spec read from anywhere (a resource stored before the CRD
was upgraded, a unit test). A rule only one side can state is marked, and the
other tier checks that it really lets the spec through, so a rule added later
to that side shows up as a row to move to ``BOTH``:

- ``PARSER``: only the operator can judge it; the build ends ``Failed`` with
  reason ``InvalidSpec`` and a message that names the field;
- ``API_SERVER``: structural limits the parser never needs (length bounds that
  keep CEL costs estimable, list sets, enums, unknown fields), refused at apply.

Every row's spec is the minimal spec below with ``values`` applied (dotted
paths, as in ``tests.unit.factories.with_values``; ``DELETE`` removes a key).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from tests.unit.factories import DELETE, with_values

GIT_URL = "https://git.example.invalid/team/app.git"
IMAGE = "registry.example.invalid/team/app"
ALPINE = "alpine:3.20"
STATIC = "gcr.io/distroless/static-debian12:nonroot"
DIGEST = "sha256:" + "4f1c" * 16


def minimal_spec() -> dict[str, Any]:
    """The least a user writes: a git URL and an output image."""
    return {"source": {"git": {"url": GIT_URL}}, "output": {"image": IMAGE}}


class Judge(enum.Enum):
    """Who refuses a row's spec."""

    BOTH = "both"
    PARSER = "parser"  # the operator only: Failed, reason InvalidSpec
    API_SERVER = "api-server"  # the CRD only: refused at apply, never reaches the parser

    @property
    def parser(self) -> bool:
        return self is not Judge.API_SERVER

    @property
    def api_server(self) -> bool:
        return self is not Judge.PARSER


@dataclass(frozen=True)
class InvalidSpec:
    id: str
    values: Mapping[str, Any]
    field: str
    judged_by: Judge = Judge.BOTH
    phrase: str = ""
    """A phrase of the API server's message, where the row pins more than the field."""
    why: str = ""
    """For a one-sided row: why the other side does not judge it."""

    def spec(self) -> dict[str, Any]:
        return with_values(minimal_spec(), self.values)


P, A = Judge.PARSER, Judge.API_SERVER
_R = InvalidSpec

ROWS: tuple[InvalidSpec, ...] = (
    # required fields
    _R("output.image-missing", {"output.image": DELETE}, "spec.output.image"),
    _R(
        "missing-output-image",
        {"output.image": DELETE, "output.tags": ["v1"]},
        "spec.output.image",
        phrase="Required value",
    ),
    _R("output.image-empty", {"output.image": ""}, "spec.output.image"),
    _R("output-missing", {"output": DELETE}, "spec.output"),
    _R("source-missing", {"source": DELETE}, "spec.source"),
    _R("git-missing", {"source.git": DELETE}, "spec.source.git"),
    _R("url-missing", {"source.git.url": DELETE}, "spec.source.git.url"),
    _R("source-not-object", {"source": "github.com/x"}, "spec.source"),
    # output.image: a repository, no tag, no digest
    _R("image-tag", {"output.image": f"{IMAGE}:v1"}, "spec.output.image", phrase="without a tag"),
    _R("image-port-tag", {"output.image": "localhost:5000/app:latest"}, "spec.output.image"),
    _R(
        "tag-in-output-image-behind-a-registry-port",
        {"output.image": "localhost:5000/team/app:v1"},
        "spec.output.image",
        phrase="without a tag",
    ),
    _R(
        "image-digest",
        {"output.image": f"{IMAGE}@{DIGEST}"},
        "spec.output.image",
        phrase="without a digest",
    ),
    _R("image-upper", {"output.image": "Registry.io/Team/App"}, "spec.output.image"),
    _R(
        "uppercase-repository",
        {"output.image": "Registry.example.invalid/Team/App"},
        "spec.output.image",
        phrase="lowercase path components",
    ),
    _R("image-space", {"output.image": "registry.io/my app"}, "spec.output.image"),
    # runtime.packages: apk, so alpine only
    _R(
        "packages-on-default-runtime",
        {"runtime.packages": ["tzdata"]},
        "spec.runtime.packages",
        phrase="alpine",
    ),
    _R(
        "packages-on-distroless",
        {"runtime.image": STATIC, "runtime.packages": ["tzdata"]},
        "spec.runtime.packages",
        phrase="alpine",
    ),
    _R(
        "packages-scratch",
        {"runtime.image": "scratch", "runtime.packages": ["curl"]},
        "spec.runtime.packages",
    ),
    _R(
        "packages-debian",
        {"runtime.image": "debian:12", "runtime.packages": ["curl"]},
        "spec.runtime.packages",
    ),
    _R(
        "packages-shell",
        {"runtime.image": ALPINE, "runtime.packages": ["tzdata; rm -rf /"]},
        "spec.runtime.packages[0]",
        phrase="should match",
    ),
    _R(
        "packages-subst",
        {"runtime.image": ALPINE, "runtime.packages": ["tzdata", "$(id)"]},
        "spec.runtime.packages[1]",
    ),
    _R(
        "packages-flag",
        {"runtime.image": ALPINE, "runtime.packages": ["--allow-untrusted"]},
        "spec.runtime.packages[0]",
    ),
    # cgo needs a C library in the runtime image
    _R(
        "cgo-scratch",
        {"go.cgo": True, "runtime.image": "scratch"},
        "spec.go.cgo",
        phrase="C library",
    ),
    _R(
        "cgo-static",
        {"go.cgo": True, "runtime.image": STATIC},
        "spec.go.cgo",
        phrase="C library",
    ),
    _R("cgo-not-bool", {"go.cgo": "yes"}, "spec.go.cgo"),
    # maxSize: a positive quantity
    _R(
        "maxSize-word",
        {"output.maxSize": "lots"},
        "spec.output.maxSize",
        phrase="Kubernetes quantity",
    ),
    _R("maxSize-unit", {"output.maxSize": "30XB"}, "spec.output.maxSize"),
    _R("maxSize-empty", {"output.maxSize": ""}, "spec.output.maxSize"),
    _R("maxSize-list", {"output.maxSize": [30]}, "spec.output.maxSize"),
    _R("maxSize-bool", {"output.maxSize": True}, "spec.output.maxSize"),
    _R("maxSize-zero", {"output.maxSize": "0"}, "spec.output.maxSize", phrase="positive"),
    _R("maxSize-zero-int", {"output.maxSize": 0}, "spec.output.maxSize", phrase="positive"),
    _R("maxSize-negative", {"output.maxSize": "-1Mi"}, "spec.output.maxSize", phrase="positive"),
    _R("maxSize-negative-int", {"output.maxSize": -5}, "spec.output.maxSize", phrase="positive"),
    # builder.timeout: a positive Go duration
    _R("timeout-no-unit", {"builder.timeout": "30"}, "spec.builder.timeout"),
    _R("timeout-word", {"builder.timeout": "abc"}, "spec.builder.timeout"),
    _R("timeout-days", {"builder.timeout": "1d"}, "spec.builder.timeout"),
    _R("timeout-zero", {"builder.timeout": "0s"}, "spec.builder.timeout", phrase="positive"),
    _R("timeout-negative", {"builder.timeout": "-5m"}, "spec.builder.timeout"),
    _R("timeout-space", {"builder.timeout": "30 m"}, "spec.builder.timeout"),
    _R(
        "timeout-not-a-duration",
        {"builder.timeout": "30 minutes"},
        "spec.builder.timeout",
        phrase="should match",
    ),
    _R("timeout-unit-only", {"builder.timeout": "m"}, "spec.builder.timeout"),
    _R("timeout-int", {"builder.timeout": 1800}, "spec.builder.timeout"),
    # newlines and control characters: they would end a Dockerfile line
    _R(
        "ldflags-newline",
        {"go.ldflags": "-s -w\nRUN evil"},
        "spec.go.ldflags",
        phrase="should match",
    ),
    _R("ldflags-cr", {"go.ldflags": "-s -w\r"}, "spec.go.ldflags"),
    _R("ldflags-nul", {"go.ldflags": "-s\x00"}, "spec.go.ldflags"),
    _R("ldflags-tab", {"go.ldflags": "-s\t-w"}, "spec.go.ldflags"),
    _R("ldflags-list", {"go.ldflags": ["-s"]}, "spec.go.ldflags"),
    _R(
        "go-env-newline",
        {"go.env": [{"name": "GOFLAGS", "value": "x\nRUN id"}]},
        "spec.go.env[0].value",
    ),
    _R(
        "runtime-env-newline",
        {"runtime.env": [{"name": "A", "value": "1"}, {"name": "B", "value": "a\nb"}]},
        "spec.runtime.env[1].value",
    ),
    _R("env-value-int", {"go.env": [{"name": "N", "value": 1}]}, "spec.go.env[0].value"),
    _R("args-newline", {"runtime.args": ["ok", "a\nb"]}, "spec.runtime.args[1]"),
    _R("label-newline", {"runtime.labels": {"team": "a\nb"}}, "spec.runtime.labels.team"),
    _R("label-int", {"runtime.labels": {"team": 5}}, "spec.runtime.labels.team"),
    _R(
        "label-key",
        {"runtime.labels": {"bad key": "x"}},
        "spec.runtime.labels",
        phrase="label keys",
    ),
    _R("labels-list", {"runtime.labels": ["a"]}, "spec.runtime.labels"),
    _R("revision-newline", {"source.git.revision": "main\nx"}, "spec.source.git.revision"),
    # source.git.poll: a Go duration of at least 30s, never with a commit revision
    _R("poll-too-short", {"source.git.poll": "10s"}, "spec.source.git.poll", phrase="30s"),
    _R("poll-not-a-duration", {"source.git.poll": "5 minutes"}, "spec.source.git.poll"),
    _R(
        "poll-a-commit",
        {"source.git.revision": "4f1c" * 10, "source.git.poll": "5m"},
        "spec.source.git.poll",
        phrase="a commit never moves",
    ),
    # environment variable names
    _R(
        "env-digit",
        {"go.env": [{"name": "1BAD", "value": "x"}]},
        "spec.go.env[0].name",
        phrase="should match",
    ),
    _R("env-dash", {"go.env": [{"name": "A-B", "value": ""}]}, "spec.go.env[0].name"),
    _R("env-space", {"go.env": [{"name": "A B", "value": ""}]}, "spec.go.env[0].name"),
    _R("env-empty", {"go.env": [{"name": "", "value": "x"}]}, "spec.go.env[0].name"),
    _R("env-no-name", {"go.env": [{"value": "x"}]}, "spec.go.env[0].name"),
    _R("env-string", {"go.env": ["GOFLAGS=x"]}, "spec.go.env[0]"),
    _R("env-dollar", {"runtime.env": [{"name": "$X", "value": ""}]}, "spec.runtime.env[0].name"),
    _R("env-map", {"go.env": {"A": "1"}}, "spec.go.env"),
    _R(
        "cgo-enabled-in-go-env",
        {"go.env": [{"name": "CGO_ENABLED", "value": "1"}]},
        "spec.go.env[0].name",
    ),
    # git URLs: http(s) only, no fragment, no credentials
    _R(
        "ssh",
        {"source.git.url": "ssh://git@github.com/org/app.git"},
        "spec.source.git.url",
        phrase="https?://",
    ),
    _R("scp-style", {"source.git.url": "git@github.com:org/app.git"}, "spec.source.git.url"),
    _R("file", {"source.git.url": "file:///etc/passwd"}, "spec.source.git.url"),
    _R("git", {"source.git.url": "git://github.com/a/b"}, "spec.source.git.url"),
    _R("fragment", {"source.git.url": "https://github.com/a/b#main"}, "spec.source.git.url"),
    _R("no-host", {"source.git.url": "https://"}, "spec.source.git.url"),
    _R(
        "credentials-in-git-url",
        {"source.git.url": "https://user:secret@git.example.invalid/app.git"},
        "spec.source.git.url",
        phrase="secretRef",
    ),
    _R(
        "token-in-git-url",
        {"source.git.url": "https://ghp_token@github.com/org/app.git"},
        "spec.source.git.url",
    ),
    _R(
        "revision-flag",
        {"source.git.revision": "--upload-pack=touch /x"},
        "spec.source.git.revision",
    ),
    _R(
        "revision-space",
        {"source.git.revision": "my branch"},
        "spec.source.git.revision",
        phrase="should match",
    ),
    # paths that leave the repository
    _R("ctx-dotdot", {"source.contextDir": ".."}, "spec.source.contextDir"),
    _R("ctx-up", {"source.contextDir": "../other"}, "spec.source.contextDir", phrase="'..'"),
    _R("ctx-inner", {"source.contextDir": "a/../../b"}, "spec.source.contextDir"),
    _R("ctx-absolute", {"source.contextDir": "/etc"}, "spec.source.contextDir"),
    _R(
        "contextdir-absolute",
        {"source.contextDir": "/abs"},
        "spec.source.contextDir",
        phrase="leading '/'",
    ),
    _R("ctx-backslash", {"source.contextDir": "a\\b"}, "spec.source.contextDir"),
    _R("ctx-space", {"source.contextDir": "my dir"}, "spec.source.contextDir"),
    _R("pkg-up", {"go.package": "./../x"}, "spec.go.package", phrase="'..'"),
    _R("pkg-inner", {"go.package": "./a/../../b"}, "spec.go.package"),
    _R("pkg-no-dot-slash", {"go.package": "../x"}, "spec.go.package"),
    _R("pkg-relative", {"go.package": "cmd/x"}, "spec.go.package", phrase="./"),
    _R("pkg-absolute", {"go.package": "/src/cmd"}, "spec.go.package"),
    _R("pkg-space", {"go.package": "./my pkg"}, "spec.go.package"),
    # runtime.user: numeric uid[:gid]
    _R("user-root-name", {"runtime.user": "root"}, "spec.runtime.user"),
    _R("user-name", {"runtime.user": "nonroot"}, "spec.runtime.user"),
    _R("user-group-name", {"runtime.user": "1000:abc"}, "spec.runtime.user"),
    _R("user-negative", {"runtime.user": "-1"}, "spec.runtime.user"),
    _R("user-three", {"runtime.user": "1:2:3"}, "spec.runtime.user"),
    _R("user-empty-group", {"runtime.user": "1000:"}, "spec.runtime.user"),
    _R("user-int", {"runtime.user": 1000}, "spec.runtime.user"),
    # output.tags: image tags
    _R(
        "tag-dash",
        {"output.tags": ["latest", "-not-a-tag"]},
        "spec.output.tags[1]",
        phrase="should match",
    ),
    _R("tag-dot", {"output.tags": [".bad"]}, "spec.output.tags[0]"),
    _R("tag-space", {"output.tags": ["ok", "has space"]}, "spec.output.tags[1]"),
    _R("tag-long", {"output.tags": ["a" * 129]}, "spec.output.tags[0]"),
    _R("tag-colon", {"output.tags": ["v1:2"]}, "spec.output.tags[0]"),
    _R("tag-subst", {"output.tags": ["$(id)"]}, "spec.output.tags[0]"),
    _R("tag-int", {"output.tags": [1]}, "spec.output.tags[0]"),
    _R("tags-string", {"output.tags": "latest"}, "spec.output.tags"),
    _R(
        "no-output-tags",
        {"output.tags": []},
        "spec.output.tags",
        phrase="should have at least 1 items",
    ),
    # runtime.ports
    _R(
        "port-zero",
        {"runtime.ports": [0]},
        "spec.runtime.ports[0]",
        phrase="greater than or equal to 1",
    ),
    _R("port-high", {"runtime.ports": [65536]}, "spec.runtime.ports[0]"),
    _R("port-negative", {"runtime.ports": [8080, -1]}, "spec.runtime.ports[1]"),
    _R("port-string", {"runtime.ports": ["80"]}, "spec.runtime.ports[0]"),
    _R("port-bool", {"runtime.ports": [True]}, "spec.runtime.ports[0]"),
    _R("port-float", {"runtime.ports": [80.5]}, "spec.runtime.ports[0]"),
    _R("ports-string", {"runtime.ports": "80"}, "spec.runtime.ports"),
    # the go section
    _R("go-version-word", {"go.version": "latest"}, "spec.go.version"),
    _R("go-version-major", {"go.version": "1"}, "spec.go.version"),
    _R("go-version-shell", {"go.version": "1.26; id"}, "spec.go.version"),
    _R("binary-slash", {"go.binaryName": "a/b"}, "spec.go.binaryName"),
    _R("binary-space", {"go.binaryName": "my app"}, "spec.go.binaryName"),
    _R("binary-subst", {"go.binaryName": "$(id)"}, "spec.go.binaryName"),
    _R("binary-dot", {"go.binaryName": ".hidden"}, "spec.go.binaryName"),
    _R("build-tag-space", {"go.tags": ["a b"]}, "spec.go.tags[0]"),
    _R("build-tag-subst", {"go.tags": ["ok", "$(id)"]}, "spec.go.tags[1]"),
    _R("go-image-space", {"go.image": "golang:1.26 AS x"}, "spec.go.image"),
    _R("go-image-dollar", {"go.image": "golang:$V"}, "spec.go.image"),
    _R("rt-image-space", {"runtime.image": "alpine AS build"}, "spec.runtime.image"),
    _R("rt-image-var", {"runtime.image": "${BASE}"}, "spec.runtime.image"),
    # a binary name derived from user text must be a file name too
    _R(
        "derived-binary-from-url",
        {"source.git.url": "https://example.com/org/$(reboot)"},
        "spec.go.binaryName",
        judged_by=P,
        why="the default name joins go.package, contextDir and the URL: no schema rule says it",
    ),
    _R(
        "derived-binary-from-package",
        {"go.package": "./cmd/$(id)"},
        "spec.go.binaryName",
        judged_by=P,
        why="the default name joins go.package, contextDir and the URL: no schema rule says it",
    ),
    _R(
        "derived-binary-from-context",
        {"source.contextDir": "svc/`id`"},
        "spec.go.binaryName",
        judged_by=P,
        why="the default name joins go.package, contextDir and the URL: no schema rule says it",
    ),
    # the rest of output and builder
    _R("insecure-string", {"output.insecure": "true"}, "spec.output.insecure"),
    _R("push-secret-int", {"output.pushSecretRef": {"name": 5}}, "spec.output.pushSecretRef.name"),
    _R(
        "git-secret-list",
        {"source.git.secretRef": {"name": ["a"]}},
        "spec.source.git.secretRef.name",
    ),
    _R("cache-not-bool", {"builder.cache.enabled": "no"}, "spec.builder.cache.enabled"),
    _R("cache-not-object", {"builder.cache": "on"}, "spec.builder.cache"),
    _R(
        "resources-quantity",
        {"builder.resources": {"limits": {"memory": "lots"}}},
        "spec.builder.resources.limits.memory",
    ),
    _R(
        "resources-kind",
        {"builder.resources": {"claims": {}}},
        "spec.builder.resources.claims",
    ),
    _R("toleration", {"builder.tolerations": ["builds"]}, "spec.builder.tolerations[0]"),
    _R(
        "mirror-int",
        {"builder.registryMirrors": ["mirror.gcr.io", 5]},
        "spec.builder.registryMirrors[1]",
    ),
    _R(
        "registry-mirror-with-scheme",
        {"builder.registryMirrors": ["https://mirror.gcr.io"]},
        "spec.builder.registryMirrors[0]",
        phrase="without a scheme",
    ),
    _R(
        "registry-mirror-with-space",
        {"builder.registryMirrors": ["mirror.gcr.io", "a mirror"]},
        "spec.builder.registryMirrors[1]",
    ),
    # output.platforms: a closed list, each once; what needs a node of the platform
    _R(
        "platform-unknown",
        {"output.platforms": ["linux/amd64", "linux/mips"]},
        "spec.output.platforms[1]",
        phrase="linux/mips",
    ),
    _R("platform-without-os", {"output.platforms": ["arm64"]}, "spec.output.platforms[0]"),
    _R("platform-not-string", {"output.platforms": [64]}, "spec.output.platforms[0]"),
    _R(
        "platform-twice",
        {"output.platforms": ["linux/arm64", "linux/amd64", "linux/arm64"]},
        "spec.output.platforms[2]",
    ),
    _R("platforms-empty", {"output.platforms": []}, "spec.output.platforms"),
    _R(
        "packages-for-several-platforms",
        {
            "runtime.image": ALPINE,
            "runtime.packages": ["tzdata"],
            "output.platforms": ["linux/amd64", "linux/arm64"],
        },
        "spec.runtime.packages",
        phrase="emulation",
    ),
    _R(
        "cgo-for-several-platforms",
        {"go.cgo": True, "output.platforms": ["linux/amd64", "linux/arm64"]},
        "spec.go.cgo",
        phrase="cross-toolchain",
    ),
    _R(
        "node-selector-contradicts-the-platform",
        {
            "output.platforms": ["linux/arm64"],
            "builder.nodeSelector": {"kubernetes.io/arch": "amd64"},
        },
        "spec.builder.nodeSelector.kubernetes.io/arch",
        judged_by=P,
        why="a map key's value against a list's element: the parser says it; CEL would need "
        "string splitting per key, for a spec that can only build a foreign image",
    ),
    # structural limits only the API server keeps
    _R(
        "unknown-field",
        {"go.cgoo": True},
        "spec.go.cgoo",
        judged_by=A,
        phrase="unknown field",
        why="the parser reads the fields it knows; the API server's strict decoding names the rest",
    ),
    _R(
        "url-too-long",
        {"source.git.url": "https://git.example.invalid/" + "a" * 2048, "go.binaryName": "app"},
        "spec.source.git.url",
        judged_by=A,
        phrase="Too long",
        why="length bounds exist so the API server can bound CEL costs; the parser needs none",
    ),
    _R(
        "too-many-tags",
        {"output.tags": [f"v{n}" for n in range(17)]},
        "spec.output.tags",
        judged_by=A,
        phrase="Too many",
        why="length bounds exist so the API server can bound CEL costs; the parser needs none",
    ),
    _R(
        "duplicate-tag",
        {"output.tags": ["v1", "latest", "v1"]},
        "spec.output.tags[2]",
        judged_by=A,
        phrase="Duplicate value",
        why="a list-type set; the parser drops repeats (test_output_tags_keep_their_order...)",
    ),
    _R(
        "duplicate-port",
        {"runtime.ports": [8080, 8080]},
        "spec.runtime.ports[1]",
        judged_by=A,
        phrase="Duplicate value",
        why="a list-type set; the parser drops repeats (test_ports_sorted_and_unique)",
    ),
    _R(
        "toleration-operator",
        {"builder.tolerations": [{"key": "builds", "operator": "Sometimes"}]},
        "spec.builder.tolerations[0].operator",
        judged_by=A,
        phrase="Unsupported value",
        why="tolerations go to the Job verbatim; the enum is the Pod API's, restated by the CRD",
    ),
    _R(
        "secret-name-not-dns",
        {"output.pushSecretRef": {"name": "Reg_Cred"}},
        "spec.output.pushSecretRef.name",
        judged_by=A,
        why="a Secret's name rule is the API server's; the parser passes the name to the Job",
    ),
)


def _judged(judge: Judge, side: str) -> bool:
    if side == "parser":
        return judge.parser
    if side == "api_server":
        return judge.api_server
    if side == "parser_only":
        return judge is Judge.PARSER
    if side == "api_server_only":
        return judge is Judge.API_SERVER
    raise ValueError(f"unknown side {side!r}")


def rows(side: str) -> list[Any]:
    """pytest params, one per row: those that `side` must refuse ("parser",
    "api_server"), or those only the other side judges ("api_server_only",
    "parser_only"), which `side` must let through."""
    return [pytest.param(row, id=row.id) for row in ROWS if _judged(row.judged_by, side)]


def _check_table() -> None:
    """Ids name tests, so they are unique; a one-sided row says why."""
    seen: set[str] = set()
    for row in ROWS:
        if row.id in seen:
            raise ValueError(f"tests/invalid_specs.py: the id {row.id!r} is used twice")
        seen.add(row.id)
        if row.judged_by is not Judge.BOTH and not row.why:
            raise ValueError(f"tests/invalid_specs.py: {row.id!r} is one-sided: say why")


_check_table()
