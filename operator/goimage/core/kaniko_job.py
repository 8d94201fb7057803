"""The Kaniko Job of one build.

One platform (the default): the pod has three steps. The init container
`build` is Kaniko: it clones the git context, builds the Dockerfile mounted
from the ConfigMap, pushes every tag, and writes the image (digest file, OCI
layout) into a shared emptyDir. The init container `publish` (the operator
image, `goimage-operator publish`) attaches the SBOM and the provenance to
the pushed image as OCI artifacts (oras) and writes
/goimage/out/published.json. The container `report` then reads that output
and writes the digest, size, SBOM and provenance as its termination message,
which is all the operator reads: it never talks to the registry or to git,
and never reads a Secret. Credentials reach Kaniko (and publish) as a
mounted docker config and as env vars from secretKeyRefs.

Several platforms: first the init container `pin-builder` (the operator
image), which writes the Dockerfile with the builder image pinned to the build
node's platform (see below why); then one Kaniko init container per platform,
`build-<os>-<arch>[-<variant>]`, in sequence, each with --custom-platform,
--no-push, its own OCI layout /goimage/out/<slug>/oci and digest file
/goimage/out/<slug>.digest; then the init container `publish` (the operator
image, `goimage-operator publish`), which pushes each platform image and an
OCI image index under every tag with `crane`, attaches the SBOMs and the
provenance, and writes /goimage/out/published.json; then `report`, which
reads the layouts and that file. Why one pod in sequence and not a pod per
platform: the layer cache, the git clone's credentials and the status stay
one build's (one Job, one pod, one termination message), the index can only
be pushed once every platform image exists (parallel pods would need a fourth
step, in a pod of its own, that waits for the others), and the second
platform's build reuses the node's warm image pulls and the cache layers the
first one pushed. The price is time: platforms build one after the other
(measured on the node by `make bench-builds`).

What Kaniko does with platforms, read in its sources (the test ground's
executor github.com/GoogleContainerTools/kaniko v1.24.0, the operator's
default ghcr.io/osscontainertools/kaniko v1.28.0):

- `--custom-platform` (cmd/executor/cmd/root.go, both): defaults to the
  node's platform (containerd platforms.DefaultSpec). It is the platform of
  every remote base image pull: pkg/image/image_util.go
  RetrieveSourceImage(Internal) -> pkg/image/remote/remote.go
  RetrieveRemoteImage -> remoteOptions, which passes remote.WithPlatform to
  go-containerregistry; and pkg/executor/build.go (stageBuilder's final
  config, v1.24.0 around line 756, v1.28.0 around line 1268) writes it into
  the image config's os and architecture (v1.28.0 also the variant; v1.24.0
  writes no variant, so a linux/arm/v7 image built by v1.24.0 has none).
- `FROM --platform=...`: ignored by both. The buildkit parser stores it in
  instructions.Stage.Platform, and nothing in pkg/dockerfile (ParseStages,
  MakeKanikoStages, resolveStagesArgs) or pkg/executor reads it: every stage's
  base is pulled for --custom-platform. The template still writes
  `FROM --platform=$BUILDPLATFORM` (what BuildKit-style builders honour), but
  with Kaniko the builder stage runs on the build node's platform only when
  the builder image reference resolves to that platform: go-containerregistry
  (remote.Descriptor.Image) picks a child by platform only from an index and
  takes a single-platform manifest as it is. Docker Hub's golang is an index,
  from which Kaniko would pull the target's golang, whose RUN steps fail
  without emulation. So the first init container, `pin-builder` (operator
  image, `crane digest --platform=<node's platform>`), writes the Dockerfile
  with the builder's FROM pinned to the node platform's digest into the
  output folder, and the platforms' Kaniko runs build that one.
- BUILDPLATFORM, BUILDOS, BUILDARCH, TARGETPLATFORM, TARGETOS, TARGETARCH,
  TARGETVARIANT: v1.28.0 predefines them (pkg/dockerfile/buildargs.go
  BuildArgs.InitPredefinedArgs, called from pkg/executor/build.go
  DoBuild with opts.CustomPlatform); v1.24.0 has none of them. So the
  Dockerfile declares its own ARG GOOS/GOARCH/GOARM and each platform's
  Kaniko run sets them with --build-arg (ARG values reach RUN's environment:
  pkg/commands/run.go, BuildArgs.ReplacementEnvs, both versions). A RUN's
  layer-cache key holds them too (pkg/executor/build.go populateCompositeKey,
  RunCommand.IsArgsEnvsRequiredInCache), so platforms share no compiled layer.
- `--no-push` still writes --digest-file and --oci-layout-path
  (pkg/executor/push.go DoPush, both versions), which `publish` pushes.
"""

