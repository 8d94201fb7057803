"""The GoImageBuild spec, parsed once at the edge into frozen, typed values.

The API server already applies the CRD's defaults and refuses what its schema
and CEL rules can say. This module applies the same defaults again (so the core
works on any mapping, e.g. one read before the CRD was upgraded) and judges
what only the operator can: the combinations that depend on more than one
field, or on values the schema cannot parse. Every refusal names the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes.utils.quantity import parse_quantity

DEFAULT_GO_VERSION = "1.26"
DEFAULT_LDFLAGS = "-s -w"
DEFAULT_USER = "65532:65532"
DEFAULT_TIMEOUT = "30m"
STATIC_RUNTIME = "gcr.io/distroless/static-debian12:nonroot"
# cgo binaries link against libc: their default runtime must carry one.
LIBC_RUNTIME = "gcr.io/distroless/base-debian12:nonroot"
SCRATCH = "scratch"
DEFAULT_PLATFORM = "linux/amd64"
# The platforms a build may target: Go cross-compiles to each, and each has
# common base images (distroless, alpine). A closed list, so that a typo is
# refused at admission instead of failing in Kaniko's base image pull. The
# CRD's enum for spec.output.platforms lists the same strings.
KNOWN_PLATFORMS = (
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "linux/arm/v6",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
)

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOCKER_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_BINARY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_BUILD_TAG = re.compile(r"^[A-Za-z0-9_.,-]+$")
_APK_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+._-]*(=[A-Za-z0-9+._~-]+)?$")
_USER = re.compile(r"^[0-9]+(:[0-9]+)?$")
_GO_VERSION = re.compile(r"^[0-9]+\.[0-9]+(\.[0-9]+|rc[0-9]+)?$")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_GIT_URL = re.compile(r"^https?://[^\s#]+$")
_URL_CREDENTIALS = re.compile(r"^https?://[^/]*@")
# host[:port][/path], as Kaniko's --registry-mirror takes it.
_MIRROR = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]+)?(/[A-Za-z0-9._~-]+)*/?$")
# A full commit id: SHA-1 (40 hex) or SHA-256 (64 hex), as core.source reads them.
_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
# The shortest spec.source.git.poll: one ls-remote per resource per interval; at 30s
# 1,000 resources ask git 2,000 times a minute, which is what a git host tolerates.
MIN_POLL_SECONDS = 30
# An image reference as FROM takes it: no spaces (which would add words to the
# instruction) and no $ (which FROM would expand).
_IMAGE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")
# Characters that would end a Dockerfile line or a quoted value early.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class SpecError(ValueError):
    """A spec the operator cannot build; `field` is the path the user must fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str


@dataclass(frozen=True)
class GitSource:
    url: str
    revision: str = ""
    secret_name: str = ""
    # spec.source.git.poll in seconds; 0: no polling.
    poll_seconds: int = 0

    @property
    def is_commit(self) -> bool:
        return bool(_COMMIT.match(self.revision))


@dataclass(frozen=True)
class Source:
    git: GitSource
    context_dir: str = ""


@dataclass(frozen=True)
class GoSpec:
    version: str = DEFAULT_GO_VERSION
    image: str = ""
    package: str = "."
    binary_name: str = ""
    ldflags: str = DEFAULT_LDFLAGS
    tags: tuple[str, ...] = ()
    cgo: bool = False
    env: tuple[EnvVar, ...] = ()


