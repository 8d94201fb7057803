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
# keys), etcd/ (data), logs/*.log, pids/*.pid, ports, kubeconfig (admin), and
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
set -euo pipefail

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

log() { printf 'control-plane: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() { die "usage: $0 up|down|status STATE_DIR"; }
[[ $# -eq 2 ]] || usage
cmd="$1"
[[ ${cmd} == up ]] && mkdir -p "$2"
[[ -d $2 ]] || die "no such state dir: $2"
state="$(cd "$2" && pwd)"
pki="${state}/pki"

# --- processes ---------------------------------------------------------------

pid_of() { [[ -f ${state}/pids/$1.pid ]] && cat "${state}/pids/$1.pid"; }

# Running, and still the process we started (a recycled pid would not name our
# state dir on its command line).
alive() {
  local pid
  pid="$(pid_of "$1")" || return 1
  [[ -r /proc/${pid}/cmdline ]] && tr '\0' ' ' <"/proc/${pid}/cmdline" | grep -qF -- "${state}/"
}

# start NAME ARGS...: detached in its own session (it outlives this script and
# any terminal), output to logs/NAME.log, pid to pids/NAME.pid. No fd of ours
# leaks into it: a caller reading our stdout (subprocess.run) would otherwise
# wait for the daemons to exit, and the lock on fd 9 would be held forever.
start() {
  local name="$1"
  shift
  command -v "${name}" >/dev/null || die "${name} not found in ${tools_bin}: run \`make tools\`"
  printf '\n==== %s: %s %s\n' "$(date -u +%FT%TZ)" "${name}" "$*" >>"${state}/logs/${name}.log"
  setsid "${name}" "$@" </dev/null >>"${state}/logs/${name}.log" 2>&1 9>&- &
  echo $! >"${state}/pids/${name}.pid"
}

stop() {
  local name="$1" pid i
  if alive "${name}"; then
    pid="$(pid_of "${name}")"
    kill -TERM "${pid}" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      alive "${name}" || break
      sleep 0.1
    done
    if alive "${name}"; then
      log "${name} (pid ${pid}) ignored SIGTERM for 10s; killing it"
      kill -KILL "${pid}" 2>/dev/null || true
      sleep 0.2
    fi
  fi
  rm -f "${state}/pids/${name}.pid"
}

down() {
  local name leftover i
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop "${COMPONENTS[i]}"; done
  # A component still naming this state dir on its command line is ours (each
  # gets paths in it); a crash mid-`up` could leave one without a pid file.
  leftover="$(leftovers)"
  if [[ -n ${leftover} ]]; then
    log "stopping leftover processes: ${leftover}"
    # shellcheck disable=SC2086 # one pid per word
    kill -KILL ${leftover} 2>/dev/null || true
    sleep 0.2
    leftover="$(leftovers)"
    [[ -z ${leftover} ]] || die "processes still running: ${leftover}"
  fi
  log "down (${state})"
}

# Pids of our components (by executable name) that name this state dir.
leftovers() {
  local pid exe pids=()
  for pid in $(pgrep -f -- "${state}/"); do
    exe="$(readlink "/proc/${pid}/exe" 2>/dev/null)" || continue
    exe="${exe% (deleted)}"
    [[ " ${COMPONENTS[*]} " == *" ${exe##*/} "* ]] && pids+=("${pid}")
  done
  echo "${pids[*]}"
}

# --- ports -------------------------------------------------------------------

listening() {
  ss -Hltn "sport = :$1" | grep -q .
}

# A port nobody listens on, below the kernel's ephemeral range (32768+) so an
# outgoing connection cannot take it between here and the bind.
free_port() {
  local port taken=" $* "
  while :; do
    port=$((20000 + RANDOM % 12000))
    [[ ${taken} == *" ${port} "* ]] && continue
    listening "${port}" || break
  done
  echo "${port}"
}

# port_for NAME OVERRIDE RECORDED TAKEN...: the override from the environment
# (which must be free), else the port an earlier `up` recorded if it is still
# free, else a free one; never one of TAKEN.
port_for() {
  local name="$1" override="$2" recorded="$3"
  shift 3
  if [[ -n ${override} ]]; then
    ! listening "${override}" || die "${name}=${override}: the port is in use"
    echo "${override}"
  elif [[ -n ${recorded} && " $* " != *" ${recorded} "* ]] && ! listening "${recorded}"; then
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

# EC P-256 keys: made in milliseconds, where RSA takes a noticeable while.
new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# cert NAME SUBJECT EXTENSIONS: key and certificate pki/NAME.{key,crt} signed by the CA.
cert() {
  local name="$1" subject="$2" extensions="$3"
  new_key "${pki}/${name}.key"
  openssl req -new -key "${pki}/${name}.key" -subj "${subject}" -out "${pki}/${name}.csr"
  openssl x509 -req -in "${pki}/${name}.csr" -CA "${pki}/ca.crt" -CAkey "${pki}/ca.key" \
    -CAcreateserial -days 3650 -sha256 -out "${pki}/${name}.crt" \
    -extfile <(printf '%s\n' "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "${extensions}") 2>/dev/null
  rm -f "${pki}/${name}.csr"
}

make_pki() {
  local sans="IP:127.0.0.1,DNS:localhost,IP:${SERVICE_IP},DNS:kubernetes,DNS:kubernetes.default"
  sans+=",DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  sans+="${CONTROL_PLANE_EXTRA_SANS:+,${CONTROL_PLANE_EXTRA_SANS}}"
  [[ -f ${pki}/done && "$(<"${pki}/done")" == "${sans}" ]] && return
  log "making certificates in ${pki}"
  rm -rf "${pki}"
  mkdir -p "${pki}"
  chmod 700 "${pki}"
  new_key "${pki}/ca.key"
  openssl req -x509 -new -key "${pki}/ca.key" -subj "/CN=goimage-test-ca" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,digitalSignature,keyCertSign,cRLSign" -out "${pki}/ca.crt"
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
  # controller-manager's token controller, verified by the apiserver.
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "${pki}/sa.key" 2>/dev/null
  openssl pkey -in "${pki}/sa.key" -pubout -out "${pki}/sa.pub"
  echo "${sans}" >"${pki}/done" # what they were made for
}

# kubeconfig FILE USER: a kubeconfig for pki/USER.{crt,key}, certificates inline.
kubeconfig() {
  local file="$1" user="$2"
  cat >"${file}" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: goimage-test
  cluster:
    server: https://127.0.0.1:${APISERVER_PORT}
    certificate-authority-data: $(base64 -w0 "${pki}/ca.crt")
users:
- name: ${user}
  user:
    client-certificate-data: $(base64 -w0 "${pki}/${user}.crt")
    client-key-data: $(base64 -w0 "${pki}/${user}.key")
contexts:
- name: goimage-test
  context:
    cluster: goimage-test
    user: ${user}
current-context: goimage-test
EOF
  chmod 600 "${file}"
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
  local name
  for name in "${COMPONENTS[@]}"; do
    if [[ -f ${state}/logs/${name}.log ]]; then
      log "---- last lines of ${state}/logs/${name}.log"
      tail -n 25 "${state}/logs/${name}.log" >&2
    fi
  done
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
  start etcd \
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
  start kube-apiserver \
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
  start kube-controller-manager \
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
