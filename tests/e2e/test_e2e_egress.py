"""Pods reach this machine (registry, git server, GOPROXY) and nothing else.

The node drops pod traffic to any other address and gives pods no
nameserver, so a build that forgets the registry mirror fails at once instead
of reaching out. The probe below does try: TEST-NET 192.0.2.1:80 (with a 3 s
limit) and a public name.
"""

from __future__ import annotations

import time

from testkit.kubectl import Kubectl
from testkit.node import Cluster
from tests.e2e.e2e_helpers import run_pod

# bash's /dev/tcp: the golang image has no curl, and needs none for a status
# line. Arguments: the gateway, then the registry's, git server's and GOPROXY's ports.
PROBE = r"""
gateway=$1 registry=$2 git=$3 goproxy=$4
status_line() {  # host port path
  timeout 5 bash -c 'exec 3<>/dev/tcp/$0/$1 && printf "GET $2 HTTP/1.0\r\n\r\n" >&3 &&
    head -n1 <&3' "$@" | tr -d '\r'
}
echo "registry: $(status_line "$gateway" "$registry" /v2/)"
echo "git: $(status_line "$gateway" "$git" /)"
echo "goproxy: $(status_line "$gateway" "$goproxy" /)"
if timeout 3 bash -c 'exec 3<>/dev/tcp/192.0.2.1/80'
then echo "outside: connected"
else echo "outside: failed"
fi
if getent hosts index.docker.io; then echo "dns: resolved"; else echo "dns: failed"; fi
"""


def test_pods_reach_this_machine_only(cluster: Cluster, kubectl: Kubectl, namespace: str) -> None:
    command = [
        "bash",
        "-c",
        PROBE,
        "probe",
        cluster.gateway,
        cluster.registry.rsplit(":", 1)[1],
        cluster.git_server.rsplit(":", 1)[1],
        cluster.goproxy_url.rsplit(":", 1)[1],
    ]
    start = time.monotonic()
    phase, log = run_pod(kubectl, namespace, "egress", cluster.golang_image, command)
    elapsed = time.monotonic() - start
    assert phase == "Succeeded", log
    lines = dict(line.split(": ", 1) for line in log.splitlines() if ": " in line)
    assert lines["registry"].startswith("HTTP/1.0 200"), log
    # Any HTTP answer: the server is reachable (what it answers to / is beside the point).
    assert lines["git"].startswith("HTTP/1."), log
    assert lines["goproxy"].startswith("HTTP/1."), log
    assert lines["outside"] == "failed", log
    assert lines["dns"] == "failed", log
    # The name fails at once (no nameserver); only the address waits out its 3 s.
    assert elapsed < 60, f"the probe pod took {elapsed:.0f}s"
