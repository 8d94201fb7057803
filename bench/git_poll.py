"""What one poll of a public repository costs the operator: `python -m bench.git_poll`.

Runs N `git_remote.resolve(url, "main")` calls, one after the other, against the
test ground's git server (cluster/httpd.py: `git http-backend` behind Python's
HTTP server) on a free loopback port, serving a small bare repository made
here. Prints the operator side's CPU seconds (this process: user + system),
the wall time, the HTTP requests the server logged, and the server's own CPU
(its process and the `git http-backend` it runs per request), as JSON.
Nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from goimage import git_remote

ROOT = Path(__file__).resolve().parents[1]
GIT_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@goimage.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@goimage.invalid",
    "HOME": "/nonexistent",
}


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _repository(root: Path, tags: int) -> None:
    """A small app's repository: a few commits on main, `tags` tags, two branches."""
    work = root / "work"
    work.mkdir()
    _git("init", "-q", "--initial-branch=main", cwd=work)
    for number in range(5):
        (work / "main.go").write_text(f"package main\n\nfunc main() {{ println({number}) }}\n")
        _git("add", "main.go", cwd=work)
        _git("commit", "-q", "-m", f"commit {number}", cwd=work)
    for number in range(tags):
        _git("tag", f"v0.{number}.0", cwd=work)
    _git("branch", "release", cwd=work)
    _git("init", "-q", "--bare", "--initial-branch=main", str(root / "git/app.git"), cwd=root)
    _git("push", "-q", str(root / "git/app.git"), "main", "release", "--tags", cwd=work)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(count: int, tags: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        _repository(root, tags)
        port = _free_port()
        log = root / "httpd.log"
        # The server under `time`'s accounting: its own CPU and its children's.
        server = subprocess.Popen(
            [
                "bash",
                "-c",
                'TIMEFORMAT="%U %S"; time "$@"',
                "server",
                sys.executable,
                str(ROOT / "cluster/httpd.py"),
                "git",
                "127.0.0.1",
                str(port),
                str(root / "git"),
            ],
            stderr=log.open("w"),
        )
        url = f"http://127.0.0.1:{port}/app.git"
        try:
            for _ in range(100):
                try:
                    expected = git_remote.resolve(url, "main").commit
                    break
                except git_remote.GitRemoteError:
                    time.sleep(0.1)
            before = log.read_text().count('"GET ') + log.read_text().count('"POST ')
            cpu, wall = _cpu(), time.monotonic()
            for _ in range(count):
                assert git_remote.resolve(url, "main").commit == expected
            cpu, wall = _cpu() - cpu, time.monotonic() - wall
        finally:
            # httpd.py ends on SIGINT (KeyboardInterrupt); bash then prints the times.
            for child in _children(server.pid):
                os.kill(child, signal.SIGINT)
            server.wait(timeout=30)
        text = log.read_text()
        requests = text.count('"GET ') + text.count('"POST ') - before
        user, system = (float(x) for x in text.strip().splitlines()[-1].split())
    return {
        "resolves": count,
        "tags": tags,
        "operator_cpu_s": round(cpu, 2),
        "operator_cpu_ms_per_resolve": round(1000 * cpu / count, 2),
        "wall_s": round(wall, 2),
        "http_requests": requests,
        "server_cpu_s_all_run": round(user + system, 2),
    }


def _children(pid: int) -> list[int]:
    listed = subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(line) for line in listed.split()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.git_poll", description=__doc__)
    parser.add_argument("--count", type=int, default=1000, help="resolves to time")
    parser.add_argument("--tags", type=int, default=20, help="tags in the repository")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.count, args.tags), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
