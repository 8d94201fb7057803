#!/usr/bin/env bash
# The integration tier's Kubernetes: etcd, kube-apiserver and
# kube-controller-manager (real Job controller and garbage collector; no
# scheduler, no kubelet), on loopback only, from the binaries `make tools`
# builds.
#
#   cluster/control-plane.sh up STATE_DIR      start (or find running) and wait until usable
#   cluster/control-plane.sh down STATE_DIR    stop everything `up` started there
#   cluster/control-plane.sh status STATE_DIR  exit 0 if it is up and healthy
#
# STATE_DIR holds everything: pki/ (CA, serving, client and service-account
# keys), etcd/ (data), logs/NAME.log, pids/NAME.{pid,cmd}, ports, kubeconfig (admin), and
# env (KUBECONFIG=..., APISERVER=https://127.0.0.1:PORT), so several control
# planes run side by side. Ports are picked free at the first `up` and kept for
# later ones; ETCD_CLIENT_PORT, ETCD_PEER_PORT and APISERVER_PORT override
# them (an override must be free; a recorded port that got taken is replaced).
# `up` returns once /readyz answers and the controller-manager has made
# the default ServiceAccount; if it cannot get there it stops what it started.
#
# Environment: GOIMAGE_TOOLS_BIN (default: the repo's .tools/bin),
# CONTROL_PLANE_TIMEOUT (seconds `up` waits, default 90),
# CONTROL_PLANE_EXTRA_SANS (more subjectAltNames for the apiserver's serving
# certificate, comma-separated `IP:a.b.c.d` / `DNS:name`, for a node tier that
# reaches it over a bridge).
#
# Why not `kwokctl create cluster --runtime binary` (tried with kwok v0.8.0 and
# these binaries): two at once pick the same ports and the second exits 0
# with its components dead; it trusts a pid file without checking the process
# (its `stop` SIGKILLs whatever now has that pid); it stops with SIGKILL only;
# and it waits for /version, not for a usable cluster.
set -euo pipefail
LOG_TAG=control-plane
# shellcheck source=cluster/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "${here}")"
tools_bin="${GOIMAGE_TOOLS_BIN:-${root}/.tools/bin}"
export PATH="${tools_bin}:${PATH}"

SERVICE_CIDR=10.0.0.0/24
SERVICE_IP=10.0.0.1 # the first address of SERVICE_CIDR: the `kubernetes` Service
COMPONENTS=(etcd kube-apiserver kube-controller-manager)
# Port overrides, read before anything here assigns these names.
declare -A PORT_OVERRIDES=(
  [ETCD_CLIENT_PORT]="${ETCD_CLIENT_PORT:-}"
  [ETCD_PEER_PORT]="${ETCD_PEER_PORT:-}"
  [APISERVER_PORT]="${APISERVER_PORT:-}"
)

