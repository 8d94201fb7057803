"""The API server as `kubectl gib` reaches it: the kubeconfig, context and namespace chosen
as kubectl chooses them, and the API's errors in kubectl's words."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from goimage.core import naming

_IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
RESOURCE = f"{naming.PLURAL}.{naming.GROUP}"


class UserError(Exception):
    """Something `kubectl gib` reports as `error: <message>` and exit code 1."""


@dataclass(frozen=True)
class Cluster:
    api: client.ApiClient
    namespace: str

    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api)

    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def plain(self, obj: Any) -> Any:
        """A client model as the API's JSON shape (camelCase keys), as the core reads it."""
        return self.api.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]  # client lacks hints


def _context_namespace(kubeconfig: str | None, context: str | None) -> str:
    contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]  # client lacks hints
    chosen = next((c for c in contexts if c["name"] == context), None) if context else active
    return str(((chosen or {}).get("context") or {}).get("namespace") or "default")


def connect(kubeconfig: str | None, context: str | None, namespace: str | None) -> Cluster:
    """An API client for the kubeconfig and context kubectl would use, and the namespace:
    the flag's, else the context's, else `default`. In a pod without a kubeconfig, the pod's."""
    try:
        api = config.new_client_from_config(config_file=kubeconfig, context=context)  # type: ignore[no-untyped-call]  # client lacks hints
        default = _context_namespace(kubeconfig, context)
    except config.ConfigException as error:
        if kubeconfig or context or not _IN_CLUSTER_NAMESPACE.exists():
            raise UserError(_config_message(str(error), context)) from None
        config.load_incluster_config()  # type: ignore[no-untyped-call]  # client lacks hints
        api = client.ApiClient()
        default = _IN_CLUSTER_NAMESPACE.read_text().strip()
    return Cluster(api=api, namespace=namespace or default)


def _config_message(error: str, context: str | None) -> str:
    if context and "context" in error.lower():
        return f'context "{context}" does not exist'
    return error.removeprefix("Invalid kube-config file. ")


def api_message(error: ApiException) -> str:
    """The API server's own words for an error (`goimagebuilds.goimage.dev "x" not found`)."""
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except ValueError:
        return str(error.body or error.reason)


def get_build(cluster: Cluster, name: str) -> dict[str, Any]:
    """The GoImageBuild; a missing one is the API server's NotFound, as kubectl says it."""
    try:
        body = cluster.custom().get_namespaced_custom_object(
            naming.GROUP, naming.VERSION, cluster.namespace, naming.PLURAL, name
        )
    except ApiException as error:
        raise UserError(api_message(error)) from None
    return dict(body)  # type: ignore[call-overload,no-any-return]  # the client is untyped


def list_jobs(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    # Build Jobs only: a resolve Job (a private repository's commit) has no log to show.
    selector = f"{naming.owner_selector(name)},{naming.LABEL_COMPONENT}={naming.COMPONENT_BUILD}"
    jobs = cluster.batch().list_namespaced_job(cluster.namespace, label_selector=selector)
    return [cluster.plain(job) for job in jobs.items]


def list_pods(cluster: Cluster, name: str, build: str) -> list[dict[str, Any]]:
    selector = f"{naming.owner_selector(name)},{naming.LABEL_BUILD_ID}={build}"
    pods = cluster.core().list_namespaced_pod(cluster.namespace, label_selector=selector)
    return [cluster.plain(pod) for pod in pods.items]


def read_pod(cluster: Cluster, pod: str) -> dict[str, Any] | None:
    try:
        return dict(cluster.plain(cluster.core().read_namespaced_pod(pod, cluster.namespace)))
    except ApiException as error:
        if error.status == 404:
            return None
        raise
