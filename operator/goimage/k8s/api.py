"""The only module that talks to the API server (besides kopf's own watching).

Small, synchronous calls through the official client's `ApiClient` (its
kubeconfig and in-cluster login, TLS, connection pool and `ApiException`s):
kopf runs our handlers in its thread pool, so none of them blocks the event
loop. The requests are the API's own paths with JSON in and out, not the
client's generated API classes: importing those (CoreV1Api alone has 400
validated methods) cost the operator 23 MiB of memory and its first build 0.8 s,
for the dozen calls below, whose answers the operator reads as JSON anyway.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

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


JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"


def _request(
    method: str,
    path: str,
    *,
    query: Mapping[str, str | int] | None = None,
    body: Mapping[str, Any] | None = None,
    content_type: str = JSON,
    accept: str = JSON,
) -> bytes:
    """`method` on the API server's `path` (its parts already quoted); the answer's bytes.
    Raises ApiException (its subclass by status) unless the answer is 2xx."""
    api_client = _api_client()
    headers = {"Accept": accept} | ({"Content-Type": content_type} if body is not None else {})
    method, url, headers, payload, _ = api_client.param_serialize(
        method,
        path,
        query_params=list((query or {}).items()) or None,
        header_params=headers,
        body=dict(body) if body is not None else None,
        auth_settings=["BearerToken"],
    )
    response = api_client.call_api(method, url, header_params=headers, body=payload)
    data = response.read()  # type: ignore[no-untyped-call]  # the client lacks hints
    if not 200 <= response.status <= 299:
        text = data.decode("utf-8", errors="replace") if data else None
        raise ApiException.from_response(http_resp=response, body=text, data=None)
    return bytes(data or b"")


def _json(method: str, path: str, **kwargs: Any) -> Any:
    return json.loads(_request(method, path, **kwargs) or b"null")


def _path(*parts: str) -> str:
    """An API path from its parts, each quoted: `_path("api", "v1", "namespaces", ns)`."""
    return "/" + "/".join(quote(part, safe="") for part in parts)


def _core(namespace: str, plural: str, *name: str) -> str:
    return _path("api", "v1", "namespaces", namespace, plural, *name)


def _batch(namespace: str, plural: str, *name: str) -> str:
    return _path("apis", "batch", "v1", "namespaces", namespace, plural, *name)


def _builds(namespace: str, *name: str) -> str:
    group_version = ("apis", naming.GROUP, naming.VERSION)
    return _path(*group_version, "namespaces", namespace, naming.PLURAL, *name)


def _preconditions(**preconditions: str) -> dict[str, Any]:
    """DeleteOptions that refuse (409) unless the object still has these (uid, ...)."""
    return {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": preconditions}


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

    def call(*, namespace: str, body: Mapping[str, Any]) -> None:
        created.append(_json("POST", _core(namespace, "configmaps"), body=body))

    if not _create(call, namespace, body):
        return None
    return str(created[0]["metadata"]["uid"])


def create_job(body: Mapping[str, Any]) -> bool:
    def call(*, namespace: str, body: Mapping[str, Any]) -> None:
        _request("POST", _batch(namespace, "jobs"), body=body)

    return _create(call, body["metadata"]["namespace"], body)


def _owned_by(obj: Mapping[str, Any], owner_uid: str) -> bool:
    references = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("controller") and ref.get("uid") == owner_uid for ref in references)


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
        job: dict[str, Any] = _json("GET", _batch(namespace, "jobs", name))
    except ApiException as error:
        if error.status == _NOT_FOUND:
            return
        raise
    if not _owned_by(job, owner_uid):
        return
    metadata = job.get("metadata") or {}
    _delete_with_uid(_batch(namespace, "jobs", name), metadata["uid"], background=True)
    configmap_uid = (metadata.get("annotations") or {}).get(naming.ANNOTATION_CONFIGMAP_UID)
    if configmap and configmap_uid:
        _delete_with_uid(_core(namespace, "configmaps", name), configmap_uid)


def _delete_with_uid(path: str, uid: str, *, background: bool = False) -> None:
    query = {"propagationPolicy": "Background"} if background else None
    try:
        _request("DELETE", path, query=query, body=_preconditions(uid=uid))
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
    jobs = _json("GET", _batch(namespace, "jobs"), query={"labelSelector": selector})
    return list(jobs.get("items") or [])


def get_build(namespace: str, name: str) -> dict[str, Any] | None:
    """A GoImageBuild as the API server has it now; None if it is gone."""
    try:
        return dict(_json("GET", _builds(namespace, name)))
    except ApiException as error:
        if error.status != _NOT_FOUND:
            raise
        return None


def patch_build_status(namespace: str, name: str, patch: Mapping[str, Any]) -> None:
    """Merge-patch the GoImageBuild's status subresource; a deleted resource is fine."""
    try:
        _request(
            "PATCH",
            _builds(namespace, name, "status"),
            body={"status": dict(patch)},
            content_type=MERGE_PATCH,
        )
    except ApiException as error:
        if error.status != _NOT_FOUND:
            raise


def read_log(namespace: str, pod: str, container: str, *, lines: int) -> str:
    """The last `lines` of a container's log, at most LOG_LIMIT_BYTES; empty if the pod is gone."""
    try:
        query: dict[str, str | int] = {
            "container": container, "tailLines": lines, "limitBytes": LOG_LIMIT_BYTES
        }  # fmt: skip
        log = _request("GET", _core(namespace, "pods", pod, "log"), query=query, accept="*/*")
        return log.decode("utf-8", errors="replace")
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
        selector = f"involvedObject.uid={job_uid},reason=FailedCreate"
        events = _json("GET", _core(namespace, "events"), query={"fieldSelector": selector})
    except ApiException as error:
        if error.status in (_FORBIDDEN, _NOT_FOUND):
            return ""
        raise

    def when(event: Mapping[str, Any]) -> str:
        created = (event.get("metadata") or {}).get("creationTimestamp")
        return str(event.get("lastTimestamp") or event.get("eventTime") or created or "")

    newest = max(events.get("items") or [], key=when, default=None) or {}
    message = str(newest.get("message") or "")
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
    options = _preconditions(uid=uid, resourceVersion=resource_version)
    try:
        _request("DELETE", _core(namespace, "pods", name), body=options)
    except ApiException as error:
        if error.status in (_NOT_FOUND, _CONFLICT):
            return False
        raise
    return True


def post_event(body: Mapping[str, Any]) -> None:
    """Create a core/v1 Event (`core.events.event_body`)."""
    _request("POST", _core(body["metadata"]["namespace"], "events"), body=body)


def cluster_object_exists(group: str, version: str, plural: str, name: str) -> bool:
    """Whether the cluster-scoped object exists (a 404 is False; other errors raise)."""
    try:
        _request("GET", _path("apis", group, version, plural, name))
    except ApiException as error:
        if error.status == _NOT_FOUND:
            return False
        raise
    return True
