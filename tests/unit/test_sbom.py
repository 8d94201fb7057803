"""sbom: SPDX 2.3 documents of real Go binaries, validated by spdx-tools (the SPDX project's)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
from spdx_tools.spdx.writer.write_utils import convert
from tests.unit.go_binaries import OPERATOR_LDFLAGS, UUIDGEN, Binary, GoBinaries, go_binaries
from tests.unit.oci_layouts import write_layout

from goimage.core import buildinfo, image_files, sbom

REPOSITORY = "registry.example.com/team/uuidgen"
DIGEST = "sha256:" + "ab" * 32
CREATED = 1_700_000_000  # 2023-11-14T22:13:20Z
SOURCE = sbom.Source(
    "https://git.example.com/team/uuidgen.git", "4f1c2b3a5d6e7f8091a2b3c4d5e6f708192a3b4c"
)
BINARY_PATH = "/usr/local/bin/uuidgen"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> GoBinaries:
    return go_binaries(tmp_path_factory)


def make(binary: Binary, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "repository": REPOSITORY,
        "digest": DIGEST,
        "created": CREATED,
        "tool_version": "0.1.0",
        "ldflags": OPERATOR_LDFLAGS,
        "source": SOURCE,
        **overrides,
    }
    info = buildinfo.read_build_info(binary.data)
    return sbom.spdx_document(info, sbom.Binary(BINARY_PATH, binary.data), **arguments)


def validate(document: dict[str, Any]) -> None:
    """spdx-tools parses the JSON and validates the whole document against SPDX 2.3."""
    parsed = JsonLikeDictParser().parse(json.loads(sbom.to_json(document)))
    messages = validate_full_spdx_document(parsed, "SPDX-2.3")
    assert [m.validation_message for m in messages] == []
    # Written back by spdx-tools, the document is the same: nothing was
    # dropped as unknown. (It spells the 2.3 category PACKAGE-MANAGER with an
    # underscore, which the 2.3 JSON schema allows too.)
    again = json.dumps(convert(parsed, None), sort_keys=True).replace(
        "PACKAGE_MANAGER", "PACKAGE-MANAGER"
    )
    assert json.loads(again) == document


def packages(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in document["packages"]}


def purls(package: dict[str, Any]) -> list[str]:
    return [
        r["referenceLocator"]
        for r in package.get("externalRefs", [])
        if r["referenceType"] == "purl"
    ]


def comments(package: dict[str, Any]) -> list[str]:
    return [a["comment"] for a in package.get("annotations", [])]


def test_valid_spdx_for_every_binary(built: GoBinaries) -> None:
    for binary in (built.uuidgen_amd64, built.uuidgen_arm64, built.replaced):
        validate(make(binary))
        validate(make(binary, ldflags=None, source=None))


def test_modules_versions_and_hashes(built: GoBinaries) -> None:
    document = make(built.uuidgen_amd64)
    by_name = packages(document)
    uuid = by_name["github.com/google/uuid"]
    assert uuid["versionInfo"] == "v1.6.0"
    assert purls(uuid) == ["pkg:golang/github.com/google/uuid@v1.6.0"]
    # The h1 hash, verbatim: the module's own go.sum line.
    (note,) = comments(uuid)
    assert note.startswith("go.sum: ")
    assert note.removeprefix("go.sum: ") in (UUIDGEN / "go.sum").read_text().splitlines()
    assert "checksums" not in uuid
    main = by_name["example.com/uuidgen"]
    assert main["versionInfo"] == "(devel)"
    assert purls(main) == ["pkg:golang/example.com/uuidgen"]
    assert main["downloadLocation"] == f"git+{SOURCE.url}@{SOURCE.commit}"
    assert sbom.modules(document) == [
        sbom.ModuleRow("example.com/uuidgen", "(devel)", ""),
        sbom.ModuleRow("github.com/google/uuid", "v1.6.0", note.rsplit(" ", 1)[-1]),
        sbom.ModuleRow(
            "stdlib", buildinfo.read_build_info(built.uuidgen_amd64.data).go_version, ""
        ),
    ]


def test_go_version_and_build_settings(built: GoBinaries) -> None:
    info = buildinfo.read_build_info(built.uuidgen_amd64.data)
    by_name = packages(make(built.uuidgen_amd64))
    stdlib = by_name["stdlib"]
    assert stdlib["versionInfo"] == info.go_version
    number = info.go_version.removeprefix("go")
    assert purls(stdlib) == [f"pkg:golang/stdlib@{number}"]
    assert f"cpe:2.3:a:golang:go:{number}:*:*:*:*:*:*:*" in [
        r["referenceLocator"] for r in stdlib["externalRefs"]
    ]
    main = by_name["example.com/uuidgen"]
    notes = comments(main)
    for expected in (
        f"go: {info.go_version}",
        "build: GOOS=linux",
        "build: GOARCH=amd64",
        "build: CGO_ENABLED=0",
        "build: -tags=netgo,osusergo",
        "build: -trimpath=true",
        f"ldflags (from the GoImageBuild; Go omits them from -trimpath builds): {OPERATOR_LDFLAGS}",
    ):
        assert expected in notes
    assert main["comment"] == (
        f"Built by {info.go_version} linux/amd64, CGO_ENABLED=0, tags: netgo,osusergo,"
        f" ldflags (as the GoImageBuild asked): {OPERATOR_LDFLAGS}."
    )


def test_recorded_ldflags_win_over_the_asked_ones(built: GoBinaries) -> None:
    main = packages(make(built.replaced, ldflags="ignored"))["example.com/replaced"]
    notes = comments(main)
    assert any(n.startswith('build: -ldflags="-s -w -X') for n in notes)
    assert not any("ignored" in n for n in notes)
    assert purls(main) == ["pkg:golang/example.com/replaced#cmd/tool"]
    assert "path: example.com/replaced/cmd/tool" in notes


def test_replaced_modules(built: GoBinaries) -> None:
    by_name = packages(make(built.replaced))
    lib = by_name["example.com/lib"]
    assert lib["versionInfo"] == "(devel)"
    assert "externalRefs" not in lib  # a local directory has no purl
    assert "annotations" not in lib
    assert (
        lib["comment"]
        == "required as example.com/lib v1.0.0, replaced by ./lib (devel) (a local directory)"
    )
    uuid = by_name["github.com/google/uuid"]
    assert uuid["versionInfo"] == "v1.5.0"  # what was compiled in
    assert purls(uuid) == ["pkg:golang/github.com/google/uuid@v1.5.0"]
    (note,) = comments(uuid)
    assert note.startswith("go.sum: github.com/google/uuid v1.5.0 h1:")


def test_image_binary_and_relationships(built: GoBinaries) -> None:
    document = make(built.uuidgen_arm64)
    image, binary = document["packages"][:2]
    assert image["SPDXID"] == "SPDXRef-Image"
    assert image["checksums"] == [{"algorithm": "SHA256", "checksumValue": "ab" * 32}]
    assert purls(image) == [
        "pkg:oci/uuidgen@sha256%3A" + "ab" * 32 + f"?arch=arm64&repository_url={REPOSITORY}"
    ]
    assert binary["packageFileName"] == BINARY_PATH
    assert binary["primaryPackagePurpose"] == "FILE"
    by_name = packages(document)
    main_id = by_name["example.com/uuidgen"]["SPDXID"]
    uuid_id = by_name["github.com/google/uuid"]["SPDXID"]
    stdlib_id = by_name["stdlib"]["SPDXID"]
    triples = {
        (r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"])
        for r in document["relationships"]
    }
    assert triples == {
        ("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"),
        ("SPDXRef-Image", "CONTAINS", binary["SPDXID"]),
        (binary["SPDXID"], "GENERATED_FROM", main_id),
        (main_id, "DEPENDS_ON", uuid_id),
        (main_id, "DEPENDS_ON", stdlib_id),
        (stdlib_id, "BUILD_TOOL_OF", binary["SPDXID"]),
    }


def test_deterministic(built: GoBinaries) -> None:
    first = sbom.to_json(make(built.uuidgen_amd64))
    assert first == sbom.to_json(make(built.uuidgen_amd64))
    document = json.loads(first)
    assert document["creationInfo"]["created"] == "2023-11-14T22:13:20Z"
    assert document["documentNamespace"] == (
        f"https://goimage.dev/spdx/{REPOSITORY}/sha256-" + "ab" * 32
    )
    assert document["creationInfo"]["creators"] == ["Tool: goimage-operator-0.1.0"]
    other = make(built.uuidgen_amd64, digest="sha256:" + "cd" * 32)
    assert other["documentNamespace"] != document["documentNamespace"]
    later = sbom.to_json(make(built.uuidgen_amd64, created=CREATED + 60))
    assert later.replace(b"22:14:20Z", b"22:13:20Z") == first


def test_from_an_oci_layout(tmp_path: Path, built: GoBinaries) -> None:
    """The publish step's way: the binary out of the image's layers, then its SBOM."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("usr/local/bin/gitback")
        info.size = len(built.uuidgen_amd64.data)
        archive.addfile(info, io.BytesIO(built.uuidgen_amd64.data))
    layout = write_layout(tmp_path, layers=(gzip.compress(buffer.getvalue(), mtime=0),))
    found = image_files.read_file(layout.path, image_files.entrypoint(layout.path))
    document = sbom.spdx_document(
        buildinfo.read_build_info(found.data),
        sbom.Binary(found.path, found.data),
        repository=REPOSITORY,
        digest=layout.manifest_digest,
        created=CREATED,
        tool_version="0.1.0",
    )
    validate(document)
    assert "github.com/google/uuid" in packages(document)


def test_refusals(built: GoBinaries) -> None:
    with pytest.raises(sbom.SbomError, match="not a sha256 digest"):
        make(built.uuidgen_amd64, digest="latest")
    info = buildinfo.read_build_info(built.uuidgen_amd64.data)
    no_main = buildinfo.BuildInfo(info.go_version, "", None, (), info.settings)
    with pytest.raises(sbom.SbomError, match="no main module"):
        sbom.spdx_document(
            no_main,
            sbom.Binary(BINARY_PATH, b""),
            repository=REPOSITORY,
            digest=DIGEST,
            created=CREATED,
            tool_version="0.1.0",
        )
