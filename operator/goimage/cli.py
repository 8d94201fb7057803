"""`goimage-operator`: run the operator, or a build pod's step (report, publish, ...)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from goimage.core import results

if TYPE_CHECKING:
    from goimage import publisher as publisher_types


def _platform_layout(value: str) -> tuple[str, Path]:
    """--platform linux/arm64=/goimage/out/linux-arm64/oci"""
    platform, sep, path = value.partition("=")
    if not sep or not platform or not path:
        raise argparse.ArgumentTypeError(f"{value!r} is not PLATFORM=OCI_LAYOUT")
    return platform, Path(path)


def _report(args: argparse.Namespace) -> int:
    from goimage import reporter

    try:
        message = reporter.report(
            oci_layout=Path(args.oci_layout) if args.oci_layout else None,
            digest_file=Path(args.digest_file) if args.digest_file else None,
            platform_layouts=args.platform,
            published_file=Path(args.published) if args.published else None,
            image=args.image,
            termination_log=Path(args.termination_log),
        )
    except results.ResultError as error:
        print(f"report: {error}", file=sys.stderr)
        return 1
    print(message)
    return 0


def _supply_chain(args: argparse.Namespace) -> publisher_types.SupplyChain | None:
    """The SBOM's and provenance's inputs from publish's flags (None: no --spec given)."""
    import json
    import os
    from importlib.metadata import version

    from goimage import publisher

    if not args.spec:
        return None
    namespace, name, build = [*args.build.split("/", 2), "", ""][:3]
    try:
        spec = json.loads(Path(args.spec).read_text())
        pinned = Path(args.builder_digest_file).read_text() if args.builder_digest_file else ""
    except (OSError, ValueError) as error:
        raise results.ResultError(f"publish's inputs: {error}") from None
    builder_digest = results.check_digest(pinned) if pinned else ""
    config = Path(os.environ.get("DOCKER_CONFIG", "/nonexistent")) / "config.json"
    work = Path(args.artifacts_dir)
    work.mkdir(parents=True, exist_ok=True)
    return publisher.SupplyChain(
        spec=spec,
        namespace=namespace,
        name=name,
        build=build,
        operator_version=version("goimage-operator"),
        commit=args.commit,
        builder_digest=builder_digest,
        kaniko_image=args.kaniko_image,
        registry_mirrors=tuple(args.registry_mirror),
        registry_maps=tuple(args.registry_map),
        work=work,
        registry_config=config if config.is_file() else None,
    )


def _publish(args: argparse.Namespace) -> int:
    from goimage import publisher

    try:
        published = publisher.publish(
            layouts=[publisher.PlatformLayout(p, path) for p, path in args.platform],
            oci_layout=Path(args.oci_layout) if args.oci_layout else None,
            digest_file=Path(args.digest_file) if args.digest_file else None,
            repository=args.image,
            tags=args.tag,
            insecure_registries=args.insecure_registry,
            out=Path(args.out),
            supply_chain=_supply_chain(args),
        )
    except results.ResultError as error:
        print(f"publish: {error}", file=sys.stderr)
        return 1
    print(published.to_json())
    return 0


