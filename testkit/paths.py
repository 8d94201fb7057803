"""Where things are in the checkout: its root, the tool binaries `make tools` builds."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
CLUSTER_SCRIPTS = REPO_ROOT / "cluster"
EXAMPLES = REPO_ROOT / "examples"


def missing_tools(names: tuple[str, ...]) -> list[str]:
    """Those of `names` that are not executables in TOOLS_BIN (`make tools` builds them)."""
    return [name for name in names if not os.access(TOOLS_BIN / name, os.X_OK)]
