"""Operator settings from the environment (the Helm chart sets these)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from goimage.core import pod_release
from goimage.core import settings as defaults
from goimage.core.settings import DEFAULT_KANIKO_IMAGE, DEFAULT_REPORTER_IMAGE, Settings


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.replace(";", ",").split(",") if item.strip())


def _resources(value: str) -> Mapping[str, Mapping[str, str]]:
    """ResourceRequirements as JSON, e.g. {"requests": {"cpu": "1"}, "limits": {...}}."""
    if not value.strip():
        return defaults.DEFAULT_BUILD_RESOURCES
    parsed = json.loads(value)
    if not isinstance(parsed, dict) or set(parsed) - {"requests", "limits"}:
        raise ValueError(f"GOIMAGE_BUILD_RESOURCES: {value!r} is not {{requests, limits}} JSON")
    return {
        kind: {str(k): str(v) for k, v in (values or {}).items()} for kind, values in parsed.items()
    }


def _retention(value: str) -> str:
    """GOIMAGE_FINISHED_POD_RETENTION: a duration (5m, 90s) or 0; checked at start-up."""
    text = value.strip() or defaults.DEFAULT_FINISHED_POD_RETENTION
    pod_release.retention_seconds(text)  # raises ValueError naming the variable
    return text


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    return Settings(
        kaniko_image=env.get("GOIMAGE_KANIKO_IMAGE") or DEFAULT_KANIKO_IMAGE,
        reporter_image=env.get("GOIMAGE_REPORTER_IMAGE") or DEFAULT_REPORTER_IMAGE,
        registry_mirrors=_list(env.get("GOIMAGE_REGISTRY_MIRRORS", "")),
        registry_maps=_list(env.get("GOIMAGE_REGISTRY_MAPS", "")),
        insecure_registries=_list(env.get("GOIMAGE_INSECURE_REGISTRIES", "")),
        history_limit=int(env.get("GOIMAGE_HISTORY_LIMIT", "3")),
        build_resources=_resources(env.get("GOIMAGE_BUILD_RESOURCES", "")),
        output_size_limit=env.get("GOIMAGE_OUTPUT_SIZE_LIMIT")
        or defaults.DEFAULT_OUTPUT_SIZE_LIMIT,
        max_timeout=env.get("GOIMAGE_MAX_BUILD_TIMEOUT") or defaults.DEFAULT_MAX_TIMEOUT,
        finished_pod_retention=_retention(env.get("GOIMAGE_FINISHED_POD_RETENTION", "")),
    )