def _pin_builder(args: argparse.Namespace) -> int:
    import platform

    from goimage import publisher

    try:
        node = args.platform or publisher.node_platform(platform.machine())
        digest = publisher.pin_builder(
            dockerfile=Path(args.dockerfile),
            out=Path(args.out),
            image=args.image,
            platform=node,
            mirrors=args.registry_mirror,
            registry_maps=args.registry_map,
            insecure_registries=args.insecure_registry,
            digest_out=Path(args.digest_out) if args.digest_out else None,
        )
    except results.ResultError as error:
        print(f"pin-builder: {error}", file=sys.stderr)
        return 1
    print(f"{args.image} for {node}: {digest}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from goimage import runner

    return runner.run(
        namespaces=args.namespace,
        liveness=args.liveness,
        metrics_port=args.metrics_port,
        log_format=args.log_format,
        log_level="debug" if args.verbose else args.log_level,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="goimage-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator (settings from GOIMAGE_* env vars)")
    run.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        help="watch this namespace (repeat for more); default: all namespaces",
    )
    run.add_argument(
        "--liveness", default="", help="liveness endpoint, e.g. http://0.0.0.0:8081/healthz"
    )
    run.add_argument(
        "--metrics-port", type=int, default=0, help="serve Prometheus /metrics here (0: off)"
    )
    run.add_argument("--log-format", choices=("text", "json"), default="text")
    run.add_argument("--log-level", choices=("debug", "info", "warning"), default="info")
    run.add_argument("--verbose", action="store_true", help="the same as --log-level debug")
    run.set_defaults(handler=_run)

    report = commands.add_parser("report", help="the build pod's step that reports digest and size")
    report.add_argument("--oci-layout", help="one platform: Kaniko's OCI layout")
    report.add_argument("--digest-file", help="one platform: Kaniko's digest file")
    report.add_argument(
        "--platform",
        action="append",
        default=[],
        type=_platform_layout,
        help="several platforms: PLATFORM=OCI_LAYOUT (repeat), with --published",
    )
    report.add_argument("--published", help="several platforms: the file publish wrote")
    report.add_argument("--image", required=True, help="the pushed repository")
    report.add_argument("--termination-log", default=str(Path("/dev/termination-log")))
    report.set_defaults(handler=_report)

    publish = commands.add_parser(
        "publish",
        help="the build pod's step that pushes the platform images and the index (several "
        "platforms) and attaches the SBOM and the provenance (every build)",
    )
    publish.add_argument(
        "--platform",
        action="append",
        default=[],
        type=_platform_layout,
        help="several platforms: PLATFORM=OCI_LAYOUT, one per platform, in the index's order",
    )
    publish.add_argument("--oci-layout", help="one platform: Kaniko's OCI layout")
    publish.add_argument("--digest-file", help="one platform: Kaniko's digest file")
    publish.add_argument("--image", required=True, help="the repository to push to")
    publish.add_argument("--tag", action="append", default=[], help="several platforms: a tag")
    publish.add_argument(
        "--insecure-registry", action="append", default=[], help="plain-HTTP registry (repeat)"
    )
    publish.add_argument("--registry-mirror", action="append", default=[], help="as Kaniko's")
    publish.add_argument("--registry-map", action="append", default=[], help="as Kaniko's")
    publish.add_argument("--spec", default="", help="the GoImageBuild's spec (JSON file)")
    publish.add_argument("--build", default="", help="NAMESPACE/NAME/BUILD_ID")
    publish.add_argument("--commit", default="", help="the full commit built (if pinned)")
    publish.add_argument("--builder-digest-file", default="", help="what pin-builder pinned")
    publish.add_argument("--kaniko-image", default="", help="the Kaniko image that built")
    publish.add_argument(
        "--artifacts-dir", default="artifacts", help="where to write the documents"
    )
    publish.add_argument("--out", required=True, help="where to write what was pushed (JSON)")
    publish.set_defaults(handler=_publish)

    pin = commands.add_parser(
        "pin-builder",
        help="the multi-platform build pod's step: the builder image for the node's platform",
    )
    pin.add_argument("--dockerfile", required=True, help="the rendered Dockerfile")
    pin.add_argument("--out", required=True, help="where to write the pinned Dockerfile")
    pin.add_argument("--digest-out", default="", help="where to write the pinned digest")
    pin.add_argument("--image", required=True, help="the builder image the Dockerfile names")
    pin.add_argument("--platform", default="", help="default: this machine's (uname -m)")
    pin.add_argument("--registry-mirror", action="append", default=[], help="as Kaniko's")
    pin.add_argument("--registry-map", action="append", default=[], help="as Kaniko's")
    pin.add_argument("--insecure-registry", action="append", default=[], help="plain HTTP")
    pin.set_defaults(handler=_pin_builder)

    resolve = commands.add_parser(
        "resolve", help="a resolve pod's step: the commit a git revision names, as its result"
    )
    resolve.add_argument("--url", required=True, help="the repository's http(s) URL")
    resolve.add_argument("--revision", default="", help="branch, tag, full ref or commit")
    resolve.add_argument("--timeout", type=float, default=30.0, help="seconds per git request")
    resolve.add_argument("--termination-log", default=str(Path("/dev/termination-log")))

    def _resolve(args: argparse.Namespace) -> int:
        from goimage import resolver

        code, message = resolver.resolve_step(
            url=args.url,
            revision=args.revision,
            timeout_s=args.timeout,
            termination_log=Path(args.termination_log),
        )
        print(message, file=sys.stderr if code else sys.stdout)
        return code

    resolve.set_defaults(handler=_resolve)

    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
