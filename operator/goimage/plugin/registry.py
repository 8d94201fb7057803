"""Reading OCI artifacts from a registry: the distribution API (manifests and blobs by
digest) over HTTPS, or plain HTTP for loopback and `--insecure-registry` hosts, with
anonymous, basic or bearer-token auth from the user's docker config.

A small client on urllib3 rather than oras-py: oras-py retries a refused connection
for about two minutes with sleeps, answers a `Basic` challenge only with its basic
backend (which must be chosen before the challenge is seen), reads only
~/.docker/config.json (not $DOCKER_CONFIG), and ships no type hints. Reading two
documents by digest needs little: this module is all of it, and every byte read is
checked against its digest.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
import subprocess
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3

DOCKER_HUB = "index.docker.io"
_DOCKER_HUB_API = "registry-1.docker.io"
_DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
# Documents larger than this are not an SBOM of one Go binary: refuse to hold them.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
_TIMEOUT = urllib3.Timeout(connect=10, read=60)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class RegistryError(Exception):
    """The registry could not be reached or did not give what was asked; says why."""


@dataclass(frozen=True)
class Repository:
    """Where an image lives: the registry host (as written in references) and the path."""

    host: str
    path: str

    @property
    def api_host(self) -> str:
        return _DOCKER_HUB_API if self.host == DOCKER_HUB else self.host


def parse_repository(image: str) -> Repository:
    """`registry[:port]/path[:tag][@digest]` -> its registry and repository path.

    A first element without `.` or `:` (and not `localhost`) is a Docker Hub path, as
    docker reads it; one-element Docker Hub paths are under `library/`.
    """
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:  # a tag, not a port
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    first, _, rest = name.partition("/")
    if rest and first in ("docker.io", DOCKER_HUB):
        name = rest
    elif rest and ("." in first or ":" in first or first == "localhost"):
        return Repository(first, rest)
    path = name if "/" in name else f"library/{name}"
    return Repository(DOCKER_HUB, path)


def is_plain_http(host: str, insecure: Collection[str]) -> bool:
    """Plain HTTP for the hosts the user named insecure, and for loopback registries."""
    if host in insecure:
        return True
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    hostname = hostname.strip("[]")
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def docker_config_path(environ: Mapping[str, str]) -> Path:
    """$DOCKER_CONFIG/config.json, else ~/.docker/config.json (as docker reads it)."""
    folder = environ.get("DOCKER_CONFIG")
    base = Path(folder) if folder else Path(environ.get("HOME", "~")).expanduser() / ".docker"
    return base / "config.json"


def _auth_key(key: str) -> str:
    """A docker config `auths` key (`https://host/v1/`, `host`) -> the host it is for."""
    host = re.sub(r"^[a-z]+://", "", key).split("/", 1)[0]
    return DOCKER_HUB if host in ("docker.io", "index.docker.io") else host


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def credentials_for(
    host: str, config: Mapping[str, Any], helper_runner: Any = None
) -> Credentials | None:
    """The user's credentials for `host` from a docker config: a credential helper
    (`credHelpers`, then `credsStore`) or `auths` (`auth` or `username`/`password`)."""
    helper = (config.get("credHelpers") or {}).get(host) or config.get("credsStore")
    if helper:
        run = helper_runner or _run_credential_helper
        server = _DOCKER_HUB_AUTH_KEY if host == DOCKER_HUB else host
        found: Credentials | None = run(str(helper), server)
        if found:
            return found
    for key, entry in (config.get("auths") or {}).items():
        if _auth_key(key) != host or not isinstance(entry, Mapping):
            continue
        if entry.get("auth"):
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            return Credentials(user, password)
        if entry.get("username"):
            return Credentials(str(entry["username"]), str(entry.get("password", "")))
    return None


def _run_credential_helper(helper: str, server: str) -> Credentials | None:
    try:
        done = subprocess.run(
            [f"docker-credential-{helper}", "get"],
            input=server,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    found = json.loads(done.stdout or "{}")
    return Credentials(str(found.get("Username", "")), str(found.get("Secret", "")))


def load_docker_config(environ: Mapping[str, str]) -> dict[str, Any]:
    path = docker_config_path(environ)
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise RegistryError(f"cannot read the docker config {path}: {error}") from None


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`WWW-Authenticate: Bearer realm="...",service="..."` -> ("bearer", {realm, service})."""
    scheme, _, params = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(params))


def sha256_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


