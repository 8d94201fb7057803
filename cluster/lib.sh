# shellcheck shell=bash disable=SC2034 # a library: its constants are used by the scripts that source it
# Shared by cluster/cluster.sh, cluster/images.sh and cluster/git-serve.sh (the
# e2e tier's single-node Kubernetes): where its state lives, its fixed
# addresses, and how it starts and stops its daemons. Sourced, never run.

GOIMAGE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Everything a running node has: certificates, etcd data, containerd and
# kubelet directories, logs, pids, and env (what tests source).
CLUSTER_DIR="${GOIMAGE_CLUSTER_DIR:-${GOIMAGE_ROOT}/.cluster}"
TOOLS_BIN="${GOIMAGE_ROOT}/.tools/bin"
# What outlives `cluster.sh down`, beside the tool binaries: built images as
# OCI layouts with their stamps, the registry's blobs, the debootstrap cache.
IMAGE_CACHE="${GOIMAGE_IMAGE_CACHE:-${GOIMAGE_ROOT}/.tools/images}"
REGISTRY_DATA="${IMAGE_CACHE}/registry"

# The pod network: a bridge the node owns, whose gateway address is also the
# address of every helper the pods use (registry, git server, GOPROXY) and of
# the kubelet. Fixed rather than picked, because image references name the
# registry by it (containerd's sandbox image, the images Kaniko pushes), so
# one node per machine.
BRIDGE=goimage0
POD_CIDR=10.89.0.0/24
GATEWAY=10.89.0.1
REGISTRY="${GATEWAY}:5000"
GIT_PORT=8418
GOPROXY_PORT=8419
NODE_NAME=goimage-node
# The `kubernetes` Service's address (control-plane.sh's SERVICE_IP): pods
# reach the apiserver there (see cluster.sh's service_rules).
KUBERNETES_SERVICE_IP=10.0.0.1
PAUSE_IMAGE="${REGISTRY}/pause:3.10.1"

CONTAINERD_DIR="${CLUSTER_DIR}/containerd"
CONTAINERD_SOCK="${CONTAINERD_DIR}/containerd.sock"
CONTROL_PLANE_DIR="${CLUSTER_DIR}/control-plane"

export GOTOOLCHAIN=local
export PATH="${TOOLS_BIN}:${PATH}"

log() { printf '%s: %s\n' "${LOG_TAG:-cluster}" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

need_root() { [[ ${EUID} -eq 0 ]] || die "run as root (the node mounts, makes a bridge and iptables rules)"; }

# --- daemons -----------------------------------------------------------------
# Each daemon runs detached in its own session (it outlives the script and any
# terminal), logs to logs/NAME.log, and has pids/NAME.pid plus pids/NAME.cmd,
# its exact command line: a pid counts as ours only while /proc/PID/cmdline
# still matches, so a recycled pid is never signalled.

daemon_alive() {
  local name="$1" pid
  [[ -f ${CLUSTER_DIR}/pids/${name}.pid ]] || return 1
  pid="$(<"${CLUSTER_DIR}/pids/${name}.pid")"
  # (Not cmp -s: it trusts st_size, which is 0 for every /proc file.)
  [[ -r /proc/${pid}/cmdline ]] &&
    [[ "$(tr '\0' '\n' <"/proc/${pid}/cmdline" 2>/dev/null)" == "$(tr '\0' '\n' <"${CLUSTER_DIR}/pids/${name}.cmd")" ]]
}

# daemon_start NAME COMMAND ARGS...: no fd of ours leaks into it (a caller
# reading our stdout, such as subprocess.run, would wait for the daemon, and
# the lock files on fds 7-9 would stay locked as long as it runs).
daemon_start() {
  local name="$1"
  shift
  mkdir -p "${CLUSTER_DIR}/logs" "${CLUSTER_DIR}/pids"
  printf '\n==== %s: %s\n' "$(date -u +%FT%TZ)" "$*" >>"${CLUSTER_DIR}/logs/${name}.log"
  # setsid execs the command (this shell's background child leads no process
  # group), so $! is the daemon's pid and its argv is exactly "$@".
  setsid "$@" </dev/null >>"${CLUSTER_DIR}/logs/${name}.log" 2>&1 7>&- 8>&- 9>&- &
  echo $! >"${CLUSTER_DIR}/pids/${name}.pid"
  printf '%s\0' "$@" >"${CLUSTER_DIR}/pids/${name}.cmd"
}

# daemon_stop NAME [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 10).
daemon_stop() {
  local name="$1" grace="${2:-10}" pid i
  if daemon_alive "${name}"; then
    pid="$(<"${CLUSTER_DIR}/pids/${name}.pid")"
    kill -TERM "${pid}" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      daemon_alive "${name}" || break
      sleep 0.1
    done
    if daemon_alive "${name}"; then
      log "${name} (pid ${pid}) ignored SIGTERM for ${grace}s; killing it"
      kill -KILL "${pid}" 2>/dev/null || true
      sleep 0.2
    fi
  fi
  rm -f "${CLUSTER_DIR}/pids/${name}".{pid,cmd,config}
}

# wait_until SECONDS WHAT COMMAND...: poll COMMAND; on timeout, fail naming WHAT.
wait_until() {
  local limit=$((SECONDS + $1)) what="$2"
  shift 2
  until "$@"; do
    ((SECONDS < limit)) || die "timed out waiting for ${what}"
    sleep 0.2
  done
}

listening_on() { ss -Hltn "src $1" | grep -q .; }
