#!/usr/bin/env bash
# The e2e tier's Kubernetes: one real node on this machine, offline.
#
#   cluster/cluster.sh up       bring it all up (or find it up: then it takes seconds)
#   cluster/cluster.sh down     stop it all and leave nothing running
#   cluster/cluster.sh status   exit 0 if it is up and the node is Ready
#   cluster/cluster.sh images   only the bridge, the registry and cluster/images.sh
#   cluster/cluster.sh registry start the registry if it is not running (a test that
#                               stopped it through its pid file brings it back so)
#
# What runs (as root; state in .cluster/, logs in .cluster/logs/):
# - etcd, kube-apiserver, kube-controller-manager from cluster/control-plane.sh
#   (loopback ports, state in .cluster/control-plane/), and kube-scheduler;
# - containerd (Debian's 1.6, runc, cgroupfs) with its own socket, root and
#   state under .cluster/containerd/, so a system containerd is never touched;
#   its root (images and every container's writable layer) on a journaled ext4
#   of its own, a sparse file (.cluster/containerd-root.ext4) mounted by loop;
# - kubelet, node name goimage-node, on the bridge goimage0 (10.89.0.1/24):
#   pods get addresses from Debian's CNI bridge plugin;
# - on 10.89.0.1, for pods and the host alike: an OCI registry (CNCF
#   Distribution with the OCI referrers API, cluster/tools/registry; storage in
#   .cluster/registry/, kept across restarts), a git server
#   (cluster/git-serve.sh) and a GOPROXY serving this machine's Go module cache.
#
# Pods reach this machine's own addresses only: iptables drops whatever they
# send to be forwarded elsewhere (chain GOIMAGE-EGRESS), and their
# resolv.conf names no nameserver, so a build that forgets the registry
# mirror fails at once instead of reaching out. They reach the apiserver
# through the `kubernetes` Service (10.0.0.1:443), which iptables maps to the
# apiserver on loopback; there is no kube-proxy, so no other Service has an
# address that works, and no cluster DNS. Images are made locally by
# cluster/images.sh (the pause image that containerd's sandboxes use among
# them), never pulled; containerd's hosts.toml sends docker.io, gcr.io, ghcr.io,
# quay.io and registry.k8s.io to the local registry too.
#
# `up` writes .cluster/env (KUBECONFIG, REGISTRY, GIT_SERVER, GOPROXY_URL,
# KANIKO_IMAGE, ...; see write_env). `down` keeps .cluster (certificates, etcd
# data) and the image cache; `rm -rf .cluster` after it starts from nothing.
set -euo pipefail
LOG_TAG=cluster
# shellcheck source=cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Debian packages the node needs; installed when missing. (On a machine with
# systemd, containerd's package also starts Debian's own containerd; ours has
# its own socket, root and state, so the two never meet.)
PACKAGES=(containerd runc containernetworking-plugins iptables git debootstrap gcc libc6-dev
  curl openssl iproute2 python3 ca-certificates e2fsprogs)
TOOLS=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl crane oras registry crictl)
CHAIN=GOIMAGE-EGRESS
KUBELET_DIR="${CLUSTER_DIR}/kubelet"
NODE_PKI="${CLUSTER_DIR}/node-pki"
CNI_DIR="${CLUSTER_DIR}/cni"
READY_TIMEOUT="${CLUSTER_TIMEOUT:-180}"
STORAGE_IMAGE="${CLUSTER_DIR}/containerd-root.ext4"
STORAGE_SIZE="${CLUSTER_STORAGE_SIZE:-32G}"

# The apiserver's port, as control-plane.sh recorded it.
apiserver_port() { awk -F= '$1 == "APISERVER_PORT" { print $2 }' "${CONTROL_PLANE_DIR}/ports"; }
kubectl_() { kubectl --kubeconfig "${CONTROL_PLANE_DIR}/kubeconfig" --request-timeout=10s "$@"; }
ctr_() { ctr --address "${CONTAINERD_SOCK}" --namespace k8s.io "$@"; }
crictl_() { crictl --runtime-endpoint "unix://${CONTAINERD_SOCK}" --timeout 30s "$@"; }

# --- host prerequisites --------------------------------------------------------