from __future__ import annotations

import json
from typing import Any

from goimage.core import naming
from goimage.core.configmap import DOCKERFILE_KEY, SPEC_KEY
from goimage.core.plan import BuildPlan
from goimage.core.policy import PodPlacement, pod_placement
from goimage.core.settings import Settings
from goimage.core.source import Resolved, git_env, kaniko_git_fragment
from goimage.core.spec import NODE_ARCH_LABEL, NODE_OS_LABEL, BuildSpec, GitSource, Platform

OUTPUT_DIR = "/goimage/out"
DIGEST_FILE = f"{OUTPUT_DIR}/digest"
OCI_LAYOUT = f"{OUTPUT_DIR}/oci"
DOCKERFILE_DIR = "/goimage/dockerfile"
DOCKER_CONFIG_DIR = "/kaniko/.docker"
PUBLISHED_FILE = f"{OUTPUT_DIR}/published.json"
# Several platforms: the Dockerfile with the builder pinned to the node's platform.
PINNED_DOCKERFILE = f"{OUTPUT_DIR}/{DOCKERFILE_KEY}"
# ... and the digest pin-builder pinned it to, for the provenance.
BUILDER_DIGEST_FILE = f"{OUTPUT_DIR}/builder.digest"
# The GoImageBuild's spec from the ConfigMap, for the provenance.
SPEC_FILE = f"{DOCKERFILE_DIR}/{SPEC_KEY}"
# Where publish writes the SBOM and provenance documents before it attaches them.
ARTIFACTS_DIR = f"{OUTPUT_DIR}/artifacts"
# The reporter runs as the operator image's non-root user.
REPORTER_UID = 65532

# Kaniko runs as root in its container: it unpacks base images with their
# files' owners and modes, and runs the Dockerfile's RUN steps in that tree.
# Of root's capabilities it keeps only these three (seccomp RuntimeDefault, no
# privilege escalation). Found by real builds of examples/hello (scratch) and
# examples/uuidgen (distroless, modules) on the test node, each with one
# capability dropped at a time (Kaniko v1.24.0):
#   CHOWN         without it: "failed to get filesystem from image: chown
#                 /etc/gshadow: operation not permitted" (unpacking golang)
#   DAC_OVERRIDE  without it: "could not save file: copying file: mkdir
#                 /kaniko/0/out: permission denied"
#   FOWNER        without it: "chmod /home/nonroot: operation not permitted"
#                 (unpacking distroless; the scratch build passes)
# FSETID, SETUID and SETGID were dropped with both builds passing and pushing
# the very digests they push with them. SETUID/SETGID would be needed only by
# a RUN step under a non-root USER: the template sets USER after every RUN, so
# the builder image must run as root (golang images do). Without FSETID a RUN
# step that sets a set-group-ID bit on a file of a group other than root's
# (rare in Alpine packages) loses that bit.
KANIKO_CAPABILITIES = ("CHOWN", "DAC_OVERRIDE", "FOWNER")

_VOLUME_OUTPUT = "goimage-output"
_VOLUME_DOCKERFILE = "goimage-dockerfile"
_VOLUME_DOCKER_CONFIG = "goimage-docker-config"


