"""Build speed on a real node: the hook for the e2e tier's figures (not written yet).

Real builds need the e2e node (`make cluster`: kubelet, containerd, registry,
git server, GOPROXY), whose settings are in .cluster/env. This section is where
its figures go (cold and warm-cache build time of examples/, GoImageBuild
applied -> Ready, image size), each against its floor (the same Kaniko Job run
by hand). Until then it measures nothing and says so; it never makes a figure up.
"""

from __future__ import annotations

from bench.cluster import REPO_ROOT
from bench.report import Row

NODE_ENV = REPO_ROOT / ".cluster" / "env"


def measure_node_builds() -> list[Row]:
    """Rows of real-node build figures; today, one row saying why there are none."""
    if not NODE_ENV.exists():
        reason = "not measured: needs the e2e node (make cluster)"
    else:
        reason = (
            "not measured: the e2e node is up, but the real-build benchmark is not "
            "written yet (bench/node.py: measure_node_builds)"
        )
    print(f"build speed on a real node: {reason}")
    return [Row("build speed on a real node (Kaniko)", "not measured", note=reason)]
