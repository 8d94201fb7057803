"""The only module that talks to the API server (besides kopf's own watching).

Small, synchronous calls on the official client: kopf runs our handlers in
its thread pool, so none of them blocks the event loop.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from goimage.core import naming

_CONFLICT = 409
_NOT_FOUND = 404
_FORBIDDEN = 403
# Refusals of the object itself: a retry would be refused again.
_REFUSED = (400, 422)
# A build's log is read for the tail of a failure only: never more than this.
LOG_LIMIT_BYTES = 64 * 1024


class Refused(Exception):
    """The API server refused an object as invalid (HTTP 400 or 422); its words say why."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"the API server refused the build's {kind}: {message}")
        self.message = message


class QuotaExceeded(Exception):
    """A ResourceQuota of the namespace refused the object (HTTP 403, "exceeded quota").

    Not the object's fault: the same create succeeds once the quota allows it.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


def _quota_refusal(error: ApiException) -> str:
    """The API server's words when a ResourceQuota refused a create; empty otherwise."""
    if error.status != _FORBIDDEN:
        return ""
    message = _api_message(error)
    # "status unknown for quota": a quota just made, not counted yet; it passes in a moment.
    quota = ("exceeded quota", "status unknown for quota")
    return message if any(words in message for words in quota) else ""


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
    """The namespace is being deleted, or is gone: nothing more can be created in it, and
    that is fine (an event of a resource in it may still be on its way to us)."""
    body = str(error.body or "")
    if error.status == _FORBIDDEN:
        return "NamespaceTerminating" in body
    try:
        details = json.loads(body).get("details") or {}
    except ValueError:
        return False
    return error.status == _NOT_FOUND and details.get("kind") == "namespaces"


def _api_message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except ValueError:
        return str(error.body or error.reason)


def _create(call: Callable[..., Any], namespace: str, body: Mapping[str, Any]) -> bool:
    """Create `body`; False if it already exists (a restart, or another event got there first).

    Raises Refused when the API server finds the object itself invalid, QuotaExceeded when
    a ResourceQuota refuses it.
    """
    try:
        call(namespace=namespace, body=body)
    except ApiException as error:
        if error.status == _CONFLICT:
            return False
        quota = _quota_refusal(error)
        if quota:
            raise QuotaExceeded(str(body.get("kind", "object")), quota) from None
        if error.status in _REFUSED:
            raise Refused(str(body.get("kind", "object")), _api_message(error)) from None
        raise
    return True


def create_configmap(body: Mapping[str, Any]) -> str | None:
    """Create the ConfigMap; its uid, or None if it existed already (its uid unknown: the
    operator may not read ConfigMaps)."""
    namespace = body["metadata"]["namespace"]
    created: list[Any] = []

    create: Callable[..., Any] = core().create_namespaced_config_map

    def call(*, namespace: str, body: Mapping[str, Any]) -> None:
        created.append(create(namespace=namespace, body=body))

    if not _create(call, namespace, body):
        return None
    return str(created[0].metadata.uid)


def create_job(body: Mapping[str, Any]) -> bool:
    return _create(batch().create_namespaced_job, body["metadata"]["namespace"], body)


def _owned_by(obj: Any, owner_uid: str) -> bool:
    references = obj.metadata.owner_references or []
    return any(ref.controller and ref.uid == owner_uid for ref in references)


def delete_build_objects(
    namespace: str, name: str, *, owner_uid: str, configmap: bool = True
) -> None:
    """Delete a build's Job (its pods go with it) and its ConfigMap, if `owner_uid` owns them.

    The Job is read first and deleted with its uid as a precondition: a Job of the
    same name that the GoImageBuild does not control (a user's own, or one made
    again meanwhile) is left alone. The ConfigMap is never read (the operator may
    not read ConfigMaps): it is deleted with the uid its Job recorded when both
    were made (annotation goimage.dev/configmap-uid) as the precondition. A Job
    without that record (its ConfigMap existed already) leaves its ConfigMap to
    the garbage collector, with the GoImageBuild. Gone already is fine.
    """
    try:
        job: Any = batch().read_namespaced_job(name, namespace)
    except ApiException as error:
        if error.status == _NOT_FOUND:
            return
        raise
    if not _owned_by(job, owner_uid):
        return
    _delete_with_uid(
        lambda options: batch().delete_namespaced_job(
            name, namespace, propagation_policy="Background", body=options
        ),
        job.metadata.uid,
    )
    configmap_uid = (job.metadata.annotations or {}).get(naming.ANNOTATION_CONFIGMAP_UID)
    if configmap and configmap_uid:
        _delete_with_uid(
            lambda options: core().delete_namespaced_config_map(name, namespace, body=options),
            configmap_uid,
        )