def git_context(git: GitSource, resolved: Resolved | None = None) -> tuple[str, list[str]]:
    """Kaniko's --context for a git source, and the extra flags the revision needs.

    Kaniko clones `git://host/path`, over https unless GIT_PULL_METHOD says
    http. With the commit resolved (every build the operator starts), the
    fragment pins it: `#<ref>#<commit>` clones that ref and checks the commit
    out (`#<commit>` alone would clone only the default branch), so a branch
    that moves while the pod waits still builds the commit the status names.
    Unresolved (a caller that did not ask git): a full ref or a commit goes in
    the fragment, a bare branch or tag name to `--git=branch=`.
    """
    context = "git://" + git.url.split("://", 1)[1]
    if resolved is not None:
        return context + kaniko_git_fragment(resolved), []
    revision = git.revision
    if not revision:
        return context, []
    if git.is_commit or revision.startswith("refs/"):
        return f"{context}#{revision}", []
    return context, [f"--git=branch={revision}"]


def registry_host(image: str) -> str:
    """The registry part of an image reference (Docker Hub when it has none)."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "index.docker.io"


def platform_dir(platform: Platform) -> str:
    """Where a platform's Kaniko run of a multi-platform build leaves its image."""
    return f"{OUTPUT_DIR}/{platform.slug}"


def platform_container_name(platform: Platform) -> str:
    return f"{naming.CONTAINER_BUILD}-{platform.slug}"


def registry_mirrors(spec: BuildSpec, settings: Settings) -> list[str]:
    """Docker Hub mirrors: the spec's first, then the operator's."""
    return list(dict.fromkeys((*spec.builder.registry_mirrors, *settings.registry_mirrors)))


def insecure_registries(spec: BuildSpec, settings: Settings) -> list[str]:
    """Registries reached over plain HTTP: the operator's, and the output's if insecure."""
    insecure = list(settings.insecure_registries)
    if spec.output.insecure:
        insecure.append(registry_host(spec.output.image))
    return list(dict.fromkeys(insecure))


def kaniko_args(
    spec: BuildSpec,
    settings: Settings,
    platform: Platform | None = None,
    resolved: Resolved | None = None,
) -> list[str]:
    """Kaniko's flags: with `platform`, one platform's run of a multi-platform build
    (--custom-platform, --no-push, GOOS/GOARCH/GOARM, its own output folder);
    `resolved`: the commit to build (`git_context`)."""
    context, git_flags = git_context(spec.source.git, resolved)
    dockerfile = f"{DOCKERFILE_DIR}/{DOCKERFILE_KEY}" if platform is None else PINNED_DOCKERFILE
    args = [
        f"--dockerfile={dockerfile}",
        f"--context={context}",
        *git_flags,
    ]
    if spec.source.context_dir:
        args.append(f"--context-sub-path={spec.source.context_dir}")
    if platform is None:
        args += [f"--destination={spec.output.image}:{tag}" for tag in spec.output.tags]
        digest_file, oci_layout = DIGEST_FILE, OCI_LAYOUT
    else:
        args += [f"--custom-platform={platform}", "--no-push"]
        args += [f"--build-arg={name}={value}" for name, value in platform.go_env]
        # The digest file beside the platform's folder, not in it: Kaniko makes a
        # missing parent of --digest-file with mode 0700 as root (pkg/executor/push.go
        # writeDigestFile, both versions), which the non-root steps after it could not
        # enter; the layout's folders it makes with 0777 less the umask.
        digest_file = f"{platform_dir(platform)}.digest"
        oci_layout = f"{platform_dir(platform)}/oci"
    args += [
        f"--digest-file={digest_file}",
        f"--oci-layout-path={oci_layout}",
        # Timestamps stripped: the same commit gives the same digest.
        "--reproducible",
        "--log-format=text",
        "--push-retry=2",
        # Changed files found by mtime, size, mode and owner instead of by hashing every
        # file of the golang image after each RUN: seconds per RUN, same layers.
        "--snapshot-mode=redo",
    ]
    if spec.builder.cache.enabled:
        args += ["--cache=true", f"--cache-repo={spec.cache_repo}"]
    for mirror in registry_mirrors(spec, settings):
        args.append(f"--registry-mirror={mirror}")
    args += [f"--registry-map={mapping}" for mapping in settings.registry_maps]
    if spec.output.insecure:
        args.append("--insecure")
    args += [f"--insecure-registry={host}" for host in insecure_registries(spec, settings)]
    return args


