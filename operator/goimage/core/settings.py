"""Operator-wide settings that shape every build: images, mirrors, history.

Pure values; `goimage.config` reads them from the environment at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_KANIKO_IMAGE = "ghcr.io/osscontainertools/kaniko:v1.28.0"
DEFAULT_REPORTER_IMAGE = "ghcr.io/goimage-dev/goimage-operator:0.1.0"
# The build container's resources when neither the build nor a policy sets them.
# Kaniko unpacks the golang image (about 720 MiB, 31,000 files) into its own
# writable layer and compiles there: ephemeral-storage is requested so that the
# scheduler does not overcommit a node's disk, and limited so that one build
# cannot fill it. A resource the build names keeps the build's values.
DEFAULT_BUILD_RESOURCES: Mapping[str, Mapping[str, str]] = {
    "requests": {"cpu": "250m", "memory": "512Mi", "ephemeral-storage": "2Gi"},
    "limits": {"memory": "4Gi", "ephemeral-storage": "20Gi"},
}
DEFAULT_OUTPUT_SIZE_LIMIT = "2Gi"
DEFAULT_MAX_TIMEOUT = "2h"
# How long a finished build's pod (and its log, and Kaniko's writable layer) is kept.
DEFAULT_FINISHED_POD_RETENTION = "5m"


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
    # Requests and limits of the build container where neither the build nor a
    # GoImageBuildPolicy sets them (per resource name).
    build_resources: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: DEFAULT_BUILD_RESOURCES
    )
    # The size limit of the volume that holds the built image for the report step.
    output_size_limit: str = DEFAULT_OUTPUT_SIZE_LIMIT
    # The longest spec.builder.timeout any build may set (a policy may set less).
    max_timeout: str = DEFAULT_MAX_TIMEOUT
    # How long after it ended a finished build's pod is kept before the operator
    # deletes it (a duration such as 5m; "0": at once). The Job and the status stay:
    # the pod holds only the log and the dead containers' disk.
    finished_pod_retention: str = DEFAULT_FINISHED_POD_RETENTION