ensure_tools() {
  local status=0 tool
  "${GOIMAGE_ROOT}/cluster/build-tools.sh" "${GOIMAGE_ROOT}/.tools" "${TOOLS[@]}" 2>&1 |
    { grep -v ': up to date' || true; } >&2 || status=$?
  [[ ${status} -eq 0 ]] || die "cluster/build-tools.sh failed"
  for tool in "${TOOLS[@]}"; do [[ -x ${TOOLS_BIN}/${tool} ]] || die "${tool} was not built"; done
}

# --- network -----------------------------------------------------------------

bridge_up() {
  # Volumes with mount propagation (and the kubelet's own mounts) need it.
  mount --make-rshared /
  if ! ip link show dev "${BRIDGE}" >/dev/null 2>&1; then
    ip link add name "${BRIDGE}" type bridge
  fi
  ip -br addr show dev "${BRIDGE}" | grep -qF " ${GATEWAY}/" || ip addr add "${GATEWAY}/24" dev "${BRIDGE}"
  ip link set dev "${BRIDGE}" up
  # Made before any pod exists: the kubelet and the helpers listen on it. The
  # CNI plugin runs with isGateway=false, so it leaves the address (and the
  # host's ip_forward) alone.
  egress_rules
}

# Pods talk to each other over the bridge and to this machine (INPUT); what
# they send to be forwarded anywhere else is dropped. ip_forward is off on a
# fresh machine, which drops it too; the rule keeps it so when something turns
# forwarding on.
egress_rules() {
  local ipt
  for ipt in iptables ip6tables; do
    "${ipt}" -w -N "${CHAIN}" 2>/dev/null || true
    "${ipt}" -w -F "${CHAIN}"
    "${ipt}" -w -A "${CHAIN}" -o "${BRIDGE}" -m comment --comment "goimage: pod to pod" -j ACCEPT
    "${ipt}" -w -A "${CHAIN}" -m comment --comment "goimage: pods reach this machine only" -j DROP
    "${ipt}" -w -C FORWARD -i "${BRIDGE}" -j "${CHAIN}" 2>/dev/null ||
      "${ipt}" -w -I FORWARD 1 -i "${BRIDGE}" -j "${CHAIN}"
  done
}

egress_rules_present() {
  iptables -w -C FORWARD -i "${BRIDGE}" -j "${CHAIN}" 2>/dev/null &&
    iptables -w -C "${CHAIN}" -m comment --comment "goimage: pods reach this machine only" -j DROP 2>/dev/null
}

# The `kubernetes` Service, for pods (an operator in a pod, say), without a
# kube-proxy: the apiserver listens on loopback only, so TCP to
# KUBERNETES_SERVICE_IP:443 from the bridge is DNATed to 127.0.0.1:APISERVER_PORT,
# which the kernel allows for packets that arrive on the bridge once its
# route_localnet is on. Loopback is reachable from the bridge through that DNAT
# only (GOIMAGE-INPUT): never etcd or anything else on 127.0.0.1. The
# apiserver's certificate names the Service's address, so TLS verifies.
service_rules() {
  local port
  port="$(apiserver_port)"
  iptables -w -N GOIMAGE-INPUT 2>/dev/null || true
  iptables -w -F GOIMAGE-INPUT
  iptables -w -A GOIMAGE-INPUT -d 127.0.0.0/8 -m conntrack ! --ctstate DNAT \
    -m comment --comment "goimage: loopback only through the kubernetes Service" -j DROP
  iptables -w -C INPUT -i "${BRIDGE}" -j GOIMAGE-INPUT 2>/dev/null ||
    iptables -w -I INPUT 1 -i "${BRIDGE}" -j GOIMAGE-INPUT
  iptables -w -t nat -N GOIMAGE-SERVICES 2>/dev/null || true
  iptables -w -t nat -F GOIMAGE-SERVICES
  iptables -w -t nat -A GOIMAGE-SERVICES -d "${KUBERNETES_SERVICE_IP}/32" -p tcp --dport 443 \
    -m comment --comment "goimage: the kubernetes Service" -j DNAT --to-destination "127.0.0.1:${port}"
  iptables -w -t nat -C PREROUTING -i "${BRIDGE}" -j GOIMAGE-SERVICES 2>/dev/null ||
    iptables -w -t nat -I PREROUTING 1 -i "${BRIDGE}" -j GOIMAGE-SERVICES
  sysctl -qw "net.ipv4.conf.${BRIDGE}.route_localnet=1"
}