def _git_env(git: GitSource) -> list[dict[str, Any]]:
    # The Secret's keys as the resolve pod gets them (source.git_env): each optional,
    # since a Secret holds username+password, or a token.
    return [{"name": "GIT_PULL_METHOD", "value": git.url.split("://", 1)[0]}, *git_env(git)]


def _build_container(
    plan: BuildPlan, settings: Settings, placement: PodPlacement, platform: Platform | None = None
) -> dict[str, Any]:
    spec = plan.spec
    mounts: list[dict[str, Any]] = [
        {"name": _VOLUME_DOCKERFILE, "mountPath": DOCKERFILE_DIR, "readOnly": True},
        {"name": _VOLUME_OUTPUT, "mountPath": OUTPUT_DIR},
    ]
    if spec.output.push_secret_name:
        mounts.append(
            {"name": _VOLUME_DOCKER_CONFIG, "mountPath": DOCKER_CONFIG_DIR, "readOnly": True}
        )
    container: dict[str, Any] = {
        "name": naming.CONTAINER_BUILD if platform is None else platform_container_name(platform),
        "image": spec.builder.image or settings.kaniko_image,
        "args": kaniko_args(spec, settings, platform, plan.source),
        "env": _git_env(spec.source.git),
        "volumeMounts": mounts,
        # Root in its own container, but no privilege, no host path, no API
        # token, and of root's capabilities only those Kaniko needs.
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "capabilities": {"drop": ["ALL"], "add": list(KANIKO_CAPABILITIES)},
        },
        # On failure the kubelet puts the log's tail here: the compiler's
        # message, or git's, reaches the status without the operator reading logs.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if placement.resources:
        container["resources"] = {k: dict(v) for k, v in placement.resources.items()}
    return container


def _operator_step_security() -> dict[str, Any]:
    """The operator image's steps (publish, report): non-root, nothing to write but
    the shared output folder, no capability."""
    return {
        "runAsNonRoot": True,
        "runAsUser": REPORTER_UID,
        "runAsGroup": REPORTER_UID,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _report_container(plan: BuildPlan, settings: Settings) -> dict[str, Any]:
    spec = plan.spec
    if spec.output.multi_platform:
        args = [*(f"--platform={p}={platform_dir(p)}/oci" for p in spec.output.platforms)]
    else:
        args = [f"--oci-layout={OCI_LAYOUT}", f"--digest-file={DIGEST_FILE}"]
    # What publish pushed and attached (the SBOM and the provenance): every build.
    args.append(f"--published={PUBLISHED_FILE}")
    return {
        "name": naming.CONTAINER_REPORT,
        "image": settings.reporter_image,
        "command": ["goimage-operator", "report"],
        "args": [*args, f"--image={spec.output.image}"],
        "volumeMounts": [{"name": _VOLUME_OUTPUT, "mountPath": OUTPUT_DIR, "readOnly": True}],
        "resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"},
            "limits": {"memory": "128Mi"},
        },
        "securityContext": _operator_step_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def build_commit(plan: BuildPlan) -> str:
    """The full commit the build's Kaniko context pins ("" when it pins none): the one the
    operator resolved, else a revision that is itself a full commit."""
    if plan.commit:
        return plan.commit
    git = plan.spec.source.git
    return git.revision if git.is_commit else ""