class Client:
    """Reads from one repository of one registry; one token per client."""

    def __init__(
        self,
        repository: Repository,
        *,
        plain_http: bool,
        credentials: Credentials | None,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self.repository = repository
        self.scheme = "http" if plain_http else "https"
        self.credentials = credentials
        # Redirects are followed (blobs often live elsewhere); urllib3 drops the
        # Authorization header when one leaves the host.
        self.pool = pool or urllib3.PoolManager(
            timeout=_TIMEOUT, retries=urllib3.Retry(total=3, connect=1, read=1, redirect=5)
        )
        self._authorization = ""

    def _url(self, kind: str, reference: str) -> str:
        return f"{self.scheme}://{self.repository.api_host}/v2/{self.repository.path}/{kind}/{reference}"

    def _get(self, url: str, accept: str) -> urllib3.BaseHTTPResponse:
        headers = {"Accept": accept}
        if self._authorization:
            headers["Authorization"] = self._authorization
        response = self._request(url, headers)
        if response.status == 401 and not self._authorization:
            self._authorization = self._answer(response.headers.get("WWW-Authenticate", ""))
            headers["Authorization"] = self._authorization
            response = self._request(url, headers)
        return response

    def _request(self, url: str, headers: dict[str, str]) -> urllib3.BaseHTTPResponse:
        try:
            return self.pool.request("GET", url, headers=headers, preload_content=False)
        except urllib3.exceptions.HTTPError as error:
            raise RegistryError(
                f"cannot reach the registry {self.repository.host}: {error}"
            ) from None

    def _basic(self) -> str:
        if self.credentials is None:
            raise RegistryError(
                f"the registry {self.repository.host} asks for credentials, and the docker"
                " config has none for it (docker login, or $DOCKER_CONFIG)"
            )
        pair = f"{self.credentials.username}:{self.credentials.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def _answer(self, challenge: str) -> str:
        """The Authorization header that answers a 401's challenge."""
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            return self._basic()
        if scheme != "bearer" or "realm" not in params:
            raise RegistryError(
                f"the registry {self.repository.host} asks for an authentication this client"
                f" does not speak: {challenge!r}"
            )
        fields = {"scope": f"repository:{self.repository.path}:pull"}
        if params.get("service"):
            fields["service"] = params["service"]
        headers = {"Authorization": self._basic()} if self.credentials else {}
        try:
            response = self.pool.request("GET", params["realm"], fields=fields, headers=headers)
        except urllib3.exceptions.HTTPError as error:
            raise RegistryError(
                f"cannot reach the token service {params['realm']}: {error}"
            ) from None
        if response.status != 200:
            raise RegistryError(
                f"the token service {params['realm']} refused (HTTP {response.status}):"
                f" {response.data.decode(errors='replace')[:300]}"
            )
        body = json.loads(response.data)
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError(f"the token service {params['realm']} gave no token")
        return f"Bearer {token}"

    def _read(self, kind: str, digest: str, accept: str, what: str) -> bytes:
        url = self._url(kind, digest)
        response = self._get(url, accept)
        try:
            if response.status != 200:
                detail = response.read(2048).decode(errors="replace").strip()
                raise RegistryError(
                    f"{what} {self.repository.host}/{self.repository.path}@{digest}:"
                    f" HTTP {response.status} from the registry" + (f": {detail}" if detail else "")
                )
            body = response.read(MAX_DOCUMENT_BYTES + 1)
        finally:
            response.release_conn()
        if len(body) > MAX_DOCUMENT_BYTES:
            raise RegistryError(f"{what} {digest} is larger than {MAX_DOCUMENT_BYTES} bytes")
        if sha256_digest(body) != digest:
            raise RegistryError(
                f"{what} {digest}: the registry served other bytes ({sha256_digest(body)})"
            )
        return body

    def manifest(self, digest: str) -> dict[str, Any]:
        body = self._read("manifests", digest, ", ".join(MANIFEST_TYPES), "manifest")
        return dict(json.loads(body))

    def blob(self, digest: str) -> bytes:
        return self._read("blobs", digest, "*/*", "blob")


def client_for(image: str, *, insecure: Collection[str], environ: Mapping[str, str]) -> Client:
    """A client for `image`'s repository, with the user's credentials for its registry."""
    repository = parse_repository(image)
    credentials = credentials_for(repository.host, load_docker_config(environ))
    return Client(
        repository,
        plain_http=is_plain_http(repository.host, insecure),
        credentials=credentials,
    )


def artifact_document(client: Client, digest: str, media_type: str) -> bytes:
    """The document an artifact manifest carries: its layer of `media_type` (or its only one)."""
    manifest = client.manifest(digest)
    layers = manifest.get("layers") or []
    chosen = [layer for layer in layers if layer.get("mediaType") == media_type]
    if not chosen and len(layers) == 1:
        chosen = layers
    if not chosen:
        types = ", ".join(str(layer.get("mediaType")) for layer in layers) or "none"
        raise RegistryError(
            f"the artifact {digest} has no layer of type {media_type} (its layers: {types})"
        )
    return client.blob(str(chosen[0]["digest"]))
