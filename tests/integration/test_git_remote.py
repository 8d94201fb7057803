"""git_remote and the resolve step against a real git smart-HTTP server on loopback.

The server is the test ground's own (cluster/httpd.py: `git http-backend` as
CGI), run in this process on a free port, with HTTP basic auth in front of the
repositories under private/. The repositories are bare ones made here with git:
branches, a lightweight and an annotated tag, and a commit pushed later.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from goimage import git_remote, resolver
from goimage.core import source
from goimage.core.source import Resolved, ResolveError

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD, TOKEN = "builder", "pa55-w0rd-s3cret", "t0ken-s3cret"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "goimage-test",
    "GIT_AUTHOR_EMAIL": "test@goimage.invalid",
    "GIT_COMMITTER_NAME": "goimage-test",
    "GIT_COMMITTER_EMAIL": "test@goimage.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


def _load_httpd() -> Any:
    spec = importlib.util.spec_from_file_location(
        "goimage_cluster_httpd", ROOT / "cluster/httpd.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _auth_handler(base: type, root: Path) -> type:
    """The test ground's git handler, asking for basic auth under /private/ (as a git host
    does for a private repository): user:password, or a token as the user name."""
    accepted = {
        "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
        "Basic " + base64.b64encode(f"{TOKEN}:".encode()).decode(),
    }

    class Handler(base):  # type: ignore[valid-type,misc]
        def _backend(self) -> None:
            if self.path.startswith("/private/") and (
                self.headers.get("Authorization") not in accepted
            ):
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            super()._backend()

        def log_message(self, format: str, *args: Any) -> None:
            self.server.requests.append(self.requestline)  # type: ignore[attr-defined]

    Handler.root = str(root)
    return Handler


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={"PATH": os.environ["PATH"], **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


@dataclass
class GitServer:
    url: str
    root: Path
    work: Path
    requests: list[str]

    def commit(self, message: str) -> str:
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def push(self, *refspecs: str, repo: str = "app") -> None:
        for bare in (f"{repo}.git", f"private/{repo}.git"):
            git("push", "-q", "--force", str(self.root / bare), *refspecs, cwd=self.work)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    root = tmp_path_factory.mktemp("git-root")
    work = tmp_path_factory.mktemp("git-work")
    for bare in ("app.git", "private/app.git"):
        (root / bare).parent.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "--bare", "--initial-branch=main", str(root / bare), cwd=root)
    git("init", "-q", "--initial-branch=main", cwd=work)
    httpd = _load_httpd()
    address = ThreadingHTTPServer(("127.0.0.1", 0), _auth_handler(httpd.GitHandler, root))
    address.daemon_threads = True
    requests: list[str] = []
    address.requests = requests  # type: ignore[attr-defined]
    thread = threading.Thread(target=address.serve_forever, daemon=True)
    thread.start()
    try:
        yield GitServer(f"http://127.0.0.1:{address.server_port}", root, work, requests)
    finally:
        address.shutdown()
        address.server_close()


@dataclass
class Repo:
    first: str
    second: str
    annotated_tag_object: str


@pytest.fixture(scope="module")
def repo(server: GitServer) -> Repo:
    """main and feature at the first commit, tags light (lightweight) and v1 (annotated) too;
    a branch and a tag both named `twin`; `release` one commit ahead."""
    first = server.commit("first")
    git("tag", "light", cwd=server.work)
    git("tag", "-a", "-m", "release v1", "v1", cwd=server.work)
    git("tag", "twin", cwd=server.work)
    second = server.commit("second")
    git("branch", "release", cwd=server.work)
    git("branch", "twin", cwd=server.work)
    git("reset", "-q", "--hard", first, cwd=server.work)
    git("branch", "feature", cwd=server.work)
    server.push("main", "feature", "release", "refs/heads/twin", "--tags")
    tag_object = git("rev-parse", "v1", cwd=server.work)
    assert tag_object != first
    return Repo(first=first, second=second, annotated_tag_object=tag_object)


def url(server: GitServer, private: bool = False) -> str:
    return f"{server.url}/{'private/' if private else ''}app.git"


@pytest.mark.parametrize(
    ("revision", "commit", "ref"),
    [
        ("", "first", "refs/heads/main"),
        ("main", "first", "refs/heads/main"),
        ("release", "second", "refs/heads/release"),
        ("light", "first", "refs/tags/light"),
        ("v1", "first", "refs/tags/v1"),  # annotated: peeled to its commit
        ("refs/tags/v1", "first", "refs/tags/v1"),
        ("twin", "second", "refs/heads/twin"),  # the branch wins over the tag
        ("refs/tags/twin", "first", "refs/tags/twin"),
    ],
)
def test_revisions_resolve_as_git_ls_remote_says(
    server: GitServer, repo: Repo, revision: str, commit: str, ref: str
) -> None:
    expected = getattr(repo, commit)
    assert git_remote.resolve(url(server), revision) == Resolved(expected, ref)
    # The same answer git itself gives (a tag's peeled line when it has one).
    lines = git("ls-remote", url(server), cwd=server.work).splitlines()
    listed = {name: oid for oid, name in (line.split("\t") for line in lines)}
    assert listed.get(ref + "^{}", listed[ref]) == expected


def test_a_commit_needs_no_request(server: GitServer, repo: Repo) -> None:
    before = len(server.requests)
    assert git_remote.resolve(url(server), repo.second) == Resolved(repo.second)
    assert len(server.requests) == before


def test_unknown_revisions_and_repositories(server: GitServer, repo: Repo) -> None:
    with pytest.raises(ResolveError, match="no branch or tag named 'gone'") as missing:
        git_remote.resolve(url(server), "gone")
    assert not isinstance(missing.value, source.SourceUnavailable)
    with pytest.raises(ResolveError, match="full 40-character id"):
        git_remote.resolve(url(server), repo.first[:7])
    with pytest.raises(git_remote.GitRemoteError, match="no git repository there"):
        git_remote.resolve(f"{server.url}/nothing.git", "main")


def test_ref_prefixes_list_only_what_is_asked(server: GitServer, repo: Repo) -> None:
    """Protocol v2's ls-refs: a repository with thousands of tags answers with a few lines."""
    listing = git_remote.list_refs(url(server), prefixes=("refs/heads/main", "refs/tags/main"))
    assert listing.refs == {"refs/heads/main": repo.first}
    everything = git_remote.list_refs(url(server))
    assert everything.refs["refs/tags/v1"] == repo.annotated_tag_object
    assert everything.refs["refs/tags/v1^{}"] == repo.first
    assert everything.head_target == "refs/heads/main"