def _publish_container(plan: BuildPlan, settings: Settings) -> dict[str, Any]:
    """`goimage-operator publish`: for several platforms each platform's image and the
    index under every tag; for every build, the SBOM and the provenance."""
    spec = plan.spec
    if spec.output.multi_platform:
        images = [
            *(f"--platform={p}={platform_dir(p)}/oci" for p in spec.output.platforms),
            *(f"--tag={tag}" for tag in spec.output.tags),
            f"--builder-digest-file={BUILDER_DIGEST_FILE}",
        ]
    else:
        # Kaniko pushed the image and its tags: publish reads what it pushed.
        images = [f"--oci-layout={OCI_LAYOUT}", f"--digest-file={DIGEST_FILE}"]
    commit = build_commit(plan)
    args = [
        *images,
        f"--image={spec.output.image}",
        *(f"--insecure-registry={host}" for host in insecure_registries(spec, settings)),
        # For the builder and runtime images' digests: where Kaniko pulled them from.
        *(f"--registry-mirror={mirror}" for mirror in registry_mirrors(spec, settings)),
        *(f"--registry-map={mapping}" for mapping in settings.registry_maps),
        f"--spec={SPEC_FILE}",
        f"--build={plan.namespace}/{plan.resource_name}/{plan.build_id}",
        *([f"--commit={commit}"] if commit else []),
        f"--kaniko-image={spec.builder.image or settings.kaniko_image}",
        f"--artifacts-dir={ARTIFACTS_DIR}",
        f"--out={PUBLISHED_FILE}",
    ]
    mounts: list[dict[str, Any]] = [
        {"name": _VOLUME_DOCKERFILE, "mountPath": DOCKERFILE_DIR, "readOnly": True},
        {"name": _VOLUME_OUTPUT, "mountPath": OUTPUT_DIR},
    ]
    env: list[dict[str, Any]] = []
    if spec.output.push_secret_name:
        # The same docker config Kaniko gets; crane and oras read $DOCKER_CONFIG/config.json.
        mounts.append(
            {"name": _VOLUME_DOCKER_CONFIG, "mountPath": DOCKER_CONFIG_DIR, "readOnly": True}
        )
        env.append({"name": "DOCKER_CONFIG", "value": DOCKER_CONFIG_DIR})
    container: dict[str, Any] = {
        "name": naming.CONTAINER_PUBLISH,
        "image": settings.reporter_image,
        "command": ["goimage-operator", "publish"],
        "args": args,
        "volumeMounts": mounts,
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"memory": "256Mi"},
        },
        "securityContext": _publish_step_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if env:
        container["env"] = env
    return container


def _publish_step_security() -> dict[str, Any]:
    """The publish step reads every blob of the OCI layouts Kaniko wrote as root, some
    of them 0600 (ggcr writes a layer through a temporary file): it runs as root, the
    files' owner, with every capability dropped, so it reads them by owner permission
    and nothing else; a non-root user would need DAC_OVERRIDE for the same."""
    return {
        **_operator_step_security(),
        "runAsNonRoot": False,
        "runAsUser": 0,
        "runAsGroup": 0,
    }


def _pin_builder_container(plan: BuildPlan, settings: Settings) -> dict[str, Any]:
    """`goimage-operator pin-builder`: the builder image by the node platform's digest."""
    spec = plan.spec
    args = [
        f"--dockerfile={DOCKERFILE_DIR}/{DOCKERFILE_KEY}",
        f"--out={PINNED_DOCKERFILE}",
        f"--digest-out={BUILDER_DIGEST_FILE}",
        f"--image={spec.builder_image}",
        *(f"--registry-mirror={mirror}" for mirror in registry_mirrors(spec, settings)),
        *(f"--registry-map={mapping}" for mapping in settings.registry_maps),
        *(f"--insecure-registry={host}" for host in insecure_registries(spec, settings)),
    ]
    container = _publish_container(plan, settings)
    container.update(
        name=naming.CONTAINER_PIN_BUILDER,
        command=["goimage-operator", "pin-builder"],
        args=args,
        # It reads only the ConfigMap: the operator image's non-root user will do.
        securityContext=_operator_step_security(),
    )
    return container


def _init_containers(
    plan: BuildPlan, settings: Settings, placement: PodPlacement
) -> list[dict[str, Any]]:
    spec = plan.spec
    if not spec.output.multi_platform:
        # Kaniko pushes the image; publish attaches the SBOM and the provenance.
        return [_build_container(plan, settings, placement), _publish_container(plan, settings)]
    builds = [_build_container(plan, settings, placement, p) for p in spec.output.platforms]
    return [_pin_builder_container(plan, settings), *builds, _publish_container(plan, settings)]


