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


def oci_labels(spec: specs.BuildSpec) -> list[tuple[str, str]]:
    """OCI labels: where the image came from, then the user's own (which win)."""
    labels = {
        "org.opencontainers.image.source": spec.source.git.url,
        "org.opencontainers.image.title": spec.binary_name,
    }
    if spec.source.git.is_commit:
        labels["org.opencontainers.image.revision"] = spec.source.git.revision
    labels.update(dict(spec.runtime.labels))
    return sorted(labels.items())


def render_dockerfile(spec: specs.BuildSpec, *, resource: str) -> str:
    """The Dockerfile for `spec`; `resource` (namespace/name) only goes into a comment.

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
        cross=spec.output.multi_platform,
    )
