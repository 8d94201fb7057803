"""KEY=VALUE files the cluster scripts write (control-plane.sh's env, cluster.sh's .cluster/env)."""

from __future__ import annotations

from pathlib import Path


def read_env_file(path: Path) -> dict[str, str]:
    """Each `KEY=VALUE` line of `path`; blank lines and `#` comments skipped."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.lstrip().startswith("#"):
            env[key.strip()] = value.strip()
    return env
