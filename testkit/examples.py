"""examples/ as the tests and the benchmarks build them: copied, edited, pointed at the node."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from testkit.node import Cluster
from testkit.paths import EXAMPLES


def example_spec(
    name: str, cluster: Cluster, repo: str, prefix: str = "e2e", **overrides: Any
) -> dict[str, Any]:
    """examples/<name>/goimagebuild.yaml, pointed at this node (what the README shows runs
    here): git repository `repo`, image <registry>/<prefix>/<repo>; `overrides` maps dotted
    spec paths to values."""
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / name / "goimagebuild.yaml").read_text())
    spec = body["spec"]
    spec["source"]["git"]["url"] = f"{cluster.git_server}/{repo}.git"
    spec["output"]["image"] = f"{cluster.registry}/{prefix}/{repo}"
    for var in spec.get("go", {}).get("env", []):
        if var["name"] == "GOPROXY":
            var["value"] = cluster.goproxy_url
    for path, value in overrides.items():
        target = spec
        *parents, last = path.split(".")
        for key in parents:
            target = target.setdefault(key, {})
        target[last] = value
    body["metadata"] = {"name": repo}
    return body


def copy_example(example: str, target: Path, edit: str = "") -> Path:
    """examples/<example> copied to `target`, with main.go's `edit` ("old=>new") applied."""
    shutil.copytree(EXAMPLES / example, target)
    if edit:
        main = next(target.rglob("main.go"))
        old, new = edit.split("=>")
        text = main.read_text()
        if old not in text:
            raise AssertionError(f"{main} has no {old!r} to edit")
        main.write_text(text.replace(old, new))
    return target