service_rules_present() {
  iptables -w -t nat -C PREROUTING -i "${BRIDGE}" -j GOIMAGE-SERVICES 2>/dev/null &&
    iptables -w -t nat -S GOIMAGE-SERVICES 2>/dev/null | grep -qF -- "--to-destination 127.0.0.1:$(apiserver_port)"
}

network_down() {
  local ipt
  while iptables -w -t nat -D PREROUTING -i "${BRIDGE}" -j GOIMAGE-SERVICES 2>/dev/null; do :; done
  iptables -w -t nat -F GOIMAGE-SERVICES 2>/dev/null || true
  iptables -w -t nat -X GOIMAGE-SERVICES 2>/dev/null || true
  while iptables -w -D INPUT -i "${BRIDGE}" -j GOIMAGE-INPUT 2>/dev/null; do :; done
  iptables -w -F GOIMAGE-INPUT 2>/dev/null || true
  iptables -w -X GOIMAGE-INPUT 2>/dev/null || true
  for ipt in iptables ip6tables; do
    while "${ipt}" -w -D FORWARD -i "${BRIDGE}" -j "${CHAIN}" 2>/dev/null; do :; done
    "${ipt}" -w -F "${CHAIN}" 2>/dev/null || true
    "${ipt}" -w -X "${CHAIN}" 2>/dev/null || true
  done
  if ip link show dev "${BRIDGE}" >/dev/null 2>&1; then
    ip link del dev "${BRIDGE}"
  fi
}

# --- certificates (signed by the control plane's CA) ---------------------------

# node_cert NAME SUBJECT EXTENSIONS: NODE_PKI/NAME.{key,crt}
node_cert() { sign_cert "${CONTROL_PLANE_DIR}/pki" "${NODE_PKI}" "$@"; }

# The kubelet's client certificate (the Node authorizer knows it by
# O=system:nodes, CN=system:node:NAME) and its serving certificate, which the
# apiserver reaches for logs and exec; remade whenever the CA changes.
node_pki() {
  local ca_hash
  ca_hash="$(sha256sum "${CONTROL_PLANE_DIR}/pki/ca.crt" | cut -c1-16)"
  [[ -f ${NODE_PKI}/done && "$(<"${NODE_PKI}/done")" == "${ca_hash}" ]] && return
  log "making the node's certificates in ${NODE_PKI}"
  rm -rf "${NODE_PKI}"
  mkdir -p "${NODE_PKI}"
  chmod 700 "${NODE_PKI}"
  node_cert kubelet-client "/O=system:nodes/CN=system:node:${NODE_NAME}" "extendedKeyUsage=clientAuth"
  node_cert kubelet-serving "/O=system:nodes/CN=system:node:${NODE_NAME}" "extendedKeyUsage=serverAuth
subjectAltName=IP:${GATEWAY},DNS:${NODE_NAME},IP:127.0.0.1,DNS:localhost"
  echo "${ca_hash}" >"${NODE_PKI}/done"
}

# --- containerd ----------------------------------------------------------------

# What a daemon's behaviour depends on besides its command line: its config
# files and certificates. A daemon started from other contents is restarted.
config_files() {
  case "$1" in
    containerd) echo "${CONTAINERD_DIR}/config.toml" ;;
    kubelet) echo "${KUBELET_DIR}/config.yaml" "${KUBELET_DIR}/kubeconfig" "${NODE_PKI}/done" ;;
  esac
}
config_hash() {
  # shellcheck disable=SC2046,SC2002 # one path per word; cat joins them
  cat $(config_files "$1") | sha256sum | cut -c1-16
}
config_started() { config_hash "$1" >"${CLUSTER_DIR}/pids/$1.config"; }
config_unchanged() {
  [[ -f ${CLUSTER_DIR}/pids/$1.config && "$(<"${CLUSTER_DIR}/pids/$1.config")" == "$(config_hash "$1")" ]]
}

