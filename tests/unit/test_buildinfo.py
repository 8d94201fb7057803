"""buildinfo: Go build information read from real Go binaries, checked against `go version -m`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tests.unit.go_binaries import (
    REPLACED_LDFLAGS,
    UUIDGEN,
    Binary,
    GoBinaries,
    go_binaries,
)

from goimage.core import buildinfo
from goimage.core.buildinfo import BuildInfoError, Module

UUID_SUM = "h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0="


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> GoBinaries:
    return go_binaries(tmp_path_factory)


def _all(built: GoBinaries) -> list[Binary]:
    return [built.uuidgen_amd64, built.uuidgen_arm64, built.replaced]


def test_matches_go_version_m(built: GoBinaries) -> None:
    for binary in _all(built):
        info = buildinfo.read_build_info(binary.data)
        first, _, rest = binary.go_version_m.partition("\n")
        assert first == f"{binary.path}: {info.go_version}"
        assert buildinfo.render(info) == rest


def test_go_version_is_the_toolchains(built: GoBinaries) -> None:
    go = shutil.which("go")
    assert go is not None
    version = subprocess.run(
        [go, "env", "GOVERSION"], capture_output=True, text=True, check=True
    ).stdout.strip()
    for binary in _all(built):
        assert buildinfo.read_build_info(binary.data).go_version == version


def test_operator_build(built: GoBinaries) -> None:
    info = buildinfo.read_build_info(built.uuidgen_amd64.data)
    assert info.path == "example.com/uuidgen"
    assert info.main == Module("example.com/uuidgen", "(devel)", "")
    assert info.deps == (Module("github.com/google/uuid", "v1.6.0", UUID_SUM),)
    # The hash is go.sum's line for the module's content.
    go_sum = (UUIDGEN / "go.sum").read_text().splitlines()
    assert f"github.com/google/uuid v1.6.0 {UUID_SUM}" in go_sum
    assert (info.goos, info.goarch, info.cgo_enabled) == ("linux", "amd64", False)
    assert info.tags == ("netgo", "osusergo")
    assert info.setting("-trimpath") == "true"
    assert info.setting("GOAMD64") == "v1"
    # Go leaves -ldflags out of a -trimpath build (go.dev/issue/52372).
    assert info.setting("-ldflags") is None


def test_arm64_build(built: GoBinaries) -> None:
    info = buildinfo.read_build_info(built.uuidgen_arm64.data)
    assert (info.goos, info.goarch, info.tags) == ("linux", "arm64", ())
    assert info.setting("GOARM64") == "v8.0"
    assert info.setting("GOAMD64") is None


def test_replacements_and_quoted_ldflags(built: GoBinaries) -> None:
    info = buildinfo.read_build_info(built.replaced.data)
    assert info.path == "example.com/replaced/cmd/tool"
    assert info.main == Module("example.com/replaced", "(devel)", "")
    lib, uuid = info.deps
    assert lib == Module("example.com/lib", "v1.0.0", "", Module("./lib", "(devel)", ""))
    assert uuid.path == "github.com/google/uuid"
    assert uuid.version == "v1.6.0"
    assert uuid.sum == ""
    assert uuid.replace is not None
    assert (uuid.replace.path, uuid.replace.version) == ("github.com/google/uuid", "v1.5.0")
    assert uuid.replace.sum.startswith("h1:")
    assert info.setting("-ldflags") == REPLACED_LDFLAGS
    assert info.cgo_enabled is True
    assert info.setting("CGO_CFLAGS") == ""


def test_elf_info(built: GoBinaries) -> None:
    amd64 = buildinfo.elf_info(built.uuidgen_amd64.data)
    assert (amd64.machine, amd64.arch, amd64.bits, amd64.byte_order) == (62, "amd64", 64, "little")
    assert amd64.static
    arm64 = buildinfo.elf_info(built.uuidgen_arm64.data)
    assert (arm64.machine, arm64.arch) == (183, "arm64")  # EM_AARCH64
    assert arm64.static
    assert arm64.interpreter is None
    cgo = buildinfo.elf_info(built.replaced.data)
    assert cgo.arch == "amd64"
    assert not cgo.static
    assert cgo.interpreter is not None
    assert cgo.interpreter.startswith("/lib")


def test_elf_info_agrees_with_readelf(built: GoBinaries) -> None:
    """binutils' readelf (there wherever gcc is, which the cgo build needs) on the same files."""

    def readelf(binary: Binary) -> str:
        return subprocess.run(
            ["readelf", "--file-header", "--program-headers", str(binary.path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    amd64, arm64, cgo = (readelf(b) for b in _all(built))
    assert "Advanced Micro Devices X86-64" in amd64
    assert "AArch64" in arm64
    for static in (amd64, arm64):
        assert "INTERP" not in static
        assert "DYNAMIC" not in static
    info = buildinfo.elf_info(built.replaced.data)
    assert f"[Requesting program interpreter: {info.interpreter}]" in cgo


def test_not_elf() -> None:
    with pytest.raises(BuildInfoError, match="not an ELF file"):
        buildinfo.read_build_info(b"#!/bin/sh\necho hello\n")
    with pytest.raises(BuildInfoError, match="not an ELF file"):
        buildinfo.elf_info(b"")


def test_elf_that_is_not_go() -> None:
    ls = Path(shutil.which("ls") or "/bin/ls").resolve()
    with pytest.raises(BuildInfoError, match="not a Go binary"):
        buildinfo.read_build_info(ls.read_bytes())
    assert buildinfo.elf_info(ls.read_bytes()).arch == "amd64"


def test_truncated_binaries_raise_only_build_info_error(built: GoBinaries) -> None:
    data = built.uuidgen_amd64.data
    for size in (16, 40, 64, 200, 4096, len(data) // 2, len(data) - 1):
        try:
            info = buildinfo.read_build_info(data[:size])
        except BuildInfoError:
            continue
        # A cut that leaves the build information whole still reads it right.
        assert info.deps[0].sum == UUID_SUM


def test_pre_118_pointer_format_is_refused(built: GoBinaries) -> None:
    data = bytearray(built.uuidgen_amd64.data)
    at = data.index(b"\xff Go buildinf:")
    data[at + 15] &= ~0x2  # flags: strings by pointer, as before Go 1.18
    with pytest.raises(BuildInfoError, match=r"before 1\.18"):
        buildinfo.read_build_info(bytes(data))


_QUOTING_ORACLE = r"""package main

import (
	"encoding/hex"
	"fmt"
	"runtime/debug"
)

func main() {
	settings := []debug.BuildSetting{
		{Key: "-ldflags", Value: "-s -w -X \"main.v=1 2\" -X 'main.t=a\tb'"},
		{Key: "-tags", Value: "netgo,osusergo"},
		{Key: "my key", Value: "plain"},
		{Key: "k=v", Value: "a`b"},
		{Key: "uni", Value: "héllo wörld 🙂"},
		{Key: "ctl", Value: "bell\a nbsp\u00a0 del\x7f nl\n cr\r"},
		{Key: "bytes", Value: "bad \xff utf8"},
		{Key: "empty", Value: ""},
	}
	bi := &debug.BuildInfo{
		Path: "example.com/q",
		Main: debug.Module{Path: "example.com/q", Version: "(devel)"},
		Settings: settings,
	}
	fmt.Print(bi.String())
	fmt.Println("--")
	for _, s := range settings {
		fmt.Println(hex.EncodeToString([]byte(s.Key)), hex.EncodeToString([]byte(s.Value)))
	}
}
"""


def test_quoting_against_go(tmp_path: Path) -> None:
    """Go's own String() of awkward settings: parsed back to the same bytes, rendered alike."""
    go = shutil.which("go")
    assert go is not None
    source = tmp_path / "oracle.go"
    source.write_text(_QUOTING_ORACLE)
    out = subprocess.run(
        [go, "run", str(source)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        errors="surrogateescape",
    ).stdout
    text, _, hexes = out.partition("--\n")
    info = buildinfo.parse_modinfo(text)
    expected = [tuple(bytes.fromhex(h) for h in line.split(" ")) for line in hexes.splitlines()]
    got = [
        (k.encode("utf-8", "surrogateescape"), v.encode("utf-8", "surrogateescape"))
        for k, v in info.settings
    ]
    assert got == [(k, v) for k, v in expected]
    rendered = "".join(line[1:] + "\n" for line in buildinfo.render(info).splitlines())
    assert rendered == text


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("dep\tgithub.com/x\n", "line 1: expected 2 or 3 columns; got 1"),
        ("path\tp\n=>\ta\tb\tc\n", "line 2: replacement with no module"),
        ("mod\tm\tv\t\n=>\ta\tb\n", "line 2: expected 3 columns for replacement"),
        ("build\tnoequals\n", "missing '=' after key"),
        ("build\t=v\n", "missing key"),
        ("build\tk=a b\n", "must be quoted"),
        ('build\t"k"v\n', "unexpected character after quoted key"),
        ('build\tk="unterminated\n', "invalid quoted"),
    ],
)
def test_malformed_modinfo(line: str, message: str) -> None:
    with pytest.raises(BuildInfoError, match=message):
        buildinfo.parse_modinfo(line)


def test_last_line_without_newline_is_ignored_like_go() -> None:
    info = buildinfo.parse_modinfo("path\tp\nbuild\tGOOS=linux")
    assert info.path == "p"
    assert info.settings == ()
