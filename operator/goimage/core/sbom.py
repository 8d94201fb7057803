"""The SBOM of an image: an SPDX 2.3 JSON document made from its Go binary's build information.

Why SPDX 2.3 and not CycloneDX 1.5: the contract's status names the media
type `application/spdx+json`; SPDX 2.3 is an ISO standard (ISO/IEC 5962 is
2.2.1, which 2.3 extends) that `cosign attest --type spdxjson`, `syft`,
`trivy sbom` and `grype` all read; it has the relationships this SBOM needs
(the image CONTAINS the binary, GENERATED_FROM the main module, which
DEPENDS_ON each module) as first-class types; and its one official Python
library, spdx-tools, validates a document fully, which the unit tests use.
CycloneDX 1.5 would say the same; there is no need to say it twice.

What the document holds (all from the binary's own build information, see
`buildinfo`, so it names what was compiled in, not what go.mod asked for):
- the image (purpose CONTAINER, its manifest digest as checksum and version,
  a `pkg:oci` purl), which CONTAINS
- the binary, as a package of purpose FILE with its SHA-256, GENERATED_FROM
- the main module (purpose APPLICATION, `pkg:golang` purl with the main
  package as subpath, git source as download location when given), with the
  build settings as annotations (`build: GOOS=linux`, as `go version -m`
  prints them) and a one-line summary as its comment; it DEPENDS_ON
- one package per dependency module (name, version, `pkg:golang` purl), and
- `stdlib`: the Go toolchain and standard library (version `go1.26.8`, purl
  `pkg:golang/stdlib@1.26.8` and a `golang:go` CPE: the names Go
  vulnerability scanners match), which is also BUILD_TOOL_OF the binary.

The go.sum hash (`h1:...`) of each module is kept verbatim as an annotation
whose comment is the module's go.sum line (`go.sum: PATH VERSION h1:...`),
not as an SPDX checksum: an SPDX package checksum is the digest of the
package's file, and h1 is the SHA-256 of Go's dirhash summary (the sorted
list of the module's files with their own SHA-256s), which matches neither
the module's zip nor anything else SPDX could name. Recorded as a SHA256
checksum it would fail every check against the downloaded module; recorded
as its go.sum line it can be checked against go.sum or the checksum
database exactly as Go checks it.

-ldflags: Go leaves them out of a -trimpath build's information (they may
carry host paths, go.dev/issue/52372), and the operator always builds with
-trimpath; the caller passes the ldflags the GoImageBuild asked for, and the
document says where that value came from.

Deterministic: the same inputs give the same bytes (`to_json`). The created
time is an input (a SOURCE_DATE_EPOCH-like count of seconds), the namespace
is derived from the image repository and digest, ids from module paths, and
the order of everything is the binary's.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from goimage.core.buildinfo import BuildInfo, Module, render

MEDIA_TYPE = "application/spdx+json"
NAMESPACE_BASE = "https://goimage.dev/spdx/"
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
_GO_RELEASE = re.compile(r"^go(\d+(?:\.\d+)*(?:(?:rc|beta)\d+)?)$")


class SbomError(ValueError):
    """The inputs cannot make an SBOM (a malformed digest, no main module)."""


@dataclass(frozen=True)
class Binary:
    path: str  # absolute path in the image, e.g. /usr/local/bin/gitback
    data: bytes


@dataclass(frozen=True)
class Source:
    url: str  # without credentials
    commit: str


def _timestamp(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _spdx_id(kind: str, *parts: str) -> str:
    """SPDXRef-<kind>-<readable>-<hash>: unique for the parts, only the characters SPDX allows."""
    readable = re.sub(r"[^A-Za-z0-9.-]+", "-", parts[0]).strip("-")
    short = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:8]
    return f"SPDXRef-{kind}-{readable}-{short}"


def _purl_path(path: str) -> str:
    return "/".join(quote(segment, safe="") for segment in path.split("/"))


def golang_purl(path: str, version: str | None = None, subpath: str = "") -> str:
    """pkg:golang/<module path>[@version][#subpath], each part percent-encoded."""
    purl = f"pkg:golang/{_purl_path(path)}"
    if version:
        purl += "@" + quote(version, safe="")
    if subpath:
        purl += "#" + _purl_path(subpath)
    return purl


def oci_purl(repository: str, digest: str, arch: str | None) -> str:
    """pkg:oci/<name>@<digest>?arch=..&repository_url=..: the image, wherever it is pushed."""
    name = repository.rsplit("/", 1)[-1]
    qualifiers = {"repository_url": repository}
    if arch:
        qualifiers["arch"] = arch
    query = "&".join(f"{k}={quote(v, safe='/:')}" for k, v in sorted(qualifiers.items()))
    return f"pkg:oci/{quote(name, safe='')}@{quote(digest, safe='')}?{query}"


def _is_version(version: str) -> bool:
    # A module version (v1.6.0, pseudo-versions); "(devel)" and "" are not.
    return version.startswith("v")


def _ref(category: str, kind: str, locator: str) -> dict[str, str]:
    return {"referenceCategory": category, "referenceType": kind, "referenceLocator": locator}


def _annotation(comment: str, tool: str, date: str) -> dict[str, str]:
    return {
        "annotationType": "OTHER",
        "annotator": f"Tool: {tool}",
        "annotationDate": date,
        "comment": comment,
    }


def _summary(info: BuildInfo, ldflags: str | None) -> str:
    parts = [f"{info.go_version} {info.goos or '?'}/{info.goarch or '?'}"]
    cgo = info.setting("CGO_ENABLED")
    parts.append(f"CGO_ENABLED={cgo if cgo is not None else '?'}")
    parts.append("tags: " + (",".join(info.tags) or "none"))
    recorded = info.setting("-ldflags")
    if recorded is not None:
        parts.append(f"ldflags: {recorded}")
    elif ldflags is not None:
        parts.append(f"ldflags (as the GoImageBuild asked): {ldflags}")
    return "Built by " + ", ".join(parts) + "."


def _main_package(
    info: BuildInfo, main: Module, source: Source | None, ldflags: str | None, tool: str, date: str
) -> dict[str, Any]:
    subpath = info.path[len(main.path) + 1 :] if info.path.startswith(main.path + "/") else ""
    annotations = [_annotation(f"go: {info.go_version}", tool, date)]
    if info.path:
        annotations.append(_annotation(f"path: {info.path}", tool, date))
    # One annotation per build setting, the line `go version -m` prints for it.
    only_settings = BuildInfo("", "", None, (), info.settings)
    for line in render(only_settings).splitlines():
        annotations.append(_annotation(line.strip().replace("\t", ": ", 1), tool, date))
    if info.setting("-ldflags") is None and ldflags is not None:
        annotations.append(
            _annotation(
                f"ldflags (from the GoImageBuild; Go omits them from -trimpath builds): {ldflags}",
                tool,
                date,
            )
        )
    package: dict[str, Any] = {
        "SPDXID": _spdx_id("Package-main", main.path),
        "name": main.path,
        "versionInfo": main.version,
        "downloadLocation": f"git+{source.url}@{source.commit}" if source else "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "APPLICATION",
        "externalRefs": [
            _ref(
                "PACKAGE-MANAGER",
                "purl",
                golang_purl(
                    main.path, main.version if _is_version(main.version) else None, subpath
                ),
            )
        ],
        "comment": _summary(info, ldflags),
        "annotations": annotations,
    }
    if source:
        package["sourceInfo"] = f"built from commit {source.commit} of {source.url}"
    return package


def _dependency_package(dep: Module, tool: str, date: str) -> dict[str, Any]:
    built = dep.replace or dep  # the code compiled in is the replacement's
    package: dict[str, Any] = {
        "SPDXID": _spdx_id("Package-go-module", dep.path, dep.version),
        "name": dep.path,
        "versionInfo": built.version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "LIBRARY",
    }
    if _is_version(built.version):
        package["externalRefs"] = [
            _ref("PACKAGE-MANAGER", "purl", golang_purl(built.path, built.version))
        ]
    if dep.replace is not None:
        local = "" if _is_version(dep.replace.version) else " (a local directory)"
        package["comment"] = (
            f"required as {dep.path} {dep.version}, replaced by {dep.replace.path}"
            f" {dep.replace.version}{local}"
        )
    if built.sum:
        package["annotations"] = [
            _annotation(f"go.sum: {built.path} {built.version} {built.sum}", tool, date)
        ]
    return package


def _stdlib_package(go_version: str) -> dict[str, Any]:
    release = _GO_RELEASE.match(go_version.split(" ")[0])
    package: dict[str, Any] = {
        "SPDXID": _spdx_id("Package-go-stdlib", go_version),
        "name": "stdlib",
        "versionInfo": go_version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "LIBRARY",
        "comment": "The Go toolchain that built the binary, and its standard library linked in.",
    }
    if release:
        number = release.group(1)
        package["externalRefs"] = [
            _ref("PACKAGE-MANAGER", "purl", golang_purl("stdlib", number)),
            _ref("SECURITY", "cpe23Type", f"cpe:2.3:a:golang:go:{number}:*:*:*:*:*:*:*"),
        ]
    return package


def _relationship(element: str, kind: str, related: str) -> dict[str, str]:
    return {"spdxElementId": element, "relationshipType": kind, "relatedSpdxElement": related}


def spdx_document(
    info: BuildInfo,
    binary: Binary,
    *,
    repository: str,
    digest: str,
    created: int,
    tool_version: str,
    ldflags: str | None = None,
    source: Source | None = None,
) -> dict[str, Any]:
    """The SPDX 2.3 document of the image `repository@digest` whose binary is `binary`.

    `info` is `buildinfo.read_build_info(binary.data)`; `created` is seconds
    since the epoch (the build's, so a rebuild's document is the same);
    `ldflags` what the GoImageBuild asked for (Go does not record them with
    -trimpath); `source` the git repository and commit it was built from.
    """
    found = _DIGEST.match(digest)
    if found is None:
        raise SbomError(f"not a sha256 digest: {digest!r}")
    if info.main is None:
        raise SbomError(f"{binary.path} has no main module in its build information")
    if not binary.path.startswith("/"):
        raise SbomError(f"the binary's path must be absolute: {binary.path!r}")
    hex_digest = found.group(1)
    tool = f"goimage-operator-{tool_version}"
    date = _timestamp(created)

    image = {
        "SPDXID": "SPDXRef-Image",
        "name": repository,
        "versionInfo": digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [{"algorithm": "SHA256", "checksumValue": hex_digest}],
        "externalRefs": [
            _ref("PACKAGE-MANAGER", "purl", oci_purl(repository, digest, info.goarch))
        ],
        "comment": "The image; its checksum is the image manifest's digest.",
    }
    # The binary is a package (purpose FILE), not an SPDX file: an SPDX file
    # would make the image a package whose files were analyzed, all of them,
    # and this document looks at one.
    binary_id = _spdx_id("Binary", binary.path)
    binary_package = {
        "SPDXID": binary_id,
        "name": binary.path.rsplit("/", 1)[-1],
        "packageFileName": binary.path,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "FILE",
        "checksums": [
            {"algorithm": "SHA256", "checksumValue": hashlib.sha256(binary.data).hexdigest()}
        ],
        "comment": f"The Go binary, for {info.goos}/{info.goarch}.",
    }
    main = _main_package(info, info.main, source, ldflags, tool, date)
    stdlib = _stdlib_package(info.go_version)
    deps = [_dependency_package(dep, tool, date) for dep in info.deps]
    ids = [p["SPDXID"] for p in deps]
    if len(set(ids)) != len(ids):
        raise SbomError("the build information names a module twice")

    relationships = [
        _relationship("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"),
        _relationship("SPDXRef-Image", "CONTAINS", binary_id),
        _relationship(binary_id, "GENERATED_FROM", main["SPDXID"]),
        *(_relationship(main["SPDXID"], "DEPENDS_ON", dep_id) for dep_id in ids),
        _relationship(main["SPDXID"], "DEPENDS_ON", stdlib["SPDXID"]),
        _relationship(stdlib["SPDXID"], "BUILD_TOOL_OF", binary_id),
    ]
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{repository}@{digest}",
        "documentNamespace": f"{NAMESPACE_BASE}{_purl_path(repository)}/sha256-{hex_digest}",
        "creationInfo": {
            "created": date,
            "creators": [f"Tool: {tool}"],
            "comment": f"From the Go build information of {binary.path} (go version -m).",
        },
        "packages": [image, binary_package, main, *deps, stdlib],
        "relationships": relationships,
    }


def to_json(document: Mapping[str, Any]) -> bytes:
    """The document's bytes: sorted keys, two-space indent, UTF-8, a final newline."""
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


@dataclass(frozen=True)
class ModuleRow:
    name: str
    version: str
    hash: str  # the go.sum h1 hash, "" when none


def modules(document: Mapping[str, Any]) -> list[ModuleRow]:
    """The Go modules an SBOM of this module lists (main module, dependencies, stdlib), in order.

    For a reader such as `kubectl gib sbom`: it needs no SPDX library.
    """
    rows = []
    for package in document.get("packages") or []:
        if not str(package.get("SPDXID", "")).startswith("SPDXRef-Package-"):  # not image, binary
            continue
        h1 = ""
        for note in package.get("annotations") or []:
            comment = str(note.get("comment", ""))
            if comment.startswith("go.sum: "):
                h1 = comment.rsplit(" ", 1)[-1]
        rows.append(ModuleRow(str(package["name"]), str(package.get("versionInfo", "")), h1))
    return rows