@dataclass(frozen=True)
class RuntimeSpec:
    image: str = STATIC_RUNTIME
    packages: tuple[str, ...] = ()
    user: str = DEFAULT_USER
    args: tuple[str, ...] = ()
    env: tuple[EnvVar, ...] = ()
    ports: tuple[int, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def kind(self) -> str:
        """Which Dockerfile runtime stage fits this base: scratch, alpine or distroless."""
        if self.image == SCRATCH:
            return "scratch"
        if image_repository_name(self.image) == "alpine":
            return "alpine"
        return "distroless"


@dataclass(frozen=True)
class Platform:
    """One target platform, as `os/arch[/variant]` (one of KNOWN_PLATFORMS)."""

    os: str
    arch: str
    variant: str = ""

    @classmethod
    def parse(cls, value: str) -> Platform:
        os_, arch, *variant = value.split("/")
        return cls(os=os_, arch=arch, variant=variant[0] if variant else "")

    def __str__(self) -> str:
        return "/".join(part for part in (self.os, self.arch, self.variant) if part)

    @property
    def slug(self) -> str:
        """linux-arm-v7: a container name's and a folder's part."""
        return str(self).replace("/", "-")

    @property
    def go_env(self) -> tuple[tuple[str, str], ...]:
        """GOOS, GOARCH (and GOARM for 32-bit arm) that cross-compile for it."""
        env = [("GOOS", self.os), ("GOARCH", self.arch)]
        if self.arch == "arm" and self.variant:
            env.append(("GOARM", self.variant.removeprefix("v")))
        return tuple(env)


@dataclass(frozen=True)
class OutputSpec:
    image: str
    tags: tuple[str, ...] = ("latest",)
    push_secret_name: str = ""
    insecure: bool = False
    max_size: int | None = None
    platforms: tuple[Platform, ...] = (Platform.parse(DEFAULT_PLATFORM),)

    @property
    def multi_platform(self) -> bool:
        """More than one platform: an image per platform and an index over them."""
        return len(self.platforms) > 1


@dataclass(frozen=True)
class CacheSpec:
    enabled: bool = True
    repo: str = ""


@dataclass(frozen=True)
class Toleration:
    key: str = ""
    operator: str = ""
    value: str = ""
    effect: str = ""
    toleration_seconds: int | None = None


@dataclass(frozen=True)
class BuilderSpec:
    image: str = ""
    timeout_seconds: int = 1800
    timeout: str = DEFAULT_TIMEOUT  # as written: messages quote it
    cache: CacheSpec = field(default_factory=CacheSpec)
    # Kept as the API shape: the Job takes ResourceRequirements verbatim.
    resources: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    service_account_name: str = ""
    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    registry_mirrors: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildSpec:
    source: Source
    go: GoSpec
    runtime: RuntimeSpec
    output: OutputSpec
    builder: BuilderSpec

    @property
    def binary_name(self) -> str:
        return self.go.binary_name or default_binary_name(self)

    @property
    def builder_image(self) -> str:
        if self.go.image:
            return self.go.image
        # A cgo build for alpine must link against musl, so it builds on alpine too.
        if self.go.cgo and self.runtime.kind == "alpine":
            return f"golang:{self.go.version}-alpine"
        # A cgo binary needs the runtime's glibc to be at least the builder's:
        # build on the Debian release of the (default) debian12 runtime.
        if self.go.cgo and "debian12" in self.runtime.image:
            return f"golang:{self.go.version}-bookworm"
        return f"golang:{self.go.version}"

    @property
    def cache_repo(self) -> str:
        return self.builder.cache.repo or f"{self.output.image}/cache"


def image_repository_name(image: str) -> str:
    """The last path element of an image reference, without tag or digest."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def default_binary_name(spec: BuildSpec) -> str:
    """The last element of the package; for "." that of contextDir or the repository.

    The module path is only known inside the build, so for "." the repository
    name stands in for it: it is the module path's last element in the common
    case (github.com/org/app), and binaryName overrides it when it is not.
    """
    for candidate in (spec.go.package, spec.source.context_dir):
        last = candidate.rstrip("/").rsplit("/", 1)[-1]
        if last not in ("", "."):
            return last
    repo = spec.source.git.url.rstrip("/").rsplit("/", 1)[-1]
    return repo.removesuffix(".git") or "app"


def duration_seconds(value: str, *, field: str) -> float:
    """Seconds in a Go-style duration such as 30m, 1h30m or 1500ms, exactly."""
    if not _DURATION.match(value):
        raise SpecError(field, f"{value!r} is not a duration such as 30m, 1h or 90s")
    return sum(
        float(number) * _DURATION_SECONDS[unit] for number, unit in _DURATION_PART.findall(value)
    )


def parse_duration(value: str, *, field: str) -> int:
    """Seconds in a Go-style duration such as 30m or 1h30m, rounded up."""
    seconds = duration_seconds(value, field=field)
    whole = int(-(-seconds // 1))
    if whole < 1:
        raise SpecError(field, f"{value!r} is shorter than one second")
    return whole


def parse_size(value: object, *, field: str) -> int:
    """Bytes in a Kubernetes quantity such as 30Mi or 50M."""
    if isinstance(value, bool):  # parse_quantity reads True as 1
        raise SpecError(field, f"{value!r} is not a quantity such as 30Mi")
    try:
        quantity = parse_quantity(value)  # type: ignore[no-untyped-call]  # client lacks hints
    except ValueError as error:
        raise SpecError(field, f"{value!r} is not a quantity such as 30Mi: {error}") from None
    if quantity <= 0:
        raise SpecError(field, f"{value!r} must be more than zero")
    # math.ceil, not -(-q // 1): parse_quantity gives a Decimal, whose // truncates
    # toward zero, so "0.5" would become a budget of 0 bytes.
    rounded: int = math.ceil(quantity)
    return rounded


def parse_spec(raw: Mapping[str, Any]) -> BuildSpec:
    """Turn the resource's spec into a BuildSpec, or raise SpecError naming the field."""
    source = _parse_source(_mapping(raw, "source", required=True, path="spec"))
    go = _parse_go(_mapping(raw, "go", path="spec"))
    runtime = _parse_runtime(_mapping(raw, "runtime", path="spec"), cgo=go.cgo)
    output = _parse_output(_mapping(raw, "output", required=True, path="spec"))
    builder = _parse_builder(_mapping(raw, "builder", path="spec"))
    spec = BuildSpec(source=source, go=go, runtime=runtime, output=output, builder=builder)
    _check_combinations(spec)
    return spec


def _parse_source(raw: Mapping[str, Any]) -> Source:
    git_raw = _mapping(raw, "git", required=True, path="spec.source")
    url = _string(git_raw, "url", path="spec.source.git", required=True)
    if not _GIT_URL.match(url):
        raise SpecError("spec.source.git.url", f"{url!r} must be an https:// or http:// URL")
    if _URL_CREDENTIALS.match(url):
        raise SpecError(
            "spec.source.git.url",
            "must not embed credentials (user:password@): put them in a Secret "
            "and name it in spec.source.git.secretRef",
        )
    revision = _string(git_raw, "revision", path="spec.source.git")
    if revision and (revision.startswith("-") or any(c.isspace() for c in revision)):
        raise SpecError("spec.source.git.revision", f"{revision!r} is not a branch, tag or commit")
    secret = _string(
        _mapping(git_raw, "secretRef", path="spec.source.git"),
        "name",
        path="spec.source.git.secretRef",
    )
    context_dir = _relative_path(
        _string(raw, "contextDir", path="spec.source"), "spec.source.contextDir"
    )
    git = GitSource(
        url=url,
        revision=revision,
        secret_name=secret,
        poll_seconds=poll_seconds(_string(git_raw, "poll", path="spec.source.git")),
    )
    if git.poll_seconds and git.is_commit:
        raise SpecError(
            "spec.source.git.poll",
            "a commit never moves: poll needs a branch or a tag in spec.source.git.revision "
            "(or none, for the default branch)",
        )
    return Source(git=git, context_dir=context_dir)


def poll_seconds(value: str) -> int:
    """spec.source.git.poll in seconds (0 when absent), at least MIN_POLL_SECONDS."""
    if not value:
        return 0
    field = "spec.source.git.poll"
    seconds = parse_duration(value, field=field)
    if seconds < MIN_POLL_SECONDS:
        raise SpecError(field, f"{value!r} is shorter than the minimum, {MIN_POLL_SECONDS}s")
    return seconds


def _parse_go(raw: Mapping[str, Any]) -> GoSpec:
    path = "spec.go"
    version = _string(raw, "version", path=path) or DEFAULT_GO_VERSION
    if not _GO_VERSION.match(version):
        raise SpecError(f"{path}.version", f"{version!r} is not a Go version such as 1.26")
    package = _string(raw, "package", path=path) or "."
    if package != "." and not package.startswith("./"):
        raise SpecError(f"{path}.package", f"{package!r} must be '.' or start with './'")
    _relative_path(package.removeprefix("./"), f"{path}.package")
    binary_name = _string(raw, "binaryName", path=path)
    if binary_name and not _BINARY_NAME.match(binary_name):
        raise SpecError(f"{path}.binaryName", f"{binary_name!r} is not a file name")
    ldflags = raw.get("ldflags", DEFAULT_LDFLAGS)
    if not isinstance(ldflags, str):
        raise SpecError(f"{path}.ldflags", "must be a string")
    _no_control(ldflags, f"{path}.ldflags")
    tags = _strings(raw, "tags", path=path, pattern=_BUILD_TAG, what="build tag")
    cgo = raw.get("cgo", False)
    if not isinstance(cgo, bool):
        raise SpecError(f"{path}.cgo", "must be true or false")
    return GoSpec(
        version=version,
        image=_image(raw, "image", path=path),
        package=package,
        binary_name=binary_name,
        ldflags=ldflags,
        tags=tags,
        cgo=cgo,
        env=_env(raw, path),
    )


def _parse_runtime(raw: Mapping[str, Any], *, cgo: bool) -> RuntimeSpec:
    path = "spec.runtime"
    image = _image(raw, "image", path=path) or (LIBC_RUNTIME if cgo else STATIC_RUNTIME)
    user = _string(raw, "user", path=path) or DEFAULT_USER
    if not _USER.match(user):
        raise SpecError(f"{path}.user", f"{user!r} must be a numeric UID or UID:GID")
    ports = raw.get("ports") or []
    if not isinstance(ports, list):
        raise SpecError(f"{path}.ports", "must be a list of port numbers from 1 to 65535")
    for index, port in enumerate(ports):
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise SpecError(f"{path}.ports[{index}]", f"{port!r} is not a port from 1 to 65535")
    labels = raw.get("labels") or {}
    if not isinstance(labels, Mapping):
        raise SpecError(f"{path}.labels", "must be a map of strings")
    for key, value in labels.items():
        if not isinstance(key, str) or not _LABEL_KEY.match(key):
            raise SpecError(f"{path}.labels", f"{key!r} is not a label key")
        # A map entry's path as the API server writes it: labels.<key>.
        if not isinstance(value, str):
            raise SpecError(f"{path}.labels.{key}", "must be a string")
        _no_control(value, f"{path}.labels.{key}")
    args = _strings(raw, "args", path=path)
    return RuntimeSpec(
        image=image,
        packages=_strings(raw, "packages", path=path, pattern=_APK_PACKAGE, what="package name"),
        user=user,
        args=args,
        env=_env(raw, path),
        ports=tuple(sorted(set(ports))),
        labels=tuple(sorted(labels.items())),
    )


def _parse_output(raw: Mapping[str, Any]) -> OutputSpec:
    path = "spec.output"
    image = _string(raw, "image", path=path, required=True)
    if "@" in image or ":" in image.rsplit("/", 1)[-1]:
        raise SpecError(f"{path}.image", f"{image!r} must be a repository without tag or digest")
    if any(c.isspace() or c.isupper() for c in image):
        raise SpecError(f"{path}.image", f"{image!r} is not a lower-case image repository")
    if raw.get("tags") == []:
        # The API server's minItems: an explicit empty list would push nothing.
        raise SpecError(f"{path}.tags", "must name at least one tag; omit it for [latest]")
    tags = _strings(raw, "tags", path=path, pattern=_DOCKER_TAG, what="image tag") or ("latest",)
    max_size = raw.get("maxSize")
    insecure = raw.get("insecure", False)
    if not isinstance(insecure, bool):
        raise SpecError(f"{path}.insecure", "must be true or false")
    return OutputSpec(
        image=image,
        platforms=_platforms(raw, path),
        tags=tuple(dict.fromkeys(tags)),
        push_secret_name=_string(
            _mapping(raw, "pushSecretRef", path=path), "name", path=f"{path}.pushSecretRef"
        ),
        insecure=insecure,
        max_size=None if max_size is None else parse_size(max_size, field=f"{path}.maxSize"),
    )


def _platforms(raw: Mapping[str, Any], path: str) -> tuple[Platform, ...]:
    name = f"{path}.platforms"
    if raw.get("platforms") == []:
        raise SpecError(name, f"must name at least one platform; omit it for [{DEFAULT_PLATFORM}]")
    values = _strings(raw, "platforms", path=path) or (DEFAULT_PLATFORM,)
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value not in KNOWN_PLATFORMS:
            raise SpecError(
                f"{name}[{index}]",
                f"{value!r} is not a supported platform; use one of {', '.join(KNOWN_PLATFORMS)}",
            )
        if value in seen:
            raise SpecError(f"{name}[{index}]", f"{value!r} is listed twice")
        seen.add(value)
    return tuple(Platform.parse(value) for value in values)


def _parse_builder(raw: Mapping[str, Any]) -> BuilderSpec:
    path = "spec.builder"
    timeout = _string(raw, "timeout", path=path) or DEFAULT_TIMEOUT
    cache_raw = _mapping(raw, "cache", path=path)
    resources = _mapping(raw, "resources", path=path)
    for kind, values in resources.items():
        if kind not in ("limits", "requests"):
            raise SpecError(f"{path}.resources.{kind}", f"{kind!r} is not limits or requests")
        if not isinstance(values, Mapping):
            raise SpecError(f"{path}.resources.{kind}", "must be a map of quantities")
        for name, value in values.items():
            parse_size(value, field=f"{path}.resources.{kind}.{name}")
    node_selector = _mapping(raw, "nodeSelector", path=path)
    tolerations = []
    for index, item in enumerate(raw.get("tolerations") or []):
        if not isinstance(item, Mapping):
            raise SpecError(f"{path}.tolerations[{index}]", "must be a toleration")
        tolerations.append(parse_toleration(item))
    enabled = cache_raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise SpecError(f"{path}.cache.enabled", "must be true or false")
    return BuilderSpec(
        image=_string(raw, "image", path=path),
        timeout_seconds=parse_duration(timeout, field=f"{path}.timeout"),
        timeout=timeout,
        cache=CacheSpec(enabled=enabled, repo=_string(cache_raw, "repo", path=f"{path}.cache")),
        resources={k: {n: str(v) for n, v in vs.items()} for k, vs in resources.items()},
        service_account_name=_string(raw, "serviceAccountName", path=path),
        node_selector=tuple(sorted((str(k), str(v)) for k, v in node_selector.items())),
        tolerations=tuple(tolerations),
        registry_mirrors=_mirrors(raw, path),
    )


def parse_toleration(item: Mapping[str, Any]) -> Toleration:
    """A toleration as a Pod spec (or a policy) writes it."""
    seconds = item.get("tolerationSeconds")
    return Toleration(
        key=str(item.get("key", "")),
        operator=str(item.get("operator", "")),
        value=str(item.get("value", "")),
        effect=str(item.get("effect", "")),
        toleration_seconds=int(seconds) if seconds is not None else None,
    )


def _mirrors(raw: Mapping[str, Any], path: str) -> tuple[str, ...]:
    mirrors = _strings(raw, "registryMirrors", path=path)
    for index, mirror in enumerate(mirrors):
        if "://" in mirror or not _MIRROR.match(mirror):
            raise SpecError(
                f"{path}.registryMirrors[{index}]",
                f"{mirror!r} must be host[:port][/path] without a scheme, e.g. mirror.gcr.io",
            )
    return mirrors


def _check_combinations(spec: BuildSpec) -> None:
    """Rules that join two fields; the CRD's CEL rules say the same to the API server."""
    # The name the binary gets when binaryName is unset comes from the package,
    # contextDir or URL, which allow what a file name in RUN and COPY must not.
    if not spec.go.binary_name and not _BINARY_NAME.match(default_binary_name(spec)):
        raise SpecError(
            "spec.go.binaryName",
            f"the default name {default_binary_name(spec)!r} is not a file name; set binaryName",
        )
    runtime = spec.runtime
    if runtime.packages and runtime.kind != "alpine":
        raise SpecError(
            "spec.runtime.packages",
            f"packages can only be installed on an alpine runtime image, not {runtime.image!r}",
        )
    _check_native(spec)
    if spec.go.cgo and (runtime.kind == "scratch" or "static" in runtime.image):
        raise SpecError(
            "spec.go.cgo",
            f"a cgo binary needs a libc, which the runtime image {runtime.image!r} lacks; "
            f"use {LIBC_RUNTIME} or an alpine image",
        )


# The node labels every kubelet sets; a single-platform build's pod selects them.
NODE_OS_LABEL = "kubernetes.io/os"
NODE_ARCH_LABEL = "kubernetes.io/arch"


def _check_native(spec: BuildSpec) -> None:
    """What only a build on a node of the target platform can do, without emulation.

    A RUN step of the runtime stage (apk add) runs the target's binaries, and a
    cgo build links with the target's C toolchain: both need a node of that
    platform. So they need exactly one platform, whose build pod then selects
    such a node (kaniko_job). More platforms cross-compile with CGO_ENABLED=0
    and need no RUN in the runtime stage.
    """
    platforms = spec.output.platforms
    if len(platforms) > 1:
        names = ", ".join(str(p) for p in platforms)
        if spec.runtime.packages:
            raise SpecError(
                "spec.runtime.packages",
                f"installing OS packages for several platforms ({names}) would run foreign "
                "binaries under emulation; build one platform per GoImageBuild "
                "(spec.output.platforms with one entry), or drop the packages",
            )
        if spec.go.cgo:
            raise SpecError(
                "spec.go.cgo",
                f"a cgo build for several platforms ({names}) needs a C cross-toolchain per "
                "platform; build one platform per GoImageBuild (spec.output.platforms with "
                "one entry), or set go.cgo: false",
            )
        return
    # One platform: the pod runs on a node of it; a nodeSelector naming another
    # OS or architecture would build a foreign image (or never schedule).
    selector = dict(spec.builder.node_selector)
    platform = platforms[0]
    for label, wanted in ((NODE_OS_LABEL, platform.os), (NODE_ARCH_LABEL, platform.arch)):
        if label in selector and selector[label] != wanted:
            raise SpecError(
                f"spec.builder.nodeSelector.{label}",
                f"{selector[label]!r} contradicts spec.output.platforms [{platform}]: a "
                f"single-platform build runs on a node of its platform ({label}: {wanted})",
            )


def _mapping(
    raw: Mapping[str, Any], key: str, *, path: str, required: bool = False
) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        if required:
            raise SpecError(f"{path}.{key}", "is required")
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(f"{path}.{key}", "must be an object")
    return value


def _string(raw: Mapping[str, Any], key: str, *, path: str, required: bool = False) -> str:
    value = raw.get(key)
    name = f"{path}.{key}" if path else key
    if value is None or value == "":
        if required:
            raise SpecError(name, "is required")
        return ""
    if not isinstance(value, str):
        raise SpecError(name, "must be a string")
    _no_control(value, name)
    return value


def _image(raw: Mapping[str, Any], key: str, *, path: str) -> str:
    """An image reference that goes into a FROM line, which cannot be quoted."""
    value = _string(raw, key, path=path)
    if value and not _IMAGE_REF.match(value):
        raise SpecError(f"{path}.{key}", f"{value!r} is not an image reference")
    return value


def _strings(
    raw: Mapping[str, Any],
    key: str,
    *,
    path: str,
    pattern: re.Pattern[str] | None = None,
    what: str = "",
) -> tuple[str, ...]:
    values = raw.get(key) or []
    name = f"{path}.{key}"
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise SpecError(name, "must be a list of strings")
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise SpecError(f"{name}[{index}]", "must be a string")
        _no_control(value, f"{name}[{index}]")
        if pattern is not None and not pattern.match(value):
            raise SpecError(f"{name}[{index}]", f"{value!r} is not a valid {what}")
    return tuple(values)


def _env(raw: Mapping[str, Any], path: str) -> tuple[EnvVar, ...]:
    items = raw.get("env") or []
    if not isinstance(items, list):
        raise SpecError(f"{path}.env", "must be a list of {name, value}")
    env = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise SpecError(f"{path}.env[{index}]", "must be an object {name, value}")
        name = item.get("name", "")
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise SpecError(f"{path}.env[{index}].name", f"{name!r} is not a variable name")
        value = item.get("value", "")
        if not isinstance(value, str):
            raise SpecError(f"{path}.env[{index}].value", "must be a string")
        _no_control(value, f"{path}.env[{index}].value")
        if path == "spec.go" and name == "CGO_ENABLED":
            raise SpecError(f"{path}.env[{index}].name", "set spec.go.cgo instead of CGO_ENABLED")
        env.append(EnvVar(name=name, value=value))
    return tuple(env)


def _relative_path(value: str, field: str) -> str:
    if value.startswith("/") or ".." in value.split("/") or "\\" in value:
        raise SpecError(field, f"{value!r} must be a relative path inside the repository")
    if any(c.isspace() for c in value):
        raise SpecError(field, f"{value!r} must not contain spaces")
    return value.strip("/")


def _no_control(value: str, field: str) -> None:
    if _CONTROL.search(value):
        raise SpecError(field, "must not contain newlines or control characters")
