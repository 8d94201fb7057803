"""Spec to Dockerfile text, through the Jinja2 template in `templates/`.

The template is a security boundary: user strings reach a shell (RUN) and the
Dockerfile parser (ENV, LABEL), so each is quoted by a filter defined here.
"""

from __future__ import annotations

import json
import shlex

import jinja2

from goimage.core import spec as specs

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("goimage.core", "templates"),
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # noqa: S701 -- a Dockerfile, not HTML; values are quoted by filters
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _double_quoted(value: str) -> str:
    """A Dockerfile double-quoted word: escapes quote, backslash and $ (ENV expands $)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def _tojson(value: object) -> str:
    # Dockerfile exec form is JSON; keep it on one line and ASCII-only.
    return json.dumps(value)


_ENV.filters["sh"] = shlex.quote
_ENV.filters["dq"] = _double_quoted
_ENV.filters["tojson"] = _tojson


SOURCE_LABEL = "org.opencontainers.image.source"
REVISION_LABEL = "org.opencontainers.image.revision"


def oci_labels(spec: specs.BuildSpec) -> list[tuple[str, str]]:
    """OCI labels of the runtime stage's body: the title, then the user's own (which win).

    The source and the revision come last (`source_labels`), as their own LABEL.
    """
    labels = {"org.opencontainers.image.title": spec.binary_name}
    labels.update(dict(spec.runtime.labels))
    labels.pop(SOURCE_LABEL, None)
    labels.pop(REVISION_LABEL, None)
    return sorted(labels.items())


def source_labels(spec: specs.BuildSpec, commit: str) -> list[tuple[str, str]]:
    """Where the image came from: the repository and the commit built.

    The runtime stage's last instruction: a new commit changes this LABEL only,
    so every layer before it keeps its cache key, and the same commit gives the
    same Dockerfile (and digest). A user's label of the same name gives way: the
    commit is what was built, whatever a spec says. Without a commit (a caller
    that has not resolved one) the revision label is left out.
    """
    labels = [(SOURCE_LABEL, spec.source.git.url)]
    if commit:
        labels.append((REVISION_LABEL, commit))
    return labels


def render_dockerfile(spec: specs.BuildSpec, *, resource: str, commit: str = "") -> str:
    """The Dockerfile for `spec` building `commit`; `resource` (namespace/name) only goes
    into a comment.

    One Dockerfile serves every platform of a build. With one platform it is
    the native build it has always been (the pod runs on a node of that
    platform, or on any node for the default linux/amd64 without packages or
    cgo). With several, the builder stage declares GOOS, GOARCH and GOARM as
    build arguments, which each platform's Kaniko run sets (kaniko_job), so
    `go mod download`'s warm-up build and the final `go build` cross-compile.
    """
    uid, _, gid = spec.runtime.user.partition(":")
    template = _ENV.get_template("Dockerfile.j2")
    return template.render(
        resource=resource,
        builder_image=spec.builder_image,
        cgo_on_alpine=spec.go.cgo and spec.runtime.kind == "alpine",
        go=spec.go,
        runtime=spec.runtime,
        binary=spec.binary_name,
        uid=uid,
        gid=gid or uid,
        labels=oci_labels(spec),
        source_labels=source_labels(spec, commit),
        cross=spec.output.multi_platform,
    )
