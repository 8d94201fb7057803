"""The `publish` step of every build pod: platform images and the index, SBOM, provenance.

Runs after Kaniko, in the operator image, which carries `crane` and `oras`.
It is the pod's only step besides Kaniko that talks to the registry, with the
same docker config (the push Secret, $DOCKER_CONFIG) and the same plain-HTTP
registries. Several platforms (each Kaniko run `--no-push`, its image in an
OCI layout): it pushes each platform image by digest, then one OCI image
index over them under every tag. One platform: Kaniko pushed the image (and
its tags) itself. Then, for every build, it attaches the SBOM and the
provenance (below), and writes what it pushed to a JSON file for `report`.

The index is deterministic: `crane index append` without a base starts from
go-containerregistry's empty OCI index and appends one descriptor per image
(media type, size, digest, and the platform read from the image's config),
with no annotations and no timestamps. So the same platform images in the
same order (the spec's) give the same index digest, under every tag.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from goimage.core import buildinfo, image_files, provenance, results, sbom
from goimage.core import spec as specs
from goimage.core.kaniko_job import registry_host
from goimage.core.results import Published
from goimage.core.settings import Settings
from goimage.reporter import image_platform, layout_image, read_result

CRANE = "crane"
ORAS = "oras"


@dataclass(frozen=True)
class PlatformLayout:
    platform: str
    path: Path


def _flags(repository: str, insecure_registries: Sequence[str]) -> list[str]:
    # crane's --insecure allows plain HTTP (and unverified TLS) for every
    # registry of the call: set only when the output's registry is one of them.
    return ["--insecure"] if registry_host(repository) in insecure_registries else []


def push_argv(
    layout: Path, repository: str, digest: str, insecure_registries: Sequence[str] = ()
) -> list[str]:
    """crane's command that pushes one platform's OCI layout, by its digest (no tag)."""
    return [
        CRANE,
        "push",
        *_flags(repository, insecure_registries),
        str(layout),
        f"{repository}@{digest}",
    ]


def index_argv(
    repository: str,
    tag: str,
    digests: Sequence[str],
    insecure_registries: Sequence[str] = (),
) -> list[str]:
    """crane's command that pushes the index over `digests` (in order) as repository:tag."""
    manifests = [arg for digest in digests for arg in ("--manifest", f"{repository}@{digest}")]
    return [
        CRANE,
        "index",
        "append",
        *_flags(repository, insecure_registries),
        f"--tag={repository}:{tag}",
        *manifests,
    ]


def pushed_digest(stdout: str, repository: str) -> str:
    """The digest in crane's last line of output, `repository@sha256:...`."""
    lines = stdout.strip().splitlines()
    reference = lines[-1].strip() if lines else ""
    name, _, digest = reference.rpartition("@")
    if name != repository:
        raise results.ResultError(f"crane printed {reference[:200]!r}, not {repository}@<digest>")
    return results.check_digest(digest)


