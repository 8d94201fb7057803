"""Operator settings from the environment (the Helm chart sets these)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from goimage.core.settings import DEFAULT_KANIKO_IMAGE, DEFAULT_REPORTER_IMAGE, Settings


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.replace(";", ",").split(",") if item.strip())


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    return Settings(
        kaniko_image=env.get("GOIMAGE_KANIKO_IMAGE") or DEFAULT_KANIKO_IMAGE,
        reporter_image=env.get("GOIMAGE_REPORTER_IMAGE") or DEFAULT_REPORTER_IMAGE,
        registry_mirrors=_list(env.get("GOIMAGE_REGISTRY_MIRRORS", "")),
        registry_maps=_list(env.get("GOIMAGE_REGISTRY_MAPS", "")),
        insecure_registries=_list(env.get("GOIMAGE_INSECURE_REGISTRIES", "")),
        history_limit=int(env.get("GOIMAGE_HISTORY_LIMIT", "3")),
    )
