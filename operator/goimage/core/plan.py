"""A build's identity: which GoImageBuild, which generation, which objects.

`plan_build` is the one place that turns a resource body into what the
builders need, so the Job, the ConfigMap and the status agree on names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from goimage.core import naming
from goimage.core import spec as specs


@dataclass(frozen=True)
class BuildPlan:
    namespace: str
    resource_name: str
    uid: str
    generation: int
    build_id: str
    object_name: str  # the Job's and the ConfigMap's name
    spec: specs.BuildSpec

    @property
    def labels(self) -> dict[str, str]:
        return naming.child_labels(self.resource_name, self.uid, self.generation, self.build_id)

    @property
    def owner(self) -> dict[str, object]:
        return naming.owner_reference(self.resource_name, self.uid)

    @property
    def resource(self) -> str:
        return f"{self.namespace}/{self.resource_name}"


def plan_build(body: Mapping[str, Any]) -> BuildPlan:
    """The plan for the resource's current generation; raises SpecError on a bad spec."""
    meta = body["metadata"]
    generation = int(meta.get("generation") or 1)
    build = naming.build_id(generation, naming.rebuild_token(meta.get("annotations")))
    return BuildPlan(
        namespace=meta["namespace"],
        resource_name=meta["name"],
        uid=meta["uid"],
        generation=generation,
        build_id=build,
        object_name=naming.build_object_name(meta["name"], build),
        spec=specs.parse_spec(body.get("spec") or {}),
    )
