# shellcheck shell=bash
# What every script in cluster/ shares, sourced, never run: logging, Debian
# packages, daemons kept by pid file, waiting, ports, certificates and
# kubeconfigs. Nothing here knows the e2e node (cluster/lib.sh does) or any
# fixed directory: a script names its own.
#
#   LOG_TAG     the prefix of log lines (default: the script's name)
#   DAEMON_DIR  where daemon_* keep logs/NAME.log and pids/NAME.{pid,cmd}

log() { printf '%s: %s\n' "${LOG_TAG:-${0##*/}}" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# --- Debian packages -----------------------------------------------------------

# ensure_packages PACKAGE...: apt-get installs those not installed yet (as
# root, or through sudo when there is one); nothing is run when all are there.
ensure_packages() {
  local missing=() pkg sudo=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q 'install ok installed' || missing+=("${pkg}")
  done
  [[ ${#missing[@]} -gt 0 ]] || return 0
  if [[ ${EUID} -ne 0 ]]; then
    command -v sudo >/dev/null || die "Debian packages missing: ${missing[*]} (install them as root)"
    sudo=(sudo)
  fi
  log "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- daemons -------------------------------------------------------------------
# Each daemon runs detached in its own session (it outlives the script and any
# terminal), logs to DAEMON_DIR/logs/NAME.log, and has pids/NAME.pid plus
# pids/NAME.cmd, its exact command line: a pid counts as ours only while
# /proc/PID/cmdline still matches, so a recycled pid is never signalled.

daemon_pid() { [[ -f ${DAEMON_DIR}/pids/$1.pid ]] && echo "$(<"${DAEMON_DIR}/pids/$1.pid")"; }

daemon_alive() {
  local pid
  pid="$(daemon_pid "$1")" || return 1
  # (Not cmp -s: it trusts st_size, which is 0 for every /proc file.)
  [[ -r /proc/${pid}/cmdline && -f ${DAEMON_DIR}/pids/$1.cmd ]] &&
    [[ "$(tr '\0' '\n' <"/proc/${pid}/cmdline" 2>/dev/null)" == "$(tr '\0' '\n' <"${DAEMON_DIR}/pids/$1.cmd")" ]]
}

# daemon_start NAME COMMAND ARGS...: no fd of ours leaks into it (a caller
# reading our stdout, such as subprocess.run, would wait for the daemon, and
# the lock files on fds 7-9 would stay locked as long as it runs).
daemon_start() {
  local name="$1"
  shift
  mkdir -p "${DAEMON_DIR}/logs" "${DAEMON_DIR}/pids"
  printf '\n==== %s: %s\n' "$(date -u +%FT%TZ)" "$*" >>"${DAEMON_DIR}/logs/${name}.log"
  # setsid execs the command (this shell's background child leads no process
  # group), so $! is the daemon's pid and its argv is exactly "$@".
  setsid "$@" </dev/null >>"${DAEMON_DIR}/logs/${name}.log" 2>&1 7>&- 8>&- 9>&- &
  echo $! >"${DAEMON_DIR}/pids/${name}.pid"
  printf '%s\0' "$@" >"${DAEMON_DIR}/pids/${name}.cmd"
}

# pid_running PID: the process exists and has not exited. (An exited one
# stays a zombie until its parent, here often a slow init, reaps it.)
pid_running() {
  local stat
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  stat="${stat##*) }" # after "PID (COMM) ", COMM being anything
  [[ ${stat:0:1} != Z ]]
}

# stop_pids SECONDS PID...: SIGTERM, then SIGKILL to those still running
# after SECONDS. The caller has made sure the pids are its own.
stop_pids() {
  local grace="$1" pid i left
  shift
  [[ $# -gt 0 ]] || return 0
  kill -TERM "$@" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    left=()
    for pid in "$@"; do pid_running "${pid}" && left+=("${pid}"); done
    [[ ${#left[@]} -gt 0 ]] || return 0
    sleep 0.1
  done
  log "pid ${left[*]} ignored SIGTERM for ${grace}s; killing"
  kill -KILL "${left[@]}" 2>/dev/null || true
  sleep 0.2
}

# daemon_stop NAME [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 10).
daemon_stop() {
  local name="$1" grace="${2:-10}"
  if daemon_alive "${name}"; then
    stop_pids "${grace}" "$(daemon_pid "${name}")"
  fi
  rm -f "${DAEMON_DIR}/pids/${name}".{pid,cmd,config}
}

# daemon_log_tail NAME...: the last lines of each daemon's log, to stderr.
daemon_log_tail() {
  local name
  for name in "$@"; do
    [[ -f ${DAEMON_DIR}/logs/${name}.log ]] || continue
    log "---- last lines of ${DAEMON_DIR}/logs/${name}.log"
    tail -n 25 "${DAEMON_DIR}/logs/${name}.log" >&2
  done
}

# --- waiting and ports -----------------------------------------------------------

# wait_until SECONDS WHAT COMMAND...: poll COMMAND; on timeout, fail naming WHAT.
wait_until() {
  local limit=$((SECONDS + $1)) what="$2"
  shift 2
  until "$@"; do
    ((SECONDS < limit)) || die "timed out waiting for ${what}"
    sleep 0.2
  done
}

# listening_on ADDRESS:PORT: something listens there.
listening_on() { ss -Hltn "src $1" | grep -q .; }

# port_taken PORT: something listens on PORT, on any address.
port_taken() { ss -Hltn "sport = :$1" | grep -q .; }

# free_port [TAKEN...]: a port nobody listens on and not one of TAKEN, below
# the kernel's ephemeral range (32768+) so an outgoing connection cannot take
# it between here and the bind.
free_port() {
  local port taken=" $* "
  while :; do
    port=$((20000 + RANDOM % 12000))
    [[ ${taken} == *" ${port} "* ]] && continue
    port_taken "${port}" || break
  done
  echo "${port}"
}

# --- certificates and kubeconfigs --------------------------------------------------

# new_key FILE: an EC P-256 key, made in milliseconds where RSA takes a
# noticeable while.
new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# new_ca DIR CN: DIR/ca.{key,crt}, a self-signed CA.
new_ca() {
  new_key "$1/ca.key"
  openssl req -x509 -new -key "$1/ca.key" -subj "/CN=$2" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,digitalSignature,keyCertSign,cRLSign" -out "$1/ca.crt"
}

# sign_cert CA_DIR DIR NAME SUBJECT EXTENSIONS: DIR/NAME.{key,crt}, an EC key
# and a leaf certificate signed by CA_DIR/ca.{crt,key}, in one openssl call;
# EXTENSIONS are openssl extension lines (extendedKeyUsage, subjectAltName).
sign_cert() {
  local ca="$1" dir="$2" name="$3" subject="$4" line extensions=()
  while IFS= read -r line; do
    [[ -z ${line} ]] || extensions+=(-addext "${line}")
  done <<<"$5"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc \
    -keyout "${dir}/${name}.key" -out "${dir}/${name}.crt" -subj "${subject}" \
    -CA "${ca}/ca.crt" -CAkey "${ca}/ca.key" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature,keyEncipherment" "${extensions[@]}" 2>/dev/null
}

# write_kubeconfig FILE SERVER CA_CRT USER CRT KEY: a kubeconfig for one
# client certificate, the certificates inline, readable by its owner only.
write_kubeconfig() {
  local file="$1" server="$2" ca="$3" user="$4" crt="$5" key="$6"
  cat >"${file}" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: goimage-test
  cluster:
    server: ${server}
    certificate-authority-data: $(base64 -w0 "${ca}")
users:
- name: ${user}
  user:
    client-certificate-data: $(base64 -w0 "${crt}")
    client-key-data: $(base64 -w0 "${key}")
contexts:
- name: goimage-test
  context:
    cluster: goimage-test
    user: ${user}
current-context: goimage-test
EOF
  chmod 600 "${file}"
}