def platform_node_selector(spec: BuildSpec) -> dict[str, str]:
    """The node labels a single-platform build must run on, natively.

    A build with packages (a RUN of the target's apk), cgo (the target's C
    toolchain) or a platform other than linux/amd64 runs on a node of its
    platform, where Kaniko's default platform is the target. A default
    linux/amd64 build without either keeps today's pod (no selector).
    Several platforms cross-compile on whatever node the pod lands on.
    """
    if spec.output.multi_platform:
        return {}
    (platform,) = spec.output.platforms
    native = spec.runtime.packages or spec.go.cgo or str(platform) != "linux/amd64"
    if not native:
        return {}
    return {NODE_OS_LABEL: platform.os, NODE_ARCH_LABEL: platform.arch}


def _volumes(plan: BuildPlan, settings: Settings) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = [
        {"name": _VOLUME_DOCKERFILE, "configMap": {"name": plan.object_name}},
        # The built image (OCI layout) for the report step; bounded like the
        # build container's own scratch (its ephemeral-storage limit).
        {"name": _VOLUME_OUTPUT, "emptyDir": {"sizeLimit": settings.output_size_limit}},
    ]
    if plan.spec.output.push_secret_name:
        volumes.append(
            {
                "name": _VOLUME_DOCKER_CONFIG,
                "secret": {
                    "secretName": plan.spec.output.push_secret_name,
                    "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
                },
            }
        )
    return volumes


def job_annotations(spec: BuildSpec, resolved: Resolved | None = None) -> dict[str, str]:
    """What the status needs to know of the build, kept on the Job itself.

    The status of a build is then derived from its Job and Pod alone, even if
    the spec has changed since the build started: so is its source (the
    repository, the revision as asked, the commit built), which a poll also
    compares a branch's new head with.
    """
    annotations = {
        naming.ANNOTATION_IMAGE: spec.output.image,
        naming.ANNOTATION_TAGS: json.dumps(list(spec.output.tags)),
        naming.ANNOTATION_SOURCE_URL: spec.source.git.url,
        naming.ANNOTATION_REVISION: spec.source.git.revision,
    }
    if resolved is not None:
        annotations[naming.ANNOTATION_COMMIT] = resolved.commit
        if resolved.ref:
            annotations[naming.ANNOTATION_REF] = resolved.ref
    if spec.output.max_size is not None:
        annotations[naming.ANNOTATION_MAX_SIZE] = str(spec.output.max_size)
    return annotations


def build_kaniko_job(
    plan: BuildPlan, settings: Settings, placement: PodPlacement | None = None
) -> dict[str, Any]:
    """The build's Job; `placement` is what the governing policies force (none: the spec's)."""
    spec = plan.spec
    if placement is None:
        placement = pod_placement(spec, (), default_resources=settings.build_resources)
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 10,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": _init_containers(plan, settings, placement),
        "containers": [_report_container(plan, settings)],
        "volumes": _volumes(plan, settings),
    }
    if spec.builder.service_account_name:
        pod_spec["serviceAccountName"] = spec.builder.service_account_name
    # The platform's labels go in where neither the spec nor a policy set them
    # (the parser refuses a spec that contradicts its platform; a policy's
    # forced selector wins, as every policy setting does).
    pod_spec.update(placement.pod_fields(platform_node_selector(spec)))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": plan.object_name,
            "namespace": plan.namespace,
            "labels": plan.labels,
            "annotations": job_annotations(spec, plan.source),
            "ownerReferences": [plan.owner],
        },
        "spec": {
            # A failed build is an answer, not a flake: never retry it blindly.
            "backoffLimit": 0,
            "activeDeadlineSeconds": spec.builder.timeout_seconds,
            "template": {"metadata": {"labels": plan.labels}, "spec": pod_spec},
        },
    }
