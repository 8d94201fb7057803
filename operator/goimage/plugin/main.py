"""`kubectl gib`: the command line. kubectl finds the `kubectl-gib` executable on PATH and
hands it every argument after `gib`.

  kubectl gib logs NAME [-f] [--build N]
  kubectl gib rebuild NAME
  kubectl gib sbom NAME [-o table|json] [--insecure-registry HOST]...
  kubectl gib provenance NAME [-o table|json] [--insecure-registry HOST]...

with kubectl's --kubeconfig, --context and -n/--namespace anywhere on the line, and
errors as kubectl prints them (`error: ...` on stderr, exit code 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn, TextIO

from kubernetes.client.exceptions import ApiException

from goimage.core import naming
from goimage.plugin import builds, documents, kube, logs, registry
from goimage.plugin.kube import Cluster, UserError


class _Parser(argparse.ArgumentParser):
    """Usage errors as kubectl prints them: `error: ...`, a pointer to --help, exit code 1."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"error: {message}\nSee '{self.prog} --help' for usage.\n")


def _connection_flags(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """kubectl's flags; on subcommands their default is SUPPRESS, so a flag given before the
    subcommand is not reset by its absence after it."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--kubeconfig", default=default, help="path to the kubeconfig file")
    parser.add_argument("--context", default=default, help="the kubeconfig context to use")
    parser.add_argument(
        "-n", "--namespace", default=default, help="the namespace (default: the context's)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kubectl gib",
        description="Work with GoImageBuilds: build logs, rebuilds, SBOMs and provenance.",
    )
    _connection_flags(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_, description=help_)
        _connection_flags(sub, suppress=True)
        sub.add_argument("name", metavar="NAME", help="the GoImageBuild")
        return sub

    logs_ = command(
        "logs", "Print a build's log: the Kaniko step(s), publish, then report, in order."
    )
    logs_.add_argument(
        "-f", "--follow", action="store_true", help="stream the log while the build runs"
    )
    logs_.add_argument(
        "--build",
        metavar="N",
        help="a kept build: its build id (3, 3-1a2b3c) or generation; default: the current one",
    )
    command("rebuild", "Build the same spec again (sets the goimage.dev/rebuild annotation).")
    for name, what in (("sbom", "SBOM (SPDX 2.3)"), ("provenance", "SLSA provenance")):
        sub = command(name, f"Print the current build's {what}, read from the registry.")
        sub.add_argument("-o", "--output", choices=("table", "json"), default="table")
        sub.add_argument(
            "--insecure-registry",
            action="append",
            default=[],
            metavar="HOST[:PORT]",
            help="read this registry over plain HTTP (loopback registries always are)",
        )
    return parser


def rebuild_token(now: datetime) -> str:
    """A new rebuild annotation value: the time, to the microsecond, so each is new."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rebuild(cluster: Cluster, name: str, out: TextIO) -> None:
    patch = {
        "metadata": {"annotations": {naming.ANNOTATION_REBUILD: rebuild_token(datetime.now(UTC))}}
    }
    try:
        cluster.custom().patch_namespaced_custom_object(
            naming.GROUP, naming.VERSION, cluster.namespace, naming.PLURAL, name, patch
        )
    except ApiException as error:
        raise UserError(kube.api_message(error)) from None
    out.write(f"{naming.KIND.lower()}.{naming.GROUP}/{name} rebuild requested\n")


_ARTIFACTS = {
    "sbom": ("sbom", "SBOM", documents.SBOM_MEDIA_TYPE, documents.sbom_table),
    "provenance": (
        "provenance",
        "provenance",
        documents.PROVENANCE_MEDIA_TYPE,
        documents.provenance_table,
    ),
}


def artifact_reference(resource: Mapping[str, Any], field: str, what: str) -> tuple[str, str]:
    """(status.image, the artifact's digest) of the current build, or why there is none."""
    status = resource.get("status") or {}
    name = resource["metadata"]["name"]
    digest = (status.get(field) or {}).get("digest")
    image = status.get("image")
    if not digest or not image:
        raise UserError(
            f'goimagebuild "{name}" has no {what} yet (status.{field}.digest is not set);'
            f" status: {builds.status_summary(resource)}"
        )
    return str(image), str(digest)


def show_artifact(
    cluster: Cluster,
    name: str,
    kind: str,
    *,
    output: str,
    insecure: Sequence[str],
    environ: Mapping[str, str],
    out: TextIO,
) -> None:
    field, what, media_type, render = _ARTIFACTS[kind]
    resource = kube.get_build(cluster, name)
    image, digest = artifact_reference(resource, field, what)
    try:
        client = registry.client_for(image, insecure=insecure, environ=environ)
        body = registry.artifact_document(client, digest, media_type)
        document = documents.parse_document(body)
    except registry.RegistryError as error:
        raise UserError(f"{what} of {image}: {error}") from None
    except ValueError as error:
        raise UserError(f"{what} {digest} is not a JSON document: {error}") from None
    if output == "json":
        out.write(json.dumps(document, indent=2) + "\n")
    else:
        out.write(render(document))


def dispatch(args: argparse.Namespace, connect: Callable[[], Cluster], out: TextIO) -> None:
    cluster = connect()
    if args.command == "logs":
        logs.run(cluster, args.name, args.build, follow=args.follow, out=out)
    elif args.command == "rebuild":
        rebuild(cluster, args.name, out)
    else:
        show_artifact(
            cluster,
            args.name,
            args.command,
            output=args.output,
            insecure=args.insecure_registry,
            environ=os.environ,
            out=out,
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        dispatch(
            args,
            lambda: kube.connect(args.kubeconfig, args.context, args.namespace),
            sys.stdout,
        )
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ApiException as error:
        print(f"error: {kube.api_message(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as error:  # the API server unreachable, a closed pipe
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
