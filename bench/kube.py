"""A thin, counting client for the benchmarks, on the official client's ApiClient.

Requests go out as JSON and come back as bytes (``_preload_content=False``):
the benchmark client must cost the machine as little as possible, since it
shares two cores with the API server and the operator. Every request is
counted by (verb, resource, subresource), the labels the API server's
``apiserver_request_total`` uses, so the benchmark can subtract its own
requests from what the API server counted.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import urllib3
from kubernetes import client, config

# (verb, resource, subresource), as apiserver_request_total labels them: the HTTP
# verb (POST, PUT, PATCH, DELETE) for writes, GET, LIST and WATCH for reads.
RequestKey = tuple[str, str, str]

CORE = "/api/v1"
BATCH = "/apis/batch/v1"
GIB = "/apis/goimage.dev/v1alpha1"

_ERROR = 400
_NOT_FOUND = 404


class KubeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


def _timeout(value: float | tuple[float, float]) -> urllib3.Timeout:
    if isinstance(value, tuple):
        return urllib3.Timeout(connect=value[0], read=value[1])
    return urllib3.Timeout(total=value)


def _resource_path(prefix: str, namespace: str, plural: str) -> str:
    return f"{prefix}/namespaces/{namespace}/{plural}"


class Kube:
    """One connection pool to the API server, used by many threads at once."""

    def __init__(self, kubeconfig: Path, *, pool: int = 64) -> None:
        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]  # client lacks hints
            config_file=str(kubeconfig), client_configuration=configuration
        )
        configuration.connection_pool_maxsize = pool
        self.host: str = configuration.host
        self.api = client.ApiClient(configuration)
        self.sent: Counter[RequestKey] = Counter()
        self._lock = threading.Lock()

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]  # client lacks hints

    def _count(self, verb: str, resource: str, subresource: str = "") -> None:
        with self._lock:
            self.sent[(verb, resource, subresource)] += 1

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
        count: RequestKey | None,
        timeout: float | tuple[float, float] = 60,
        stream: bool = False,
    ) -> Any:
        """One request; the urllib3 response when `stream`, else the decoded JSON body."""
        if count is not None:
            self._count(*count)
        url = self.host + path + (f"?{urlencode(query)}" if query else "")
        response = self.api.rest_client.pool_manager.request(
            method,
            url,
            body=None if body is None else json.dumps(body),
            headers={"Content-Type": content_type, "Accept": "application/json"},
            timeout=_timeout(timeout),
            preload_content=False,
        )
        if response.status >= _ERROR:
            data = response.data
            response.release_conn()
            raise KubeError(response.status, f"{method} {path}: {data.decode(errors='replace')}")
        if stream:
            return response
        data = response.data
        response.release_conn()
        return json.loads(data) if data else None

    # --- the objects the benchmarks write ------------------------------------------------

    def create(self, prefix: str, plural: str, body: Mapping[str, Any]) -> dict[str, Any]:
        namespace = body["metadata"]["namespace"]
        path = _resource_path(prefix, namespace, plural)
        result: dict[str, Any] = self.request("POST", path, body=body, count=("POST", plural, ""))
        return result

    def create_namespace(self, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        self.request("POST", f"{CORE}/namespaces", body=body, count=("POST", "namespaces", ""))

    def delete_namespace(self, name: str) -> None:
        try:
            self.request("DELETE", f"{CORE}/namespaces/{name}", count=("DELETE", "namespaces", ""))
        except KubeError as error:
            if error.status != _NOT_FOUND:
                raise

    def namespace_exists(self, name: str) -> bool:
        try:
            self.request("GET", f"{CORE}/namespaces/{name}", count=("GET", "namespaces", ""))
        except KubeError as error:
            if error.status == _NOT_FOUND:
                return False
            raise
        return True

    def patch_status(
        self, prefix: str, namespace: str, plural: str, name: str, status: Mapping[str, Any]
    ) -> None:
        path = f"{_resource_path(prefix, namespace, plural)}/{name}/status"
        self.request(
            "PATCH",
            path,
            body={"status": dict(status)},
            content_type="application/merge-patch+json",
            count=("PATCH", plural, "status"),
        )

    def list(
        self, prefix: str, plural: str, namespace: str | None = None, *, limit: int = 0
    ) -> dict[str, Any]:
        path = _resource_path(prefix, namespace, plural) if namespace else f"{prefix}/{plural}"
        query = [("limit", str(limit))] if limit else []
        result: dict[str, Any] = self.request("GET", path, query=query, count=("LIST", plural, ""))
        return result

    def get_text(self, path: str) -> str:
        """A non-resource path (``/metrics``), with the kubeconfig's client certificate."""
        # Not counted: the API server leaves /metrics out of apiserver_request_total.
        response = self.request("GET", path, count=None, stream=True)
        text: str = response.data.decode()
        response.release_conn()
        return text