def _delete_with_uid(delete: Callable[[Any], Any], uid: str) -> None:
    try:
        delete(client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid)))
    except ApiException as error:
        if error.status not in (_NOT_FOUND, _CONFLICT):
            raise


def list_build_jobs(namespace: str) -> list[dict[str, Any]]:
    """The namespace's build Jobs (ours, by label), read from the API server.

    The queue counts running builds from this consistent read rather than from
    the watch-fed index, which trails the Jobs this process just created. A
    resolve Job (component `resolve`) is no build, and holds no slot.
    """
    selector = (
        f"{naming.LABEL_MANAGED_BY}={naming.MANAGED_BY},"
        f"{naming.LABEL_COMPONENT}={naming.COMPONENT_BUILD}"
    )
    jobs = batch().list_namespaced_job(namespace, label_selector=selector)
    client_ = _api_client()
    # The client's models, turned into the API's JSON shape that the core reads.
    return [client_.sanitize_for_serialization(job) for job in jobs.items]  # type: ignore[no-untyped-call]  # client lacks hints


def get_build(namespace: str, name: str) -> dict[str, Any] | None:
    """A GoImageBuild as the API server has it now; None if it is gone."""
    try:
        body = custom().get_namespaced_custom_object(
            naming.GROUP, naming.VERSION, namespace, naming.PLURAL, name
        )
    except ApiException as error:
        if error.status != _NOT_FOUND:
            raise
        return None
    return dict(body)  # type: ignore[call-overload,no-any-return]  # the client is untyped


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
    """The last `lines` of a container's log, at most LOG_LIMIT_BYTES; empty if the pod is gone."""
    try:
        return str(
            core().read_namespaced_pod_log(
                pod, namespace, container=container, tail_lines=lines, limit_bytes=LOG_LIMIT_BYTES
            )
        )
    except ApiException as error:
        if error.status != _NOT_FOUND:
            raise
        return ""


def pod_refusal(namespace: str, job_uid: str) -> str:
    """Why the Job controller cannot make the Job's pod, when a ResourceQuota refuses it:
    the API server's words from the newest FailedCreate Event of the Job; empty otherwise.

    Empty too when the operator may not list Events (an older chart's RBAC):
    the status then keeps saying that it waits for the build pod.
    """
    try:
        events = core().list_namespaced_event(
            namespace, field_selector=f"involvedObject.uid={job_uid},reason=FailedCreate"
        )
    except ApiException as error:
        if error.status in (_FORBIDDEN, _NOT_FOUND):
            return ""
        raise

    def when(event: Any) -> str:
        return str(event.last_timestamp or event.event_time or event.metadata.creation_timestamp)

    newest = max(events.items, key=when, default=None)
    message = str(getattr(newest, "message", "") or "")
    if "exceeded quota" not in message:
        return ""
    return message.removeprefix("Error creating: ")


def delete_finished_pod(namespace: str, name: str, *, uid: str, resource_version: str) -> bool:
    """Delete a finished build pod as it was when judged finished and ours (its `uid` and
    `resource_version` as preconditions); True if deleted.

    Not read first: a pod that changed since (made again under the same name, or
    changed at all) is refused by the API server (409), left alone, and judged
    again on its next event. Gone already is fine.
    """
    preconditions = client.V1Preconditions(uid=uid, resource_version=resource_version)
    try:
        core().delete_namespaced_pod(
            name, namespace, body=client.V1DeleteOptions(preconditions=preconditions)
        )
    except ApiException as error:
        if error.status in (_NOT_FOUND, _CONFLICT):
            return False
        raise
    return True


def post_event(body: Mapping[str, Any]) -> None:
    """Create a core/v1 Event (`core.events.event_body`)."""
    create: Callable[..., Any] = core().create_namespaced_event
    create(body["metadata"]["namespace"], body)