def _crane(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as error:
        raise results.ResultError(f"cannot run {argv[0]}: {error}") from None
    if done.returncode != 0:
        raise results.ResultError(
            f"{' '.join(argv[:3])} failed ({done.returncode}): {done.stderr.strip()[-1500:]}"
        )
    return done.stdout


def push_platforms(
    layouts: Sequence[PlatformLayout],
    repository: str,
    tags: Sequence[str],
    insecure_registries: Sequence[str] = (),
) -> Published:
    """Push every platform image, then the index under every tag."""
    platforms = []
    for layout in layouts:
        digest, _ = layout_image(layout.path)
        pushed = pushed_digest(
            _crane(push_argv(layout.path, repository, digest, insecure_registries)), repository
        )
        if pushed != digest:
            raise results.ResultError(
                f"{layout.platform}: crane pushed {pushed}, the layout holds {digest}"
            )
        platforms.append((layout.platform, digest))
    digests = [digest for _, digest in platforms]
    index_digests = {
        pushed_digest(_crane(index_argv(repository, tag, digests, insecure_registries)), repository)
        for tag in tags
    }
    if len(index_digests) != 1:
        raise results.ResultError(f"the tags got different indexes: {sorted(index_digests)}")
    return Published(index_digest=index_digests.pop(), platforms=tuple(platforms), tags=tuple(tags))


def publish(
    *,
    layouts: Sequence[PlatformLayout] = (),
    oci_layout: Path | None = None,
    digest_file: Path | None = None,
    repository: str,
    tags: Sequence[str] = (),
    insecure_registries: Sequence[str] = (),
    out: Path,
    supply_chain: SupplyChain | None = None,
) -> Published:
    """Publish the build and write `out`.

    Several platforms (`layouts`): push every platform image, then the index
    under every tag. One platform (`oci_layout` and `digest_file`, what Kaniko
    pushed): nothing to push but the artifacts. With `supply_chain`, then
    attach the SBOM and the provenance.
    """
    if layouts:
        published = push_platforms(layouts, repository, tags, insecure_registries)
        pushed = zip(layouts, published.platforms, strict=True)
        images = [ImageLayout(x.platform, x.path, d) for x, (_, d) in pushed]
        subject = published.index_digest
    elif oci_layout is not None and digest_file is not None:
        # Checks Kaniko's digest file against the layout, as report does.
        subject = read_result(oci_layout, digest_file).digest
        images = [ImageLayout(image_platform_of(oci_layout), oci_layout, subject)]
        published = Published(index_digest="", platforms=(), tags=())
    else:
        raise results.ResultError("give --oci-layout and --digest-file, or --platform")
    if supply_chain is not None:
        published = attach_supply_chain(
            published, images, subject, repository, insecure_registries, supply_chain
        )
    out.write_text(published.to_json())
    return published


# --- pin-builder: the builder stage on the build node's platform ------------------------------
#
# Kaniko pulls every stage's base for --custom-platform and ignores FROM
# --platform (see kaniko_job's docstring): from a multi-platform index such as
# Docker Hub's golang it would take the target's toolchain, which the node
# cannot run without emulation. So before the platforms' Kaniko runs, the
# step `pin-builder` resolves the builder image to the digest of the build
# node's own platform (`crane digest --platform`), and writes the Dockerfile
# with the builder stage's FROM pinned to it; a digest names one manifest,
# which go-containerregistry takes as it is, whatever the platform asked.

DOCKER_HUB = "index.docker.io"
# uname -m to the platform Go and OCI name.
_MACHINES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm/v7",
    "armv6l": "arm/v6",
    "i686": "386",
    "i386": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def node_platform(machine: str) -> str:
    """The build node's platform from `uname -m` (this step runs natively on it)."""
    try:
        return f"linux/{_MACHINES[machine]}"
    except KeyError:
        raise results.ResultError(f"unknown machine {machine!r}") from None


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    identifier: str  # ":tag" or "@sha256:..."

    @classmethod
    def parse(cls, image: str) -> ImageRef:
        """A reference as Docker reads it: `golang:1.26` is index.docker.io/library/golang."""
        name, at, digest = image.partition("@")
        tag = ""
        if ":" in name.rsplit("/", 1)[-1]:
            name, _, tag = name.rpartition(":")
        host = registry_host(name)
        path = name if host == DOCKER_HUB else name.split("/", 1)[1]
        if host in ("docker.io", "registry-1.docker.io"):
            host = DOCKER_HUB
        if host == DOCKER_HUB and "/" not in path:
            path = f"library/{path}"
        identifier = f"@{digest}" if at else f":{tag or 'latest'}"
        return cls(registry=host, repository=path, identifier=identifier)

    def at(self, host: str, prefix: str = "") -> str:
        return f"{host}/{prefix}{self.repository}{self.identifier}"


def pull_candidates(image: str, mirrors: Sequence[str], registry_maps: Sequence[str]) -> list[str]:
    """Where Kaniko would pull `image` from, in its order: the maps of its registry
    (a Docker Hub mirror is a map of index.docker.io), then the registry itself."""
    ref = ImageRef.parse(image)
    mappings = [f"{DOCKER_HUB}={mirror}" for mirror in mirrors] + list(registry_maps)
    candidates = []
    for mapping in mappings:
        registry, _, target = mapping.partition("=")
        if registry != ref.registry or not target:
            continue
        host, _, prefix = target.partition("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        candidates.append(ref.at(host, prefix))
    candidates.append(ref.at(ref.registry))
    return list(dict.fromkeys(candidates))


def digest_argv(
    reference: str, platform: str, insecure_registries: Sequence[str] = ()
) -> list[str]:
    """crane's command that prints the digest of `reference`'s image for `platform`."""
    return [
        CRANE,
        "digest",
        f"--platform={platform}",
        *_flags(reference, insecure_registries),
        reference,
    ]


def pinned_dockerfile(dockerfile: str, image: str, digest: str) -> str:
    """The Dockerfile with the builder stage's FROM naming `image` by `digest`."""
    # The repository alone: a digest names the manifest, a tag beside it would only
    # be one more thing for every reader of the reference to parse.
    base = image.partition("@")[0]
    if ":" in base.rsplit("/", 1)[-1]:
        base = base.rpartition(":")[0]
    lines = dockerfile.splitlines(keepends=True)
    for index, line in enumerate(lines):
        words = line.split()
        if words[:1] == ["FROM"] and words[-2:] == ["AS", "build"] and words[-3] == image:
            words[-3] = f"{base}@{digest}"
            lines[index] = " ".join(words) + "\n"
            return "".join(lines)
    raise results.ResultError(f"the Dockerfile has no builder stage FROM {image}")


def resolve_digest(
    image: str,
    platform: str,
    mirrors: Sequence[str] = (),
    registry_maps: Sequence[str] = (),
    insecure_registries: Sequence[str] = (),
) -> tuple[str, str]:
    """The digest of `image`'s manifest for `platform` (all platforms' index: "") and where
    it was found, trying each place Kaniko would pull from, in its order."""
    errors = []
    for candidate in pull_candidates(image, mirrors, registry_maps):
        argv = digest_argv(candidate, platform, insecure_registries)
        if not platform:
            argv = [arg for arg in argv if not arg.startswith("--platform=")]
        try:
            return results.check_digest(_crane(argv)), candidate
        except results.ResultError as error:
            errors.append(f"{candidate}: {error}")
    raise results.ResultError(f"no {platform or 'image'} of {image}: " + "; ".join(errors))


def pin_builder(
    *,
    dockerfile: Path,
    out: Path,
    image: str,
    platform: str,
    mirrors: Sequence[str] = (),
    registry_maps: Sequence[str] = (),
    insecure_registries: Sequence[str] = (),
    digest_out: Path | None = None,
) -> str:
    """Write `out` (and its .dockerignore) with the builder pinned for `platform`.

    Returns the digest (also written to `digest_out`, for the provenance); tries
    each place Kaniko would pull from, in its order."""
    digest, _ = resolve_digest(image, platform, mirrors, registry_maps, insecure_registries)
    out.write_text(pinned_dockerfile(dockerfile.read_text(), image, digest))
    # Kaniko reads <Dockerfile>.dockerignore next to the Dockerfile it builds.
    ignore = dockerfile.with_name(f"{dockerfile.name}.dockerignore")
    if ignore.exists():
        out.with_name(f"{out.name}.dockerignore").write_text(ignore.read_text())
    if digest_out is not None:
        digest_out.write_text(digest)
    return digest


# --- SBOM and provenance: OCI artifacts whose subject is the image ----------------------------
#
# `oras attach` pushes each document as an OCI artifact: an image manifest with
# the empty config, the document as its one layer, `artifactType` the
# document's media type, and `subject` the image's manifest (or the index).
# What it does with the referrers (oras v1.3.6 on oras-go v2.7.0,
# registry/remote/repository.go pushWithIndexing and checkOCISubjectHeader):
# a registry that answers the manifest PUT with an `OCI-Subject` header keeps
# the referrers itself (GET /v2/<repo>/referrers/<digest>); one that does not
# gets the referrers tag scheme, an OCI index under the tag `sha256-<hex of
# the subject>` that oras reads, extends and pushes back. The artifact's
# digest is the same either way.
#
# Deterministic: oras stamps `org.opencontainers.image.created` with the time
# of the push unless the annotation is given (oras-go pack.go
# ensureAnnotationCreated), so it is given, as the documents' own time:
# SOURCE_DATE_EPOCH 0, what Kaniko's --reproducible gives the image. The
# build's real start and end are in the status (startTime, completionTime);
# inside the documents they would make every rebuild of a commit, whose image
# digest is the same, attach new artifacts with new digests.

SOURCE_DATE_EPOCH = 0
CREATED = "1970-01-01T00:00:00Z"
SBOM_FILE = "sbom.spdx.json"
PROVENANCE_FILE = "provenance.intoto.json"
ANNOTATION_CREATED = "org.opencontainers.image.created"
# How much of a failing tool's stderr goes into the error: the status keeps
# about 1,500 characters of the step's log, and must still show which registry.
_STDERR_TAIL = 700


@dataclass(frozen=True)
class ImageLayout:
    """An image this build pushed: its platform, OCI layout and manifest digest."""

    platform: str
    path: Path
    digest: str


@dataclass(frozen=True)
class SupplyChain:
    """What the SBOM and the provenance need besides the images themselves."""

    spec: Mapping[str, Any]  # the GoImageBuild's, as the API server holds it
    namespace: str
    name: str
    build: str
    operator_version: str
    commit: str = ""  # the full commit built; "" when the Job did not pin one
    builder_digest: str = ""  # pin-builder's; "" for one platform: resolved here
    kaniko_image: str = ""
    registry_mirrors: tuple[str, ...] = ()
    registry_maps: tuple[str, ...] = ()
    work: Path = field(default_factory=lambda: Path("."))  # where the documents are written
    registry_config: Path | None = None  # the docker config, for oras


def image_platform_of(oci_layout: Path) -> str:
    _, manifest = layout_image(oci_layout)
    return image_platform(oci_layout, manifest)


def attach_argv(
    reference: str,
    artifact_type: str,
    file_name: str,
    insecure_registries: Sequence[str] = (),
    registry_config: Path | None = None,
) -> list[str]:
    """oras's command that attaches `file_name` (in the working directory) to `reference`."""
    argv = [
        ORAS,
        "attach",
        f"--artifact-type={artifact_type}",
        f"--annotation={ANNOTATION_CREATED}={CREATED}",
        "--format=json",
    ]
    if registry_host(reference) in insecure_registries:
        argv.append("--plain-http")
    if registry_config is not None:
        argv.append(f"--registry-config={registry_config}")
    return [*argv, reference, f"{file_name}:{artifact_type}"]


def _tail(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _STDERR_TAIL else "..." + flat[-_STDERR_TAIL:]


def attach(
    subject: str,
    repository: str,
    media_type: str,
    document: bytes,
    file_name: str,
    *,
    work: Path,
    insecure_registries: Sequence[str] = (),
    registry_config: Path | None = None,
    what: str,
) -> results.Artifact:
    """Push `document` as an artifact whose subject is repository@subject; its digest."""
    (work / file_name).write_bytes(document)
    argv = attach_argv(
        f"{repository}@{subject}", media_type, file_name, insecure_registries, registry_config
    )
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=work)
    except OSError as error:
        raise results.ResultError(f"cannot run {ORAS}: {error}") from None
    if done.returncode != 0:
        raise results.ResultError(
            f"the registry {registry_host(repository)} refused the {what} of "
            f"{repository}@{subject} (oras attach exit {done.returncode}): {_tail(done.stderr)}"
        )
    try:
        digest = results.check_digest(str(json.loads(done.stdout)["digest"]))
    except (ValueError, KeyError, TypeError) as error:
        raise results.ResultError(
            f"oras attach printed no digest ({error!r}): {_tail(done.stdout)}"
        ) from None
    return results.Artifact(digest=digest, media_type=media_type, subject=subject)


def base_leads(base: Mapping[str, Any], image: Mapping[str, Any]) -> bool:
    """Whether the image config `image` was built on the image config `base`.

    Kaniko's --reproducible rewrites every layer of the image with zeroed file
    times (go-containerregistry's mutate.Canonical, which Kaniko applies to the
    final stage), so the base's layer digests are not the image's first ones
    even when it is built on exactly that base. What survives is the config's
    history, whose entries Kaniko carries over from the base with only their
    times zeroed: the base's history (without times) must begin the image's,
    and the base's layers must be no more than the image's. Without
    --reproducible the first layers' diff_ids match, which is taken as is.
    """

    def layers(config: Mapping[str, Any]) -> list[str]:
        return [str(d) for d in (config.get("rootfs") or {}).get("diff_ids") or []]

    def history(config: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in entry.items() if k != "created"}
            for entry in config.get("history") or []
            if isinstance(entry, Mapping)
        ]

    base_layers, image_layers = layers(base), layers(image)
    if not base_layers or len(base_layers) > len(image_layers):
        return False
    if image_layers[: len(base_layers)] == base_layers:
        return True
    base_history = history(base)
    return bool(base_history) and history(image)[: len(base_history)] == base_history


def _image_config(oci_layout: Path) -> dict[str, Any]:
    _, manifest = layout_image(oci_layout)
    algorithm, _, hex_digest = str(manifest["config"]["digest"]).partition(":")
    config = json.loads((oci_layout / "blobs" / algorithm / hex_digest).read_bytes())
    if not isinstance(config, dict):
        raise results.ResultError(f"the image config in {oci_layout} is not an object")
    return config


def runtime_image(
    reference: str,
    images: Sequence[ImageLayout],
    chain: SupplyChain,
    insecure_registries: Sequence[str],
) -> tuple[str, str] | None:
    """The runtime base's digest (its index's, for several platforms) and its reference,
    or None when it cannot be told that every image is built on it.

    Resolved after the build (Kaniko does not report the digests it pulled): a
    tag moved since the build would name another base, which the history check
    (`base_leads`) catches where the history differs; such a base is left out
    rather than recorded wrong.
    """
    for image in images:
        _, found = resolve_digest(
            reference, image.platform, chain.registry_mirrors, chain.registry_maps,
            insecure_registries,
        )  # fmt: skip
        argv = [CRANE, "config", f"--platform={image.platform}",
                *_flags(found, insecure_registries), found]  # fmt: skip
        try:
            base = json.loads(_crane(argv))
        except (ValueError, results.ResultError):
            return None
        if not isinstance(base, Mapping) or not base_leads(base, _image_config(image.path)):
            return None
    platform = images[0].platform if len(images) == 1 else ""
    digest, _ = resolve_digest(
        reference, platform, chain.registry_mirrors, chain.registry_maps, insecure_registries
    )
    return reference, digest


def sbom_document(
    image: ImageLayout, repository: str, spec: Any, chain: SupplyChain
) -> dict[str, Any]:
    """The SPDX document of one image, from the Go binary its entrypoint names."""
    try:
        binary = image_files.read_file(image.path, image_files.entrypoint(image.path))
        info = buildinfo.read_build_info(binary.data)
        source = sbom.Source(spec.source.git.url, chain.commit) if chain.commit else None
        return sbom.spdx_document(
            info,
            sbom.Binary(binary.path, binary.data),
            repository=repository,
            digest=image.digest,
            created=SOURCE_DATE_EPOCH,
            tool_version=chain.operator_version,
            ldflags=spec.go.ldflags,
            source=source,
        )
    except (image_files.ImageFileError, buildinfo.BuildInfoError, sbom.SbomError) as error:
        raise results.ResultError(f"no SBOM of {repository}@{image.digest}: {error}") from None


def index_sbom(
    repository: str, index_digest: str, documents: Sequence[tuple[str, Mapping[str, Any]]]
) -> dict[str, Any]:
    """One SPDX document for an image index, from its platform images' documents.

    The index (purpose CONTAINER, checksum its digest) CONTAINS each platform's
    image, which keeps its own document's packages and relationships. A package
    that is the same in every platform's document (a dependency module at its
    version and go.sum hash, the Go standard library) is listed once and shared;
    one that differs (the image, the binary, the main module with its GOARCH)
    gets the platform's slug after its SPDX id.
    """
    hex_digest = results.check_digest(index_digest).removeprefix("sha256:")
    packages: list[dict[str, Any]] = [
        {
            "SPDXID": "SPDXRef-Image",
            "name": repository,
            "versionInfo": index_digest,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "primaryPackagePurpose": "CONTAINER",
            "checksums": [{"algorithm": "SHA256", "checksumValue": hex_digest}],
            "externalRefs": [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": sbom.oci_purl(repository, index_digest, None),
                }
            ],
            "comment": "The image index; its checksum is the index's digest. It contains one "
            "image per platform, each with its own Go binary.",
        }
    ]
    bodies: dict[str, dict[str, Any]] = {}
    relationships: list[dict[str, str]] = [
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": "SPDXRef-Image",
        }
    ]
    seen: set[tuple[str, str, str]] = set()
    for platform, document in documents:
        slug = platform.replace("/", "-")
        ids: dict[str, str] = {}
        for package in document["packages"]:
            old = str(package["SPDXID"])
            body = {k: v for k, v in package.items() if k != "SPDXID"}
            new = f"{old}-{slug}" if old == "SPDXRef-Image" else old
            if new in bodies and bodies[new] != body:
                new = f"{old}-{slug}"
            ids[old] = new
            if new not in bodies:
                bodies[new] = body
                packages.append({"SPDXID": new, **body})
        for relation in document["relationships"]:
            element, kind = str(relation["spdxElementId"]), str(relation["relationshipType"])
            related = str(relation["relatedSpdxElement"])
            key = (ids.get(element, element), kind, ids.get(related, related))
            if element == "SPDXRef-DOCUMENT":  # DESCRIBES the platform's image
                key = ("SPDXRef-Image", "CONTAINS", key[2])
            if key not in seen:
                seen.add(key)
                relationships.append(
                    {
                        "spdxElementId": key[0],
                        "relationshipType": kind,
                        "relatedSpdxElement": key[2],
                    }
                )
    first = documents[0][1]
    namespace = str(first["documentNamespace"]).rsplit("/", 1)[0]
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{repository}@{index_digest}",
        "documentNamespace": f"{namespace}/sha256-{hex_digest}",
        "creationInfo": {
            **first["creationInfo"],
            "comment": "From the Go build information of each platform image's binary.",
        },
        "packages": packages,
        "relationships": relationships,
    }