containerd_config() {
  local host
  mkdir -p "${CONTAINERD_DIR}/root" "${CONTAINERD_DIR}/state" "${CONTAINERD_DIR}/certs.d" \
    "${CNI_DIR}/net.d" "${CNI_DIR}/ipam"
  chmod 711 "${CONTAINERD_DIR}/root" "${CONTAINERD_DIR}/state"
  cat >"${CONTAINERD_DIR}/config.toml" <<EOF
# Written by cluster/cluster.sh; a change here is overwritten by the next \`up\`.
version = 2
root = "${CONTAINERD_DIR}/root"
state = "${CONTAINERD_DIR}/state"
# Snapshotters this node does not use (they only log that they cannot start).
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "${CONTAINERD_SOCK}"

[ttrpc]
  address = "${CONTAINERD_SOCK}.ttrpc"

[debug]
  level = "warn"

[plugins."io.containerd.internal.v1.opt"]
  path = "${CONTAINERD_DIR}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  # Built locally and imported; nothing could pull it again.
  sandbox_image = "${PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # Root here lacks CAP_SYS_RESOURCE (a VM's sandbox), so no process may lower
  # its oom_score_adj, and runc fails to start a pod whose score the kubelet
  # sets below 0 (-998 for every sandbox): clamp them at containerd's own.
  restrict_oom_score_adj = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        # runc's state beside ours, not in /run/containerd/runc.
        Root = "${CONTAINERD_DIR}/runc"
        # The kubelet's cgroupDriver is cgroupfs (no systemd here).
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${CNI_DIR}/net.d"
    max_conf_num = 1

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "${CONTAINERD_DIR}/certs.d"
EOF
  # The local registry over plain HTTP, and the public registries' names
  # served by it: a pod naming one of them pulls locally or fails, and
  # containerd never reaches out.
  for host in "${REGISTRY}" docker.io gcr.io ghcr.io quay.io registry.k8s.io; do
    mkdir -p "${CONTAINERD_DIR}/certs.d/${host}"
    cat >"${CONTAINERD_DIR}/certs.d/${host}/hosts.toml" <<EOF
server = "http://${REGISTRY}"

[host."http://${REGISTRY}"]
  capabilities = ["pull", "resolve"]
EOF
  done
  cat >"${CNI_DIR}/net.d/10-goimage.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "goimage",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "${BRIDGE}",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "${CNI_DIR}/ipam",
        "ranges": [[{"subnet": "${POD_CIDR}", "gateway": "${GATEWAY}"}]],
        "routes": [{"dst": "0.0.0.0/0", "gw": "${GATEWAY}"}]
      }
    }
  ]
}
EOF
}

containerd_ready() { ctr --address "${CONTAINERD_SOCK}" version >/dev/null 2>&1; }

# containerd's root on a journaled ext4 of its own, as on a node's disk. A Kaniko
# build writes the golang image's ~30,000 files into its container's layer and
# deletes them; on an ext4 without a journal (this machine's root filesystem is
# one) creating files within minutes of such a deletion costs ~0.4 ms each, as
# the inode allocator steps over every "recently deleted" inode: Kaniko took
# 18-28 s instead of 8 to unpack the golang image in every build but the first
# (perf: ext4_create -> recently_deleted; bench/findings-builds.md). The file is
# sparse and mounted with discard, so it holds what the node holds.
# CLUSTER_STORAGE=host keeps containerd's root on the host filesystem instead
# (a machine without loop devices).
storage_mounted() { [[ ${CLUSTER_STORAGE:-} == host ]] || mountpoint -q "${CONTAINERD_DIR}/root"; }

storage_up() {
  storage_mounted && return 0
  if daemon_alive containerd; then
    die "containerd runs on ${CONTAINERD_DIR}/root unmounted: run $0 down, then up"
  fi
  if [[ ! -f ${STORAGE_IMAGE} ]]; then
    log "making container storage: ext4 with a journal in ${STORAGE_IMAGE} (sparse, ${STORAGE_SIZE})"
    truncate -s "${STORAGE_SIZE}" "${STORAGE_IMAGE}"
    mkfs.ext4 -q -F -L goimage-node -i 32768 "${STORAGE_IMAGE}"
  fi
  # What an earlier node left on the host filesystem would only be hidden.
  rm -rf --one-file-system "${CONTAINERD_DIR}/root"
  mkdir -p "${CONTAINERD_DIR}/root"
  mount -o loop,discard "${STORAGE_IMAGE}" "${CONTAINERD_DIR}/root" ||
    die "cannot loop-mount ${STORAGE_IMAGE}; CLUSTER_STORAGE=host keeps containerd's root on this filesystem"
  chmod 711 "${CONTAINERD_DIR}/root"
}

