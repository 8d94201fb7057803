"""The plugin's registry client: references, plain HTTP for whom, credentials from the
docker config, and the distribution API with anonymous, basic and bearer-token auth against
a real HTTP server on loopback (a small registry made here: the auth flows are what is
tested; tests/integration/test_kubectl_gib.py reads from crane's registry)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest

from goimage.plugin import registry
from goimage.plugin.registry import Credentials, Repository

DOC = b'{"spdxVersion": "SPDX-2.3"}'
DOC_DIGEST = registry.sha256_digest(DOC)


@pytest.mark.parametrize(
    ("image", "host", "path"),
    [
        ("registry.example.com/team/app@sha256:ab", "registry.example.com", "team/app"),
        ("localhost:5000/app:v1", "localhost:5000", "app"),
        ("127.0.0.1:5000/a/b/c@sha256:ab", "127.0.0.1:5000", "a/b/c"),
        ("team/app@sha256:ab", "index.docker.io", "team/app"),
        ("busybox", "index.docker.io", "library/busybox"),
        ("docker.io/library/golang:1.26", "index.docker.io", "library/golang"),
    ],
)
def test_parse_repository(image: str, host: str, path: str) -> None:
    assert registry.parse_repository(image) == Repository(host, path)


def test_docker_hub_is_read_from_its_api_host() -> None:
    assert registry.parse_repository("busybox").api_host == "registry-1.docker.io"


@pytest.mark.parametrize(
    ("host", "plain"),
    [
        ("localhost:5000", True),
        ("127.0.0.1:5000", True),
        ("[::1]:5000", True),
        ("registry.lan:5000", True),  # named insecure below
        ("registry.example.com", False),
        ("10.0.0.1:5000", False),
    ],
)
def test_plain_http_for_loopback_and_named_hosts(host: str, plain: bool) -> None:
    assert registry.is_plain_http(host, ["registry.lan:5000"]) is plain


def test_docker_config_path(tmp_path: Path) -> None:
    assert registry.docker_config_path({"DOCKER_CONFIG": "/d", "HOME": "/h"}) == Path(
        "/d/config.json"
    )
    assert registry.docker_config_path({"HOME": "/h"}) == Path("/h/.docker/config.json")
    assert registry.load_docker_config({"DOCKER_CONFIG": str(tmp_path)}) == {}
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(registry.RegistryError, match="cannot read the docker config"):
        registry.load_docker_config({"DOCKER_CONFIG": str(tmp_path)})


def test_credentials_from_the_docker_config() -> None:
    encoded = base64.b64encode(b"alice:s3cr:et").decode()
    config = {
        "auths": {
            "https://index.docker.io/v1/": {"auth": encoded},
            "registry.example.com": {"username": "bob", "password": "pw"},
            "http://other.example:5000/v2/": {"auth": encoded},
        }
    }
    assert registry.credentials_for("index.docker.io", config) == Credentials("alice", "s3cr:et")
    assert registry.credentials_for("registry.example.com", config) == Credentials("bob", "pw")
    assert registry.credentials_for("other.example:5000", config) == Credentials("alice", "s3cr:et")
    assert registry.credentials_for("unknown.example", config) is None


def test_a_credential_helper_comes_first() -> None:
    asked: list[tuple[str, str]] = []

    def helper(name: str, server: str) -> Credentials:
        asked.append((name, server))
        return Credentials("from", name)

    config = {
        "credHelpers": {"gcr.example": "gcloud"},
        "credsStore": "desktop",
        "auths": {"gcr.example": {"username": "u", "password": "p"}},
    }
    assert registry.credentials_for("gcr.example", config, helper) == Credentials("from", "gcloud")
    assert registry.credentials_for("index.docker.io", config, helper) == Credentials(
        "from", "desktop"
    )
    assert asked == [("gcloud", "gcr.example"), ("desktop", "https://index.docker.io/v1/")]


class Registry(BaseHTTPRequestHandler):
    """One artifact in `team/app`, behind the auth the test chooses."""

    mode: ClassVar[str] = "anonymous"
    served: ClassVar[bytes] = DOC
    seen: ClassVar[list[str]] = []

    def log_message(self, *_: Any) -> None:  # quiet
        pass

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        auth = self.headers.get("Authorization", "")
        self.seen.append(f"{url.path} {auth.split(' ')[0]}")
        if url.path == "/token":
            query = parse_qs(url.query)
            good = auth == "Basic " + base64.b64encode(b"alice:pw").decode()
            scoped = query.get("scope") == ["repository:team/app:pull"]
            if good and scoped and query.get("service") == ["test"]:
                self._send(200, json.dumps({"token": "tok"}).encode())
            else:
                self._send(401, b"bad credentials")
            return
        wanted = {
            "anonymous": "",
            "basic": "Basic " + base64.b64encode(b"alice:pw").decode(),
            "bearer": "Bearer tok",
        }[self.mode]
        if auth != wanted:
            port = self.server.server_address[1]
            challenge = {
                "basic": 'Basic realm="test"',
                "bearer": f'Bearer realm="http://127.0.0.1:{port}/token",service="test"',
            }[self.mode]
            self._send(401, b"", {"WWW-Authenticate": challenge})
            return
        if url.path == f"/v2/team/app/blobs/{DOC_DIGEST}":
            self._send(200, self.served)
        else:
            self._send(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    Registry.mode, Registry.served, Registry.seen = "anonymous", DOC, []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def client(server: ThreadingHTTPServer, credentials: Credentials | None) -> registry.Client:
    repo = Repository(f"127.0.0.1:{server.server_address[1]}", "team/app")
    return registry.Client(repo, plain_http=True, credentials=credentials)


@pytest.mark.parametrize("mode", ["anonymous", "basic", "bearer"])
def test_reads_a_blob_with_each_kind_of_auth(server: ThreadingHTTPServer, mode: str) -> None:
    Registry.mode = mode
    reader = client(server, Credentials("alice", "pw"))
    assert reader.blob(DOC_DIGEST) == DOC
    assert reader.blob(DOC_DIGEST) == DOC  # the answer is kept: no second challenge
    blob = f"/v2/team/app/blobs/{DOC_DIGEST}"
    expected = {
        "anonymous": [f"{blob} ", f"{blob} "],
        "basic": [f"{blob} ", f"{blob} Basic", f"{blob} Basic"],
        "bearer": [f"{blob} ", "/token Basic", f"{blob} Bearer", f"{blob} Bearer"],
    }[mode]
    assert Registry.seen == expected


def test_credentials_asked_for_and_missing(server: ThreadingHTTPServer) -> None:
    Registry.mode = "basic"
    with pytest.raises(registry.RegistryError, match="asks for credentials"):
        client(server, None).blob(DOC_DIGEST)


def test_wrong_credentials_for_a_token(server: ThreadingHTTPServer) -> None:
    Registry.mode = "bearer"
    with pytest.raises(registry.RegistryError, match=r"refused \(HTTP 401\): bad credentials"):
        client(server, Credentials("alice", "wrong")).blob(DOC_DIGEST)


def test_other_bytes_than_the_digest_are_refused(server: ThreadingHTTPServer) -> None:
    Registry.served = b"tampered"
    with pytest.raises(registry.RegistryError, match="the registry served other bytes"):
        client(server, None).blob(DOC_DIGEST)


def test_missing_blob_says_the_http_status(server: ThreadingHTTPServer) -> None:
    missing = "sha256:" + "0" * 64
    with pytest.raises(registry.RegistryError) as error:
        client(server, None).blob(missing)
    assert f"team/app@{missing}: HTTP 404 from the registry" in str(error.value)
    assert "BLOB_UNKNOWN" in str(error.value)


def test_unreachable_registry() -> None:
    with pytest.raises(registry.RegistryError, match=r"cannot reach the registry 127\.0\.0\.1:9"):
        registry.Client(Repository("127.0.0.1:9", "a"), plain_http=True, credentials=None).blob(
            DOC_DIGEST
        )