def provenance_statement(
    repository: str,
    digest: str,
    platform_digests: Sequence[str],
    spec: Any,
    chain: SupplyChain,
    builder_digest: str,
    runtime: tuple[str, str] | None,
    insecure_registries: Sequence[str],
) -> dict[str, Any]:
    """The SLSA provenance of repository@digest (and its platform images)."""
    settings = Settings(
        kaniko_image=chain.kaniko_image or Settings().kaniko_image,
        registry_mirrors=chain.registry_mirrors,
        registry_maps=chain.registry_maps,
        insecure_registries=tuple(insecure_registries),
    )
    git = spec.source.git
    try:
        statement = provenance.statement(
            repository=repository,
            digest=digest,
            namespace=chain.namespace,
            name=chain.name,
            build=chain.build,
            spec=chain.spec,
            source_url=git.url,
            # Without a pinned commit the statement is made with a stand-in, whose
            # source entry is then replaced by the URL and the revision alone.
            commit=chain.commit or "0" * 40,
            builder_image=provenance.Image(spec.builder_image, builder_digest),
            runtime_image=provenance.Image(*runtime) if runtime else None,
            operator_version=chain.operator_version,
            internal=provenance.internal_parameters(settings),
            platform_digests=platform_digests,
        )
    except provenance.ProvenanceError as error:
        raise results.ResultError(f"no provenance of {repository}@{digest}: {error}") from None
    if not chain.commit:
        dependencies = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        dependencies[0] = {
            "uri": f"git+{git.url}" + (f"@{git.revision}" if git.revision else ""),
            "annotations": {provenance.ROLE_ANNOTATION: "source"},
        }
    return statement


