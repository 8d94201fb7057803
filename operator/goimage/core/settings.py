"""Operator-wide settings that shape every build: images, mirrors, history.

Pure values; `goimage.config` reads them from the environment at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_KANIKO_IMAGE = "ghcr.io/osscontainertools/kaniko:v1.28.0"
DEFAULT_REPORTER_IMAGE = "ghcr.io/goimage-dev/goimage-operator:0.1.0"


@dataclass(frozen=True)
class Settings:
    # The Kaniko executor that runs each build (spec.builder.image overrides it).
    kaniko_image: str = DEFAULT_KANIKO_IMAGE
    # The image whose `goimage-operator report` turns Kaniko's output into the
    # digest and size: the operator's own image, so no other image is needed.
    reporter_image: str = DEFAULT_REPORTER_IMAGE
    # Docker Hub mirrors added to every build after the spec's own.
    registry_mirrors: tuple[str, ...] = ()
    # Other registries remapped for pulls, as Kaniko's "from=to" pairs.
    registry_maps: tuple[str, ...] = ()
    # Registries spoken to over plain HTTP (a local mirror, say).
    insecure_registries: tuple[str, ...] = ()
    # Finished builds (Job and ConfigMap) kept per GoImageBuild, the current one aside.
    history_limit: int = 3
