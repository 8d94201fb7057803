# shellcheck shell=bash disable=SC2034 # a library: its constants are used by the scripts that source it
# Shared by the scripts of the e2e tier's single-node Kubernetes (cluster.sh,
# images.sh, git-serve.sh, and what runs on the node): where its state lives
# and its fixed addresses; with cluster/common.sh, which it sources, how it
# logs, starts and stops its daemons and waits. Sourced, never run.

GOIMAGE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Everything a running node has: certificates, etcd data, containerd and
# kubelet directories, logs, pids, and env (what tests source).
CLUSTER_DIR="${GOIMAGE_CLUSTER_DIR:-${GOIMAGE_ROOT}/.cluster}"
TOOLS_BIN="${GOIMAGE_ROOT}/.tools/bin"
# What outlives `cluster.sh down`, beside the tool binaries: built images as
# OCI layouts with their stamps, the debootstrap cache.
IMAGE_CACHE="${GOIMAGE_IMAGE_CACHE:-${GOIMAGE_ROOT}/.tools/images}"
# The registry's storage (Distribution's filesystem layout: blobs, manifests,
# tags), which outlives a registry restart and `cluster.sh down`, like the
# node's etcd data beside it.
REGISTRY_DATA="${CLUSTER_DIR}/registry"

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

LOG_TAG="${LOG_TAG:-cluster}"
# Logging, daemons, waiting, ports, certificates: the node's daemons keep their
# logs/ and pids/ in CLUSTER_DIR.
# shellcheck source=cluster/common.sh
source "${GOIMAGE_ROOT}/cluster/common.sh"
DAEMON_DIR="${CLUSTER_DIR}"

need_root() { [[ ${EUID} -eq 0 ]] || die "run as root (the node mounts, makes a bridge and iptables rules)"; }
