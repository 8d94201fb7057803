"""Real Go binaries for the supply-chain tests, built once per test session with the host `go`.

`uuidgen-amd64` and `uuidgen-arm64` are built from examples/uuidgen the way the
operator's Dockerfile builds (-trimpath -buildvcs=false -ldflags="-s -w",
CGO_ENABLED=0). `replaced` is a module made here that exercises what those
two do not: a main package below the module root, a module replaced by
another version and one replaced by a local directory, -ldflags recorded
with quotes (no -trimpath), and cgo, which links it dynamically.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UUIDGEN = REPO / "examples" / "uuidgen"
OPERATOR_LDFLAGS = "-s -w"  # spec.DEFAULT_LDFLAGS, what the Dockerfile passes by default
REPLACED_LDFLAGS = "-s -w -X \"main.greeting=hello, world\" -X 'main.tab=a\tb'"

_REPLACED_GO_MOD = """module example.com/replaced

go 1.24

require (
\texample.com/lib v1.0.0
\tgithub.com/google/uuid v1.6.0
)

replace example.com/lib => ./lib

replace github.com/google/uuid v1.6.0 => github.com/google/uuid v1.5.0
"""

_REPLACED_MAIN = """package main

import (
\t"fmt"
\t"os/user"

\t"example.com/lib"
\t"github.com/google/uuid"
)

var greeting, tab string

func main() {
\tu, _ := user.Current()
\tfmt.Println(greeting, tab, lib.Name, uuid.NewString(), u)
}
"""


@dataclass(frozen=True)
class Binary:
    path: Path
    data: bytes
    go_version_m: str  # `go version -m` of the file, the oracle


@dataclass(frozen=True)
class GoBinaries:
    uuidgen_amd64: Binary
    uuidgen_arm64: Binary
    replaced: Binary  # cgo, replacements, quoted -ldflags


_built: GoBinaries | None = None


def _go(args: list[str], cwd: Path, **env: str) -> str:
    go = shutil.which("go")
    assert go is not None, "the Go toolchain (go) must be on PATH"
    environment = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local", **env}
    run = subprocess.run(
        [go, *args], cwd=cwd, env=environment, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, f"go {' '.join(args)} failed:\n{run.stderr}"
    return run.stdout


def _build(src: Path, out: Path, flags: list[str], target: str, **env: str) -> Binary:
    _go(["build", *flags, "-o", str(out), target], src, GOOS="linux", **env)
    return Binary(out, out.read_bytes(), _go(["version", "-m", str(out)], src))


def go_binaries(tmp_path_factory: pytest.TempPathFactory) -> GoBinaries:
    """The binaries, built on the first call of the session."""
    global _built
    if _built is None:
        root = tmp_path_factory.mktemp("go-binaries")
        uuidgen = root / "uuidgen"
        shutil.copytree(UUIDGEN, uuidgen)  # -mod=mod may touch go.sum: not the repo's
        operator_flags = ["-trimpath", "-buildvcs=false", f"-ldflags={OPERATOR_LDFLAGS}"]
        amd64 = _build(
            uuidgen,
            root / "uuidgen-amd64",
            [*operator_flags, "-tags=netgo,osusergo"],
            ".",
            GOARCH="amd64",
            CGO_ENABLED="0",
        )
        arm64 = _build(
            uuidgen, root / "uuidgen-arm64", operator_flags, ".", GOARCH="arm64", CGO_ENABLED="0"
        )
        replaced = root / "replaced"
        (replaced / "cmd" / "tool").mkdir(parents=True)
        (replaced / "lib").mkdir()
        (replaced / "go.mod").write_text(_REPLACED_GO_MOD)
        (replaced / "cmd" / "tool" / "main.go").write_text(_REPLACED_MAIN)
        (replaced / "lib" / "go.mod").write_text("module example.com/lib\n\ngo 1.24\n")
        (replaced / "lib" / "lib.go").write_text('package lib\n\nconst Name = "lib"\n')
        tool = _build(
            replaced,
            root / "tool",
            ["-buildvcs=false", f"-ldflags={REPLACED_LDFLAGS}"],
            "./cmd/tool",
            GOARCH="amd64",
            CGO_ENABLED="1",
        )
        _built = GoBinaries(amd64, arm64, tool)
    return _built