def attach_supply_chain(
    published: Published,
    images: Sequence[ImageLayout],
    subject: str,
    repository: str,
    insecure_registries: Sequence[str],
    chain: SupplyChain,
) -> Published:
    """Attach the SBOM and the provenance; `published` with their digests.

    One platform: the image's SBOM and provenance, both with the image as
    subject. Several: each platform image gets its own SBOM (what a scanner
    that resolved the index to its platform looks up), and the index gets one
    SBOM over all of them (`index_sbom`) and the provenance, whose subjects are
    the index and every platform image. status.sbom names the SBOM attached to
    status.digest: the image's, or the index's.
    """
    try:
        spec = specs.parse_spec(chain.spec)
    except specs.SpecError as error:
        raise results.ResultError(f"the build's spec does not parse: {error}") from None

    def put(
        target: str, media_type: str, data: bytes, file_name: str, what: str
    ) -> results.Artifact:
        return attach(
            target, repository, media_type, data, file_name, work=chain.work,
            insecure_registries=insecure_registries, registry_config=chain.registry_config,
            what=what,
        )  # fmt: skip

    documents = [
        (image.platform, sbom_document(image, repository, spec, chain)) for image in images
    ]
    platform_sboms: list[tuple[str, results.Artifact]] = []
    if len(images) == 1:
        document = documents[0][1]
    else:
        for image, (platform, doc) in zip(images, documents, strict=True):
            slug = platform.replace("/", "-")
            artifact = put(image.digest, sbom.MEDIA_TYPE, sbom.to_json(doc),
                           f"{slug}.{SBOM_FILE}", f"{platform} SBOM")  # fmt: skip
            platform_sboms.append((platform, artifact))
        document = index_sbom(repository, subject, documents)
    sbom_artifact = put(subject, sbom.MEDIA_TYPE, sbom.to_json(document), SBOM_FILE, "SBOM")

    builder_digest = chain.builder_digest
    if not builder_digest:
        # One platform: Kaniko pulled the builder for the node's platform, which is the
        # image's (a native build), and does not say which digest it got. Resolved here,
        # after the build, through the same mirrors and maps in Kaniko's order: the honest
        # best short of Kaniko reporting it; a tag moved in the minutes between would name
        # a newer builder.
        builder_digest, _ = resolve_digest(
            spec.builder_image, images[0].platform, chain.registry_mirrors,
            chain.registry_maps, insecure_registries,
        )  # fmt: skip
    runtime = None
    if spec.runtime.image != specs.SCRATCH:
        runtime = runtime_image(spec.runtime.image, images, chain, insecure_registries)
    statement = provenance_statement(
        repository,
        subject,
        [image.digest for image in images] if len(images) > 1 else (),
        spec,
        chain,
        builder_digest,
        runtime,
        insecure_registries,
    )
    provenance_artifact = put(
        subject, provenance.MEDIA_TYPE, provenance.to_json(statement), PROVENANCE_FILE,
        "provenance",
    )  # fmt: skip
    return replace(
        published,
        sbom=sbom_artifact,
        provenance=provenance_artifact,
        platform_sboms=tuple(platform_sboms),
    )