WatchCallback = Callable[[str, dict[str, Any], float], None]
# The event type for objects found by a list after the watch expired: they may
# be new (take them as ADDED), but their arrival time is the list's.
RELISTED = "RELISTED"


class Watch(threading.Thread):
    """A raw watch of one resource in one namespace, from the current resourceVersion.

    Each event's arrival time (``time.monotonic()``, taken as its line arrives,
    before any parsing) goes to `callback` with the event's type and object. A
    watch the API server ends is resumed; `reconnects` counts them.
    """

    def __init__(
        self, kube: Kube, prefix: str, plural: str, namespace: str, callback: WatchCallback
    ) -> None:
        super().__init__(name=f"watch-{plural}-{namespace}", daemon=True)
        self.kube = kube
        self.prefix = prefix
        self.plural = plural
        self.namespace = namespace
        self.callback = callback
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.reconnects = 0
        self._stopping = threading.Event()
        self._response: Any = None

    def start_and_wait(self, timeout: float = 30) -> None:
        self.start()
        if not self.ready.wait(timeout):
            raise TimeoutError(f"{self.name} did not start in {timeout}s")
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        self._stopping.set()
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):  # already closed: nothing to stop
                response.shutdown()
        self.join(timeout=10)

    def _lines(self, response: Any) -> Iterator[tuple[bytes, float]]:
        buffer = b""
        for chunk in response.stream(amt=None, decode_content=False):
            arrived = time.monotonic()
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line:
                    yield line, arrived

    def _open(self, version: str) -> Any:
        query = [
            ("watch", "true"),
            ("resourceVersion", version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", "3600"),
        ]
        return self.kube.request(
            "GET",
            _resource_path(self.prefix, self.namespace, self.plural),
            query=query,
            count=("WATCH", self.plural, ""),
            timeout=(10, 3700),
            stream=True,
        )

    def _relist(self) -> str:
        """Everything there is now, as RELISTED events; the list's resourceVersion."""
        listed = self.kube.list(self.prefix, self.plural, self.namespace)
        arrived = time.monotonic()
        for item in listed["items"]:
            self.callback(RELISTED, item, arrived)
        version: str = listed["metadata"]["resourceVersion"]
        return version

    def run(self) -> None:
        try:
            listed = self.kube.list(self.prefix, self.plural, self.namespace, limit=1)
            version: str = listed["metadata"]["resourceVersion"]
            self._response = self._open(version)
        except BaseException as error:
            self.error = error
            self.ready.set()
            raise
        self.ready.set()
        while True:
            expired = False
            try:
                for line, arrived in self._lines(self._response):
                    event = json.loads(line)
                    kind, obj = event["type"], event["object"]
                    if kind == "ERROR":  # 410 Gone: resume from a fresh list
                        expired = True
                        break
                    version = obj["metadata"]["resourceVersion"]
                    if kind != "BOOKMARK":
                        self.callback(kind, obj, arrived)
            except (urllib3.exceptions.HTTPError, OSError):
                pass  # the stream broke: resume from the last version seen
            if self._stopping.is_set():
                return
            # The API server ends a watch that falls behind (or at its timeout).
            self.reconnects += 1
            try:
                if expired:
                    version = self._relist()
                self._response = self._open(version)
            except Exception as error:
                self.error = error
                raise
