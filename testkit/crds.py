"""This project's CRDs (manifests/crds) installed on a cluster, and served."""

from __future__ import annotations

import json
import time
from typing import Any

from testkit.kubectl import Kubectl
from testkit.paths import REPO_ROOT

CRD_DIR = REPO_ROOT / "manifests" / "crds"
CRD_NAME = "goimagebuilds.goimage.dev"
ESTABLISHED_TIMEOUT_S = 60


def established(crd: dict[str, Any]) -> bool:
    """Whether the API server serves the CRD `crd` (its Established condition)."""
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def install(kubectl: Kubectl) -> None:
    """manifests/crds applied (server-side), and GoImageBuild served.

    The API server compiles every CEL rule and checks its estimated cost here:
    a rule over the cost limit makes this apply fail, naming the rule's path.
    """
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))
    # Polled: `kubectl wait` fails outright while the new CRD has no conditions yet.
    deadline = time.monotonic() + ESTABLISHED_TIMEOUT_S
    while not established(json.loads(kubectl("get", f"crd/{CRD_NAME}", "-o", "json").stdout)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{CRD_NAME} not Established after {ESTABLISHED_TIMEOUT_S}s")
        time.sleep(0.2)
