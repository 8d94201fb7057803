"""What `kubectl gib sbom` and `kubectl gib provenance` print: tables from an SPDX 2.3 SBOM
and from an in-toto Statement v1 with a SLSA provenance v1 predicate. Pure functions of the
parsed documents.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

SBOM_MEDIA_TYPE = "application/spdx+json"
PROVENANCE_MEDIA_TYPE = "application/vnd.in-toto+json"
# The most external parameters the summary lists; `-o json` has them all.
MAX_PARAMETERS = 20
_MAX_VALUE = 80


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns as kubectl prints them: upper-case headers, left-aligned, three spaces apart."""
    cells = [list(headers), *[[cell or "-" for cell in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines) + "\n"


def parse_document(body: bytes) -> dict[str, Any]:
    """The JSON document; a DSSE envelope (a signed statement) is opened to its payload."""
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("the document is not a JSON object")
    if "payloadType" in document and "payload" in document:
        inner = json.loads(base64.b64decode(document["payload"]))
        if not isinstance(inner, dict):
            raise ValueError("the envelope's payload is not a JSON object")
        return inner
    return document


def _purl(package: Mapping[str, Any]) -> str:
    for ref in package.get("externalRefs") or []:
        if ref.get("referenceType") == "purl":
            return str(ref.get("referenceLocator", ""))
    return ""


def _checksum(package: Mapping[str, Any]) -> str:
    for checksum in package.get("checksums") or []:
        return f"{checksum.get('algorithm', '')}:{checksum.get('checksumValue', '')}"
    return ""


def sbom_table(document: Mapping[str, Any]) -> str:
    """An SPDX 2.3 document: a header (name, creation), then one row per package."""
    info = document.get("creationInfo") or {}
    head = [
        f"DOCUMENT: {document.get('name', '-')} ({document.get('spdxVersion', '-')})",
        f"CREATED:  {info.get('created', '-')} by {', '.join(info.get('creators') or ['-'])}",
    ]
    rows = [
        [
            str(p.get("name", "")),
            str(p.get("versionInfo", "")),
            _purl(p),
            _checksum(p),
        ]
        for p in document.get("packages") or []
    ]
    return "\n".join(head) + "\n\n" + table(["NAME", "VERSION", "PURL", "CHECKSUM"], rows)


def _digests(digest: Mapping[str, Any] | None) -> str:
    return ", ".join(f"{alg}:{value}" for alg, value in (digest or {}).items())


def _leaves(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Scalar leaves of a JSON value as (dotted path, text); lists index with [i]."""
    if isinstance(value, Mapping):
        found: list[tuple[str, str]] = []
        for key, item in value.items():
            found += _leaves(item, f"{path}.{key}" if path else str(key))
        return found
    if isinstance(value, list):
        if not value:
            return [(path, "[]")]
        return [leaf for i, item in enumerate(value) for leaf in _leaves(item, f"{path}[{i}]")]
    text = json.dumps(value) if not isinstance(value, str) else value
    return [(path, text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "...")]


def source_commit(dependencies: Sequence[Mapping[str, Any]]) -> str:
    """The git commit among the resolved dependencies (digest `gitCommit`, or a `git+` URI's
    `sha1`), with its URI."""
    for dep in dependencies:
        digest = dep.get("digest") or {}
        uri = str(dep.get("uri", ""))
        commit = digest.get("gitCommit") or (digest.get("sha1") if uri.startswith("git+") else "")
        if commit:
            return f"{commit} ({uri})" if uri else str(commit)
    return ""


def provenance_table(statement: Mapping[str, Any]) -> str:
    """An in-toto Statement v1 with a SLSA provenance v1 predicate: who built what from
    which commit, the resolved dependencies, and a summary of the external parameters."""
    predicate = statement.get("predicate") or {}
    definition = predicate.get("buildDefinition") or {}
    run = predicate.get("runDetails") or {}
    metadata = run.get("metadata") or {}
    dependencies = definition.get("resolvedDependencies") or []
    subjects = [
        f"{s.get('name', '')}@{_digests(s.get('digest'))}" for s in statement.get("subject") or []
    ]
    fields = [
        ("PREDICATE", str(statement.get("predicateType", ""))),
        ("BUILDER", str((run.get("builder") or {}).get("id", ""))),
        ("BUILD TYPE", str(definition.get("buildType", ""))),
        ("SUBJECT", ", ".join(subjects)),
        ("SOURCE COMMIT", source_commit(dependencies)),
        ("INVOCATION", str(metadata.get("invocationId", ""))),
        ("STARTED", str(metadata.get("startedOn", ""))),
        ("FINISHED", str(metadata.get("finishedOn", ""))),
    ]
    width = max(len(key) for key, _ in fields) + 2
    out = [f"{key + ':':<{width}}{value or '-'}" for key, value in fields]
    out += ["", "RESOLVED DEPENDENCIES"]
    out.append(
        table(
            ["URI", "DIGEST"],
            [
                [str(d.get("uri") or d.get("name") or ""), _digests(d.get("digest"))]
                for d in dependencies
            ],
        ).rstrip("\n")
    )
    leaves = _leaves(definition.get("externalParameters") or {})
    out += ["", f"EXTERNAL PARAMETERS ({len(leaves)})"]
    shown = leaves[:MAX_PARAMETERS]
    out.append(table(["PARAMETER", "VALUE"], [list(leaf) for leaf in shown]).rstrip("\n"))
    if len(leaves) > len(shown):
        out.append(f"... {len(leaves) - len(shown)} more (-o json shows all)")
    return "\n".join(out) + "\n"