def test_a_pushed_commit_is_a_new_head_once(server: GitServer, repo: Repo) -> None:
    """The poll's view: the head moves once per push, and only a new head builds."""
    head = git_remote.resolve(url(server), "feature").commit
    latest_build = head
    assert not source.builds_new_commit(latest_build, head)
    git("checkout", "-q", "-b", "feature-work", repo.first, cwd=server.work)
    pushed = server.commit("on feature")
    server.push("HEAD:refs/heads/feature")
    head = git_remote.resolve(url(server), "feature").commit
    assert head == pushed
    assert source.builds_new_commit(latest_build, head)
    latest_build = head
    assert not source.builds_new_commit(
        latest_build, git_remote.resolve(url(server), "feature").commit
    )


def test_a_private_repository_asks_for_credentials(server: GitServer, repo: Repo) -> None:
    with pytest.raises(git_remote.GitRemoteError, match="no credentials were given"):
        git_remote.resolve(url(server, private=True), "main")
    wrong = git_remote.Credentials(USER, "wrong")
    with pytest.raises(git_remote.GitRemoteError, match="the credentials were refused") as refused:
        git_remote.resolve(url(server, private=True), "main", credentials=wrong)
    assert "wrong" not in str(refused.value)
    right = git_remote.Credentials(USER, PASSWORD)
    assert git_remote.resolve(url(server, private=True), "v1", credentials=right) == Resolved(
        repo.first, "refs/tags/v1"
    )
    token = git_remote.Credentials.from_env({"GIT_TOKEN": TOKEN})
    assert git_remote.resolve(url(server, private=True), "release", credentials=token) == Resolved(
        repo.second, "refs/heads/release"
    )


def test_resolve_step_with_the_secrets_env(server: GitServer, repo: Repo, tmp_path: Path) -> None:
    """`goimage-operator resolve` as the resolve pod runs it: env from the Secret, the
    commit as the termination message, and no credential in anything it writes."""
    log = tmp_path / "termination-log"
    env = {"PATH": os.environ["PATH"], "GIT_USERNAME": USER, "GIT_PASSWORD": PASSWORD}
    command = [sys.executable, "-m", "goimage.cli", "resolve", f"--url={url(server, True)}"]
    ok = subprocess.run(
        [*command, "--revision=release", f"--termination-log={log}"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(log.read_text()) == {"commit": repo.second, "ref": "refs/heads/release"}
    assert source.parse_resolve_message(log.read_text()) == Resolved(
        repo.second, "refs/heads/release"
    )
    refused = subprocess.run(
        [*command, "--revision=main", f"--termination-log={log}"],
        env=env | {"GIT_PASSWORD": "n0t-" + PASSWORD}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    with pytest.raises(source.SourceUnavailable, match="the credentials were refused"):
        source.parse_resolve_message(log.read_text())
    for text in (ok.stdout, ok.stderr, refused.stdout, refused.stderr, log.read_text()):
        assert PASSWORD not in text
        assert USER not in text


def test_resolve_step_in_process(server: GitServer, repo: Repo, tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    code, message = resolver.resolve_step(
        url=url(server, private=True),
        revision="",
        env={"GIT_TOKEN": TOKEN},
        termination_log=log,
    )
    assert code == 0
    assert source.parse_resolve_message(message) == Resolved(repo.first, "refs/heads/main")
    with silent_server() as silent:
        code, message = resolver.resolve_step(
            url=silent, revision="main", timeout_s=0.5, termination_log=log
        )
    assert code == 1
    with pytest.raises(source.SourceUnavailable, match=r"(?i)timed? ?out"):
        source.parse_resolve_message(log.read_text())


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A loopback port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/app.git"
    finally:
        listener.close()


def test_a_silent_server_times_out(repo: Repo) -> None:
    with silent_server() as silent:
        started = time.monotonic()
        with pytest.raises(git_remote.GitRemoteError, match=r"(?i)timed? ?out"):
            git_remote.resolve(silent, "main", timeout_s=1.0)
        # One read timeout; a read is not retried.
        assert time.monotonic() - started < 3.0