usage() { die "usage: $0 up|down|status STATE_DIR"; }
[[ $# -eq 2 ]] || usage
cmd="$1"
[[ ${cmd} == up ]] && mkdir -p "$2"
[[ -d $2 ]] || die "no such state dir: $2"
state="$(cd "$2" && pwd)"
pki="${state}/pki"
# The components are daemons (cluster/common.sh) kept in the state dir.
DAEMON_DIR="${state}"

# --- processes ---------------------------------------------------------------

# ours PID [NAME]: PID runs one of our components (NAME's, if given) with this
# state dir on its command line (each component gets paths in it). A recycled
# pid is not ours; a component bench/ restarted with more flags, its pid
# written to the pid file, still is (`down` stops what the pid file names).
ours() {
  local exe
  pid_running "$1" || return 1
  exe="$(readlink "/proc/$1/exe" 2>/dev/null)" || return 1
  exe="${exe% (deleted)}"
  exe="${exe##*/}"
  [[ " ${2:-${COMPONENTS[*]}} " == *" ${exe} "* ]] &&
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "${state}/"
}

alive() {
  local pid
  pid="$(daemon_pid "$1")" && ours "${pid}" "$1"
}

stop() {
  if alive "$1"; then stop_pids 10 "$(daemon_pid "$1")"; fi
  rm -f "${state}/pids/$1".{pid,cmd}
}

down() {
  local i leftover
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop "${COMPONENTS[i]}"; done
  # A crash mid-`up` can leave a component without a pid file.
  leftover="$(leftovers)"
  if [[ -n ${leftover} ]]; then
    log "stopping leftover processes: ${leftover}"
    # shellcheck disable=SC2086 # one pid per word
    stop_pids 10 ${leftover}
    leftover="$(leftovers)"
    [[ -z ${leftover} ]] || die "processes still running: ${leftover}"
  fi
  log "down (${state})"
}

# The pids of our components that name this state dir.
leftovers() {
  local pid pids=()
  for pid in $(pgrep -f -- "${state}/"); do
    ours "${pid}" && pids+=("${pid}")
  done
  echo "${pids[*]}"
}

# --- ports -------------------------------------------------------------------

# port_for NAME OVERRIDE RECORDED TAKEN...: the override from the environment
# (which must be free), else the port an earlier `up` recorded if it is still
# free, else a free one; never one of TAKEN.
port_for() {
  local name="$1" override="$2" recorded="$3"
  shift 3
  if [[ -n ${override} ]]; then
    ! port_taken "${override}" || die "${name}=${override}: the port is in use"
    echo "${override}"
  elif [[ -n ${recorded} && " $* " != *" ${recorded} "* ]] && ! port_taken "${recorded}"; then
    echo "${recorded}"
  else
    free_port "$@"
  fi
}

choose_ports() {
  local key value
  local -A recorded=()
  if [[ -f ${state}/ports ]]; then
    while IFS='=' read -r key value; do recorded[${key}]="${value}"; done <"${state}/ports"
  fi
  ETCD_CLIENT_PORT="$(port_for ETCD_CLIENT_PORT "${PORT_OVERRIDES[ETCD_CLIENT_PORT]}" \
    "${recorded[ETCD_CLIENT_PORT]:-}")"
  ETCD_PEER_PORT="$(port_for ETCD_PEER_PORT "${PORT_OVERRIDES[ETCD_PEER_PORT]}" \
    "${recorded[ETCD_PEER_PORT]:-}" "${ETCD_CLIENT_PORT}")"
  APISERVER_PORT="$(port_for APISERVER_PORT "${PORT_OVERRIDES[APISERVER_PORT]}" \
    "${recorded[APISERVER_PORT]:-}" "${ETCD_CLIENT_PORT}" "${ETCD_PEER_PORT}")"
  cat >"${state}/ports" <<EOF
ETCD_CLIENT_PORT=${ETCD_CLIENT_PORT}
ETCD_PEER_PORT=${ETCD_PEER_PORT}
APISERVER_PORT=${APISERVER_PORT}
EOF
}

# --- certificates ------------------------------------------------------------

# cert NAME SUBJECT EXTENSIONS: pki/NAME.{key,crt}, signed by the CA.
cert() { sign_cert "${pki}" "${pki}" "$@"; }

make_pki() {
  local sans="IP:127.0.0.1,DNS:localhost,IP:${SERVICE_IP},DNS:kubernetes,DNS:kubernetes.default"
  sans+=",DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  sans+="${CONTROL_PLANE_EXTRA_SANS:+,${CONTROL_PLANE_EXTRA_SANS}}"
  [[ -f ${pki}/done && "$(<"${pki}/done")" == "${sans}" ]] && return
  log "making certificates in ${pki}"
  rm -rf "${pki}"
  mkdir -p "${pki}"
  chmod 700 "${pki}"
  new_ca "${pki}" goimage-test-ca
  cert apiserver "/CN=kube-apiserver" "extendedKeyUsage=serverAuth
subjectAltName=${sans}"
  cert admin "/O=system:masters/CN=admin" "extendedKeyUsage=clientAuth"
  cert kube-controller-manager "/CN=system:kube-controller-manager" "extendedKeyUsage=clientAuth"
  # For the node tier: the apiserver's client certificate towards kubelets
  # (logs, exec), and the scheduler's.
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" \
    "extendedKeyUsage=clientAuth"
  cert kube-scheduler "/CN=system:kube-scheduler" "extendedKeyUsage=clientAuth"
  # Service-account tokens: signed by the apiserver (TokenRequest) and the
  # controller-manager's token controller, verified by the apiserver. EC
  # (ES256), like every key here: an RSA key took 0.3 to 2 s to make on a busy
  # machine.
  new_key "${pki}/sa.key"
  openssl pkey -in "${pki}/sa.key" -pubout -out "${pki}/sa.pub"
  echo "${sans}" >"${pki}/done" # what they were made for
}

# kubeconfig FILE USER: a kubeconfig for pki/USER.{crt,key}.
kubeconfig() {
  write_kubeconfig "$1" "https://127.0.0.1:${APISERVER_PORT}" "${pki}/ca.crt" \
    "$2" "${pki}/$2.crt" "${pki}/$2.key"
}

# --- health ------------------------------------------------------------------

# The apiserver port the last `up` recorded.
apiserver_port() {
  [[ -f ${state}/ports ]] && awk -F= '$1 == "APISERVER_PORT" { print $2 }' "${state}/ports"
}

readyz() {
  local port
  port="$(apiserver_port)" && [[ -n ${port} ]] || return 1
  curl -fsS --max-time 2 --cacert "${pki}/ca.crt" --cert "${pki}/admin.crt" \
    --key "${pki}/admin.key" "https://127.0.0.1:${port}/readyz" >/dev/null 2>&1
}

etcd_healthy() { curl -fsS --max-time 1 -o /dev/null "$1/health" 2>/dev/null; }

default_serviceaccount() {
  kubectl --kubeconfig "${state}/kubeconfig" --request-timeout=5s \
    get serviceaccount default --namespace default >/dev/null 2>&1
}

healthy() {
  local name
  for name in "${COMPONENTS[@]}"; do alive "${name}" || return 1; done
  readyz && default_serviceaccount
}

# wait_for WHAT COMMAND...: until COMMAND succeeds; fail if a component died
# or the deadline passed.
wait_for() {
  local what="$1" name
  shift
  until "$@"; do
    for name in "${COMPONENTS[@]}"; do
      if [[ -f ${state}/pids/${name}.pid ]] && ! alive "${name}"; then
        fail "${name} exited while waiting for ${what}"
      fi
    done
    ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting for ${what}"
    sleep 0.2
  done
}

fail() {
  log "error: $*"
  daemon_log_tail "${COMPONENTS[@]}"
  down
  exit 1
}

# --- up ----------------------------------------------------------------------

up() {
  local name
  for name in "${COMPONENTS[@]}" kubectl; do
    [[ -x ${tools_bin}/${name} ]] || die "${tools_bin}/${name} is missing: run \`make tools\`"
  done
  if healthy; then
    log "already up: APISERVER=https://127.0.0.1:$(apiserver_port) (${state})"
    return
  fi
  # Half up (a component died, or a run was cut short): start afresh on the
  # same data, certificates and ports.
  for name in "${COMPONENTS[@]}"; do
    if [[ -f ${state}/pids/${name}.pid ]]; then
      down
      break
    fi
  done

  timeout="${CONTROL_PLANE_TIMEOUT:-90}"
  deadline=$((SECONDS + timeout))
  mkdir -p "${state}/logs" "${state}/pids" "${state}/etcd"
  chmod 700 "${state}/etcd"
  make_pki
  # Ports are picked and bound under one machine-wide lock, so two `up`s at
  # the same moment cannot pick the same free port.
  exec 9>"${TMPDIR:-/tmp}/goimage-control-plane.lock"
  flock 9
  choose_ports
  kubeconfig "${state}/kubeconfig" admin
  kubeconfig "${state}/kube-controller-manager.kubeconfig" kube-controller-manager
  kubeconfig "${state}/kube-scheduler.kubeconfig" kube-scheduler
  cat >"${state}/env" <<EOF
KUBECONFIG=${state}/kubeconfig
APISERVER=https://127.0.0.1:${APISERVER_PORT}
EOF

  local etcd_url="http://127.0.0.1:${ETCD_CLIENT_PORT}"
  local peer_url="http://127.0.0.1:${ETCD_PEER_PORT}"
  log "starting etcd on ${etcd_url}"
  # Plain HTTP on loopback; no fsync: the data is thrown away with the test run.
  daemon_start etcd "${tools_bin}/etcd" \
    --name=default \
    --data-dir="${state}/etcd" \
    --listen-client-urls="${etcd_url}" \
    --advertise-client-urls="${etcd_url}" \
    --listen-peer-urls="${peer_url}" \
    --initial-advertise-peer-urls="${peer_url}" \
    --initial-cluster="default=${peer_url}" \
    --unsafe-no-fsync \
    --log-level=warn
  wait_for "etcd" etcd_healthy "${etcd_url}"

  log "starting kube-apiserver on https://127.0.0.1:${APISERVER_PORT}"
  # --kubelet-preferred-address-types: a node tier's kubelet is reached at its
  # InternalIP (--node-ip); its hostname resolves nowhere.
  # --endpoint-reconciler-type=none: the `kubernetes` Service's Endpoints would
  # name 127.0.0.1, which Endpoints validation refuses (loopback), and the
  # apiserver would log that error every ten seconds.
  daemon_start kube-apiserver "${tools_bin}/kube-apiserver" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --secure-port="${APISERVER_PORT}" \
    --etcd-servers="${etcd_url}" \
    --tls-cert-file="${pki}/apiserver.crt" \
    --tls-private-key-file="${pki}/apiserver.key" \
    --client-ca-file="${pki}/ca.crt" \
    --authorization-mode=Node,RBAC \
    --service-cluster-ip-range="${SERVICE_CIDR}" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="${pki}/sa.pub" \
    --service-account-signing-key-file="${pki}/sa.key" \
    --kubelet-client-certificate="${pki}/apiserver-kubelet-client.crt" \
    --kubelet-client-key="${pki}/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP,Hostname,InternalDNS,ExternalDNS,ExternalIP \
    --endpoint-reconciler-type=none \
    --allow-privileged=true \
    --profiling=false \
    --v=1
  wait_for "kube-apiserver /readyz" readyz
  flock -u 9
  exec 9>&-

  log "starting kube-controller-manager"
  # --secure-port=0: no serving port to pick or collide on; readiness is
  # proven by its work (the default ServiceAccount) instead of /healthz.
  # --leader-elect=false: after an unclean stop the old lease would hold a
  # new controller-manager back for up to 15 s.
  daemon_start kube-controller-manager "${tools_bin}/kube-controller-manager" \
    --kubeconfig="${state}/kube-controller-manager.kubeconfig" \
    --secure-port=0 \
    --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file="${pki}/sa.key" \
    --root-ca-file="${pki}/ca.crt" \
    --cluster-signing-cert-file="${pki}/ca.crt" \
    --cluster-signing-key-file="${pki}/ca.key" \
    --service-cluster-ip-range="${SERVICE_CIDR}" \
    --controllers='*' \
    --profiling=false \
    --v=1
  wait_for "the default ServiceAccount (made by kube-controller-manager)" default_serviceaccount
  log "up in ${SECONDS}s: APISERVER=https://127.0.0.1:${APISERVER_PORT} KUBECONFIG=${state}/kubeconfig"
}

case "${cmd}" in
  up) up ;;
  down) down ;;
  status) healthy ;;
  *) usage ;;
esac
