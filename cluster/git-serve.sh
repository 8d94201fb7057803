#!/usr/bin/env bash
# The e2e node's git server: git's smart HTTP protocol (read-only, through
# `git http-backend` behind cluster/httpd.py) on the pod bridge's gateway, for
# Kaniko's git contexts (git://GATEWAY:PORT/NAME.git with GIT_PULL_METHOD=http).
#
#   cluster/git-serve.sh start              start it (cluster.sh up does)
#   cluster/git-serve.sh stop               stop it
#   cluster/git-serve.sh status             exit 0 if it serves
#   cluster/git-serve.sh publish DIR NAME [BRANCH]
#       commit the files of DIR (or, if DIR is a git work tree's top, its HEAD) to
#       branch BRANCH (default main) of the bare repository NAME.git, replacing
#       what was there; prints the clone URL and the commit. Commits of a plain
#       folder have a fixed author and date, so the same files give the same
#       commit (and Kaniko's --reproducible build the same digest).
#
# The repositories live in .cluster/git/; the server listens on GATEWAY:GIT_PORT
# (cluster/lib.sh), so the bridge must exist (`cluster.sh up` makes it).
set -euo pipefail
LOG_TAG=git-serve
# shellcheck source=cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GIT_ROOT="${CLUSTER_DIR}/git"
GIT_URL="http://${GATEWAY}:${GIT_PORT}"

serving() { curl -fs --max-time 2 -o /dev/null "${GIT_URL}/health.git/info/refs?service=git-upload-pack" 2>/dev/null; }

start() {
  if daemon_alive git-server && serving; then
    return
  fi
  daemon_stop git-server
  ip -br addr show dev "${BRIDGE}" 2>/dev/null | grep -qF " ${GATEWAY}/" ||
    die "${GATEWAY} is not on ${BRIDGE}: run cluster/cluster.sh up"
  ! listening_on "${GATEWAY}:${GIT_PORT}" || die "${GATEWAY}:${GIT_PORT} is taken by another process"
  mkdir -p "${GIT_ROOT}"
  # A repository that is always there, for the health check.
  [[ -d ${GIT_ROOT}/health.git ]] || git init -q --bare "${GIT_ROOT}/health.git"
  daemon_start git-server /usr/bin/python3 "${GOIMAGE_ROOT}/cluster/httpd.py" git "${GATEWAY}" "${GIT_PORT}" "${GIT_ROOT}"
  wait_until 10 "the git server on ${GIT_URL}" serving
  log "serving ${GIT_ROOT} on ${GIT_URL}"
}

publish() {
  local dir="$1" name="$2" branch="${3:-main}" bare work commit
  [[ -d ${dir} ]] || die "no such directory: ${dir}"
  [[ ${name} =~ ^[A-Za-z0-9][A-Za-z0-9._/-]*$ && ${name} != *..* ]] || die "bad repository name: ${name}"
  bare="${GIT_ROOT}/${name}.git"
  if [[ ! -d ${bare} ]]; then
    mkdir -p "$(dirname "${bare}")"
    git init -q --bare --initial-branch="${branch}" "${bare}"
  fi
  # A work tree's own top folder: its HEAD. Any other folder (one inside a
  # repository, such as examples/hello, too): its files.
  if [[ "$(git -C "${dir}" rev-parse --show-toplevel 2>/dev/null)" == "$(cd "${dir}" && pwd -P)" ]]; then
    git -C "${dir}" push -q --force "${bare}" "HEAD:refs/heads/${branch}"
    commit="$(git -C "${dir}" rev-parse HEAD)"
  else
    work="$(mktemp -d)"
    # shellcheck disable=SC2064 # expand now: work is local
    trap "rm -rf '${work}'" RETURN
    cp -a "${dir}/." "${work}/"
    export GIT_AUTHOR_NAME=goimage-e2e GIT_AUTHOR_EMAIL=e2e@goimage.invalid
    export GIT_COMMITTER_NAME=goimage-e2e GIT_COMMITTER_EMAIL=e2e@goimage.invalid
    export GIT_AUTHOR_DATE="2000-01-01T00:00:00Z" GIT_COMMITTER_DATE="2000-01-01T00:00:00Z"
    git -C "${work}" init -q --initial-branch="${branch}"
    git -C "${work}" add -A
    git -C "${work}" -c commit.gpgsign=false commit -q -m "publish ${name}"
    git -C "${work}" push -q --force "${bare}" "HEAD:refs/heads/${branch}"
    commit="$(git -C "${work}" rev-parse HEAD)"
  fi
  printf '%s/%s.git %s\n' "${GIT_URL}" "${name}" "${commit}"
}

case "${1:-}" in
  start) start ;;
  stop) daemon_stop git-server ;;
  status) daemon_alive git-server && serving ;;
  publish)
    [[ $# -ge 3 && $# -le 4 ]] || die "usage: $0 publish DIR NAME [BRANCH]"
    publish "${@:2}"
    ;;
  *) die "usage: $0 start|stop|status|publish DIR NAME [BRANCH]" ;;
esac