containerd_up() {
  containerd_config
  if daemon_alive containerd && containerd_ready && config_unchanged containerd; then
    return
  fi
  # Stopped or changed: a restart leaves the containers running (their shims
  # keep them), and the kubelet reconnects.
  daemon_stop containerd
  log "starting containerd (${CONTAINERD_SOCK})"
  daemon_start containerd containerd --config "${CONTAINERD_DIR}/config.toml"
  config_started containerd
  wait_until 30 "containerd on ${CONTAINERD_SOCK}" containerd_ready
}

# The sandbox image, from the local registry into containerd's k8s.io
# namespace (a no-op when it is there already); and every other image of the
# local registry that containerd holds under a tag the registry now gives
# another digest (a rebuilt image): the kubelet would keep using the old one.
refresh_images() {
  local ref digest rest
  ctr_ images pull --plain-http "${PAUSE_IMAGE}" >/dev/null
  while read -r ref _ digest rest; do
    [[ ${ref} == "${REGISTRY}/"* && ${ref} != *@* && ${ref} != "${PAUSE_IMAGE}" ]] || continue
    if [[ "$(crane --insecure digest "${ref}" 2>/dev/null)" != "${digest}" ]]; then
      log "containerd: refreshing ${ref}"
      ctr_ images pull --plain-http "${ref}" >/dev/null || log "warning: cannot refresh ${ref}"
    fi
  done < <(ctr_ images ls 2>/dev/null | tail -n +2)
}

# --- helpers on the gateway ------------------------------------------------------

registry_ready() { curl -fs --max-time 2 -o /dev/null "http://${REGISTRY}/v2/"; }

# The registry: CNCF Distribution (cluster/tools/registry), everything it
# stores on disk in REGISTRY_DATA, so a restart keeps every image and tag.
registry_up() {
  local command=(registry -addr "${REGISTRY}" -root "${REGISTRY_DATA}")
  # (A registry started with another command line, crane's before, is replaced.)
  if daemon_alive registry && registry_ready &&
    [[ "$(tr '\0' '\n' <"${DAEMON_DIR}/pids/registry.cmd")" == "$(printf '%s\n' "${command[@]}")" ]]; then
    return
  fi
  daemon_stop registry
  ! listening_on "${REGISTRY}" || die "${REGISTRY} is taken by another process"
  # The blobs of the registry this node ran before (crane's, whose manifests
  # lived in memory): nothing reads them now.
  if [[ -d ${IMAGE_CACHE}/registry/sha256 ]]; then
    log "removing ${IMAGE_CACHE}/registry (the former registry's blobs)"
    rm -rf "${IMAGE_CACHE}/registry"
  fi
  mkdir -p "${REGISTRY_DATA}"
  log "starting the registry on ${REGISTRY} (storage in ${REGISTRY_DATA})"
  daemon_start registry "${command[@]}"
  wait_until 10 "the registry on ${REGISTRY}" registry_ready
}

