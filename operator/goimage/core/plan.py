"""A build's identity: which GoImageBuild, which generation, which objects.

`plan_build` is the one place that turns a resource body into what the
builders need, so the Job, the ConfigMap and the status agree on names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from goimage.core import naming
from goimage.core import spec as specs
from goimage.core.source import Resolved, poll_build_id


@dataclass(frozen=True)
class BuildPlan:
    namespace: str
    resource_name: str
    uid: str
    generation: int
    build_id: str
    object_name: str  # the Job's and the ConfigMap's name
    spec: specs.BuildSpec
    # The commit this build builds; None until it is resolved (a commit revision is
    # itself). The Job, the Dockerfile's revision label and the status pin it.
    source: Resolved | None = None

    @property
    def commit(self) -> str:
        return self.source.commit if self.source else ""

    def with_source(self, resolved: Resolved) -> BuildPlan:
        """This build, its commit resolved."""
        return dataclasses.replace(self, source=resolved)

    def for_poll(self, resolved: Resolved) -> BuildPlan:
        """The build a poll starts for a new commit of the same generation: its own id
        (`<build id>-c<commit>`), so a restarted operator that finds the same commit
        makes the same Job name instead of another build."""
        build = poll_build_id(self.build_id, resolved.commit)
        return dataclasses.replace(
            self,
            build_id=build,
            object_name=naming.build_object_name(self.resource_name, build),
            source=resolved,
        )

    # The spec as the API server holds it: the ConfigMap carries it to the provenance.
    raw_spec: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

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
    spec = specs.parse_spec(body.get("spec") or {})
    return BuildPlan(
        namespace=meta["namespace"],
        resource_name=meta["name"],
        uid=meta["uid"],
        generation=generation,
        build_id=build,
        object_name=naming.build_object_name(meta["name"], build),
        spec=spec,
        # A commit revision needs no asking: it is the commit.
        source=Resolved(commit=spec.source.git.revision) if spec.source.git.is_commit else None,
        raw_spec=body.get("spec") or {},
    )
