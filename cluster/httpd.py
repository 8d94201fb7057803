#!/usr/bin/env python3
"""The e2e node's helper HTTP servers, for build pods (standard library only).

    httpd.py git    ADDRESS PORT ROOT   git's smart HTTP protocol, read-only, for
                                        the bare repositories under ROOT
                                        (through `git http-backend`)
    httpd.py static ADDRESS PORT DIR    the files under DIR (and folder listings);
                                        a Go module cache's cache/download folder
                                        served this way is a GOPROXY, a folder
                                        of wheels a pip --find-links

Started and stopped by cluster/cluster.sh (and cluster/git-serve.sh); bound to
the pod bridge's gateway address, so pods and the host reach it and nothing
else does.

The git server's repositories under private/ ask for HTTP basic auth, as a git
host's private repositories do: the user and password of
$GOIMAGE_GIT_PRIVATE_CREDENTIALS ("user:password"), by default the fixed test
pair DEFAULT_CREDENTIALS (the e2e tests read them with `private_credentials`).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping

PRIVATE_PREFIX = "/private/"
CREDENTIALS_ENV = "GOIMAGE_GIT_PRIVATE_CREDENTIALS"
# Test credentials, not a secret: the server is reachable from the node's pods only.
DEFAULT_CREDENTIALS = "goimage-e2e:private-e2e-password"


def private_credentials(env: Mapping[str, str]) -> tuple[str, str]:
    """The user and password that the repositories under private/ accept."""
    user, _, password = (env.get(CREDENTIALS_ENV) or DEFAULT_CREDENTIALS).partition(":")
    return user, password


def basic_auth(user: str, password: str) -> str:
    """The Authorization header value of HTTP basic auth."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _read_chunked(stream: io.BufferedIOBase) -> bytes:
    body = bytearray()
    while True:
        size = int(stream.readline().split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            # Trailers, up to the blank line.
            while stream.readline() not in (b"\r\n", b"\n", b""):
                pass
            return bytes(body)
        body += stream.read(size)
        stream.readline()  # the CRLF after each chunk


class GitHandler(http.server.BaseHTTPRequestHandler):
    """Runs `git http-backend` as a CGI program for each request."""

    server_version = "goimage-git"
    root = "."
    # The Authorization header that PRIVATE_PREFIX needs ("": no auth asked, for anything).
    private_auth = ""

    def do_GET(self) -> None:
        self._backend()

    def do_POST(self) -> None:
        self._backend()

    def _backend(self) -> None:
        if (
            self.private_auth
            and self.path.startswith(PRIVATE_PREFIX)
            and self.headers.get("Authorization") != self.private_auth
        ):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="goimage-git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = _read_chunked(self.rfile)
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": self.root,
            # Every repository under ROOT is public to the pods.
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_USER": "",
            # Protocol v2 is negotiated through this header.
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        result = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        if result.stderr:
            sys.stderr.write(result.stderr.decode(errors="replace"))
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = result.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        if result.returncode != 0 and status == 200:
            status = 500
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class StaticHandler(http.server.SimpleHTTPRequestHandler):
    """Files, and listings of folders (pip's --find-links reads those)."""

    server_version = "goimage-static"


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] not in ("git", "static"):
        sys.stderr.write(__doc__ or "")
        return 2
    mode, address, port, root = argv
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        sys.stderr.write(f"no such directory: {root}\n")
        return 2
    handler: type[http.server.BaseHTTPRequestHandler]
    if mode == "git":
        if shutil.which("git") is None:
            sys.stderr.write("git is not installed\n")
            return 2
        auth = basic_auth(*private_credentials(os.environ))
        handler = type("Handler", (GitHandler,), {"root": root, "private_auth": auth})
    else:
        handler = functools.partial(StaticHandler, directory=root)  # type: ignore[assignment]
    server = http.server.ThreadingHTTPServer((address, int(port)), handler)
    server.daemon_threads = True
    sys.stderr.write(f"httpd: {mode} {root} on http://{address}:{port}\n")
    sys.stderr.flush()
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