# Any HTTP answer will do (a GOPROXY answers 404 to what it lacks).
goproxy_ready() {
  [[ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://${GATEWAY}:${GOPROXY_PORT}/")" != 000 ]]
}

goproxy_up() {
  local dir
  dir="$(go env GOMODCACHE)/cache/download"
  mkdir -p "${dir}"
  daemon_alive goproxy && goproxy_ready && return
  daemon_stop goproxy
  ! listening_on "${GATEWAY}:${GOPROXY_PORT}" || die "${GATEWAY}:${GOPROXY_PORT} is taken by another process"
  log "starting the GOPROXY on http://${GATEWAY}:${GOPROXY_PORT} (${dir})"
  daemon_start goproxy /usr/bin/python3 "${GOIMAGE_ROOT}/cluster/httpd.py" static "${GATEWAY}" "${GOPROXY_PORT}" "${dir}"
  wait_until 10 "the GOPROXY" goproxy_ready
}

helpers_up() {
  registry_up
  "${GOIMAGE_ROOT}/cluster/git-serve.sh" start
  goproxy_up
}

# --- scheduler and kubelet -------------------------------------------------------

scheduler_up() {
  daemon_alive kube-scheduler && return
  log "starting kube-scheduler"
  # No serving port (nothing scrapes it) and no leader election (one of it).
  daemon_start kube-scheduler kube-scheduler \
    --kubeconfig="${CONTROL_PLANE_DIR}/kube-scheduler.kubeconfig" \
    --secure-port=0 --leader-elect=false --profiling=false --v=1
}

kubelet_config() {
  mkdir -p "${KUBELET_DIR}/root" "${KUBELET_DIR}/pod-logs" "${KUBELET_DIR}/volume-plugins"
  write_kubeconfig "${KUBELET_DIR}/kubeconfig" "https://127.0.0.1:$(apiserver_port)" \
    "${CONTROL_PLANE_DIR}/pki/ca.crt" "${NODE_NAME}" "${NODE_PKI}/kubelet-client.crt" "${NODE_PKI}/kubelet-client.key"
  # For pods with dnsPolicy Default: no nameserver either (the resolver falls
  # back to the pod's own loopback), so no query leaves the machine.
  printf '# pods resolve no names: see cluster/cluster.sh\noptions ndots:1\n' >"${KUBELET_DIR}/resolv.conf"
  cat >"${KUBELET_DIR}/config.yaml" <<EOF
# Written by cluster/cluster.sh.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${GATEWAY}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: ${NODE_PKI}/kubelet-serving.crt
tlsPrivateKeyFile: ${NODE_PKI}/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${CONTROL_PLANE_DIR}/pki/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://${CONTAINERD_SOCK}
# This kernel mounts cgroup v1 (hybrid), there is no systemd, and swap is
# left alone.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
resolvConf: ${KUBELET_DIR}/resolv.conf
# No cluster DNS runs; pods are pointed at their own loopback, where nothing
# answers, so a name fails at once (and the kubelet does not warn about a
# missing clusterDNS on every pod).
clusterDNS: [127.0.0.1]
clusterDomain: cluster.local
podLogsDir: ${KUBELET_DIR}/pod-logs
volumePluginDir: ${KUBELET_DIR}/volume-plugins
# The pause image cannot be pulled again: image GC never runs (disk use never
# reaches 100%).
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# Evict only when the machine is really short.
evictionHard: {memory.available: "200Mi", nodefs.available: "2%", imagefs.available: "2%", nodefs.inodesFree: "2%"}
serializeImagePulls: false
makeIPTablesUtilChains: false
shutdownGracePeriod: 0s
maxPods: 50
EOF
}

kubelet_up() {
  kubelet_config
  daemon_alive kubelet && config_unchanged kubelet && return
  daemon_stop kubelet
  log "starting kubelet (node ${NODE_NAME} on ${GATEWAY})"
  date -u +%s >"${KUBELET_DIR}/started"
  daemon_start kubelet kubelet \
    --config="${KUBELET_DIR}/config.yaml" \
    --kubeconfig="${KUBELET_DIR}/kubeconfig" \
    --root-dir="${KUBELET_DIR}/root" \
    --hostname-override="${NODE_NAME}" \
    --node-ip="${GATEWAY}" \
    --v=1
  config_started kubelet
}

# Ready, as reported by the kubelet that runs now: after a restart the Node
# keeps its old Ready=True until the new kubelet's first heartbeat.
node_ready() {
  local ready heartbeat
  # (jsonpath prints no newline: read's status says nothing here.)
  read -r ready heartbeat < <(kubectl_ get node "${NODE_NAME}" -o \
    jsonpath='{range .status.conditions[?(@.type=="Ready")]}{.status} {.lastHeartbeatTime}{end}' \
    2>/dev/null) || true
  [[ ${ready:-} == True && -n ${heartbeat:-} ]] &&
    (($(date -u -d "${heartbeat}" +%s) >= $(cat "${KUBELET_DIR}/started" 2>/dev/null || echo 0)))
}

# --- env, status -----------------------------------------------------------------

write_env() {
  local port
  port="$(apiserver_port)"
  cat >"${CLUSTER_DIR}/env.tmp" <<EOF
KUBECONFIG=${CONTROL_PLANE_DIR}/kubeconfig
APISERVER=https://127.0.0.1:${port}
NODE_NAME=${NODE_NAME}
GATEWAY=${GATEWAY}
REGISTRY=${REGISTRY}
GIT_SERVER=http://${GATEWAY}:${GIT_PORT}
GOPROXY_URL=http://${GATEWAY}:${GOPROXY_PORT}
CONTAINERD_ADDRESS=${CONTAINERD_SOCK}
PAUSE_IMAGE=${PAUSE_IMAGE}
KANIKO_IMAGE=${REGISTRY}/goimage/kaniko-executor:$(awk '$1 == "github.com/GoogleContainerTools/kaniko" { print $2; exit }' "${GOIMAGE_ROOT}/cluster/tools/kaniko/go.mod")
GOLANG_IMAGE=${REGISTRY}/library/golang:$(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')
PYTHON_BASE_IMAGE=${REGISTRY}/goimage/python-base:3.11
EOF
  mv -f "${CLUSTER_DIR}/env.tmp" "${CLUSTER_DIR}/env"
}

DAEMONS=(containerd registry git-server goproxy kube-scheduler kubelet)

healthy() {
  local name
  for name in "${DAEMONS[@]}"; do daemon_alive "${name}" || return 1; done
  "${GOIMAGE_ROOT}/cluster/control-plane.sh" status "${CONTROL_PLANE_DIR}" 2>/dev/null &&
    storage_mounted && egress_rules_present && service_rules_present && registry_ready && node_ready
}

# --- up, down --------------------------------------------------------------------

# One `up`, `images` or `down` at a time: fd 7 holds the node's lock.
lock_node() {
  mkdir -p "${CLUSTER_DIR}"
  exec 7>"${CLUSTER_DIR}/.lock"
  flock 7
}

# One node per machine: its bridge, gateway address, registry port and the
# `kubernetes` Service rule are fixed. NODE_OWNER names the state dir of the
# node that holds them, so a second checkout's `up` refuses before it touches
# any of them (its own state dir aside).
NODE_OWNER=/run/goimage-node.owner

# node_running_in DIR: a daemon of the node whose state is DIR still runs, as
# that node started it (its pid file and its command line).
node_running_in() {
  local DAEMON_DIR="$1" name
  for name in kubelet containerd registry kube-scheduler; do
    daemon_alive "${name}" && return 0
  done
  DAEMON_DIR="$1/control-plane"
  daemon_alive kube-apiserver
}

claim_machine() {
  local owner
  owner="$(cat "${NODE_OWNER}" 2>/dev/null || true)"
  if [[ -n ${owner} && ${owner} != "${CLUSTER_DIR}" ]] && node_running_in "${owner}"; then
    die "the node of another checkout is up on this machine (its state: ${owner}): run \`make cluster-down\` in $(dirname "${owner}") first; nothing here was started or changed"
  fi
  echo "${CLUSTER_DIR}" >"${NODE_OWNER}"
}

# What `up` and `images` start with: packages, tools, the lock, the machine,
# the bridge.
prepare() {
  need_root
  ensure_packages "${PACKAGES[@]}"
  ensure_tools
  lock_node
  claim_machine
  bridge_up
}

up() {
  prepare
  # Several control planes may run side by side (the integration tier's), but
  # this node's apiserver is the one whose certificate names the gateway.
  # (7>&-: its daemons must not inherit our lock.)
  CONTROL_PLANE_EXTRA_SANS="IP:${GATEWAY}" CONTROL_PLANE_TIMEOUT="${READY_TIMEOUT}" \
    "${GOIMAGE_ROOT}/cluster/control-plane.sh" up "${CONTROL_PLANE_DIR}" 7>&-
  service_rules
  node_pki
  storage_up
  containerd_up
  helpers_up
  "${GOIMAGE_ROOT}/cluster/images.sh"
  refresh_images
  scheduler_up
  kubelet_up
  wait_until "${READY_TIMEOUT}" "node ${NODE_NAME} to be Ready (see ${CLUSTER_DIR}/logs/kubelet.log)" node_ready
  write_env
  log "up in ${SECONDS}s; env in ${CLUSTER_DIR}/env:"
  sed 's/^/  /' "${CLUSTER_DIR}/env" >&2
}

images_only() {
  prepare
  registry_up
  "${GOIMAGE_ROOT}/cluster/images.sh"
  if daemon_alive containerd && containerd_ready; then refresh_images; fi
}

# The registry alone, on the bridge that is up (a fault test stopped it).
registry_only() {
  need_root
  lock_node
  ip link show dev "${BRIDGE}" >/dev/null 2>&1 || die "the node is not up: run $0 up"
  registry_up
}

# Every pod sandbox through the CRI: stops its containers, tears its network
# down (CNI DEL, netns), removes it.
remove_pods() {
  daemon_alive containerd && containerd_ready || return 0
  crictl_ rmp --all --force >/dev/null 2>&1 || log "crictl rmp failed; killing what is left"
}

# What survives that (a crashed containerd, say): processes in the kubelet's
# cgroups, then our shims.
kill_leftovers() {
  local dir pids shim
  for dir in /sys/fs/cgroup/pids/kubepods /sys/fs/cgroup/memory/kubepods; do
    [[ -d ${dir} ]] || continue
    pids="$(find "${dir}" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u | tr '\n' ' ')"
    # shellcheck disable=SC2086 # one pid per word
    [[ -z ${pids// /} ]] || kill -KILL ${pids} 2>/dev/null || true
  done
  for shim in $(pgrep -f -- "-address ${CONTAINERD_SOCK}" || true); do
    [[ "$(readlink "/proc/${shim}/exe" 2>/dev/null)" == *containerd-shim* ]] && kill -KILL "${shim}" 2>/dev/null
  done
  return 0
}

# Network namespaces containerd's CRI made (/run/netns/cni-*) that outlived
# their sandbox: removed only when no other containerd runs, whose they could be.
remove_stale_netns() {
  local ns
  pgrep -x containerd >/dev/null && return 0
  for ns in /run/netns/cni-*; do
    [[ -e ${ns} ]] || continue
    umount "${ns}" 2>/dev/null || true
    rm -f "${ns}"
  done
}

# Empty cgroups the kubelet made (kubepods/...), deepest first.
remove_cgroups() {
  local controller
  for controller in /sys/fs/cgroup/*/; do
    [[ -d ${controller}kubepods ]] || continue
    find "${controller}kubepods" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

# Mounts under the state dir (pod volumes, container rootfs, sandbox shm),
# deepest first.
unmount_all() {
  local target
  while read -r target; do
    umount "${target}" 2>/dev/null || umount -l "${target}" 2>/dev/null || log "cannot unmount ${target}"
  done < <(findmnt -rn -o TARGET | awk -v p="${CLUSTER_DIR}/" 'index($0, p) == 1' | sort -r)
}

down() {
  need_root
  lock_node
  daemon_stop kubelet
  daemon_stop kube-scheduler
  remove_pods
  daemon_stop containerd
  kill_leftovers
  daemon_stop goproxy
  daemon_stop registry
  daemon_stop wheelhouse # started by `make image` (cluster/operator-image.sh)
  "${GOIMAGE_ROOT}/cluster/git-serve.sh" stop
  if [[ -d ${CONTROL_PLANE_DIR} ]]; then
    "${GOIMAGE_ROOT}/cluster/control-plane.sh" down "${CONTROL_PLANE_DIR}"
  fi
  unmount_all
  remove_cgroups
  # The bridge and the Service rules are the machine's node's: another
  # checkout's, if its node is up, keeps them.
  local owner
  owner="$(cat "${NODE_OWNER}" 2>/dev/null || true)"
  if [[ -n ${owner} && ${owner} != "${CLUSTER_DIR}" ]] && node_running_in "${owner}"; then
    log "the network stays: it is the node's of ${owner}"
  else
    network_down
  fi
  remove_stale_netns
  rm -f "${CLUSTER_DIR}/env"
  [[ "$(cat "${NODE_OWNER}" 2>/dev/null)" != "${CLUSTER_DIR}" ]] || rm -f "${NODE_OWNER}"
  local left
  left="$(findmnt -rn -o TARGET | awk -v p="${CLUSTER_DIR}/" 'index($0, p) == 1' | wc -l)"
  [[ ${left} -eq 0 ]] || log "warning: ${left} mounts are left under ${CLUSTER_DIR}"
  log "down"
}

status() {
  if healthy; then
    log "up: node ${NODE_NAME} Ready; env in ${CLUSTER_DIR}/env"
  else
    log "not up"
    return 1
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  images) images_only ;;
  registry) registry_only ;;
  *) die "usage: $0 up|down|status|images|registry" ;;
esac
