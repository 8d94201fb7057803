"""The only module that talks to the API server (besides kopf's own watching).

Small, synchronous calls on the official client: kopf runs our handlers in
its thread pool, so none of them blocks the event loop.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from goimage.core import naming

_CONFLICT = 409
_NOT_FOUND = 404
_FORBIDDEN = 403

# kopf runs our synchronous handlers on this many threads (handlers/startup.py).
HANDLER_THREADS = 20


@functools.cache
def _api_client() -> client.ApiClient:
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]  # client lacks hints
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]  # client lacks hints
    configuration = client.Configuration.get_default_copy()
    # A kept-alive connection for every handler thread: with the client's default
    # pool (5 per CPU) the threads beyond it opened a TLS connection per request
    # and threw it away ("Connection pool is full, discarding connection").
    configuration.connection_pool_maxsize = HANDLER_THREADS
    return client.ApiClient(configuration)


def core() -> client.CoreV1Api:
    return client.CoreV1Api(_api_client())


def batch() -> client.BatchV1Api:
    return client.BatchV1Api(_api_client())


def custom() -> client.CustomObjectsApi:
    return client.CustomObjectsApi(_api_client())


def namespace_terminating(error: ApiException) -> bool:
    """The namespace is being deleted: nothing more can be created in it, and that is fine."""
    return error.status == _FORBIDDEN and "NamespaceTerminating" in str(error.body or "")


def _create(call: Callable[..., Any], namespace: str, body: Mapping[str, Any]) -> bool:
    """Create `body`; False if it already exists (a restart, or another event got there first)."""
    try:
        call(namespace=namespace, body=body)
    except ApiException as error:
        if error.status == _CONFLICT:
            return False
        raise
    return True


def create_configmap(body: Mapping[str, Any]) -> bool:
    return _create(core().create_namespaced_config_map, body["metadata"]["namespace"], body)


def create_job(body: Mapping[str, Any]) -> bool:
    return _create(batch().create_namespaced_job, body["metadata"]["namespace"], body)


def delete_build_objects(namespace: str, name: str) -> None:
    """Delete a build's Job (its pods go with it) and its ConfigMap; gone already is fine."""
    calls: tuple[Callable[[], Any], ...] = (
        lambda: batch().delete_namespaced_job(name, namespace, propagation_policy="Background"),
        lambda: core().delete_namespaced_config_map(name, namespace),
    )
    for call in calls:
        try:
            call()
        except ApiException as error:
            if error.status != _NOT_FOUND:
                raise


def patch_build_status(namespace: str, name: str, patch: Mapping[str, Any]) -> None:
    """Merge-patch the GoImageBuild's status subresource; a deleted resource is fine."""
    try:
        custom().patch_namespaced_custom_object_status(
            naming.GROUP, naming.VERSION, namespace, naming.PLURAL, name, {"status": dict(patch)}
        )
    except ApiException as error:
        if error.status != _NOT_FOUND:
            raise


def read_log(namespace: str, pod: str, container: str, *, lines: int) -> str:
    """The last `lines` of a container's log; empty if the pod is gone."""
    try:
        return str(
            core().read_namespaced_pod_log(pod, namespace, container=container, tail_lines=lines)
        )
    except ApiException as error:
        if error.status != _NOT_FOUND:
            raise
        return ""
