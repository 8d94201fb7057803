#!/usr/bin/env bash
# `make image`: the operator's own image, built from the repository's
# Dockerfile by a Kaniko Job in the e2e cluster (`make cluster`), pushed to its
# registry as ${REGISTRY}/goimage/goimage-operator:dev. Nothing is pulled from
# outside:
#   - the build context is this checkout's Dockerfile, pyproject.toml, README.md
#     and operator/, published to the node's git server as goimage-operator.git;
#   - the Python base is the node's locally made python-base image (BASE_IMAGE);
#   - crane and oras are compiled in the Dockerfile's oci-tools stage on the
#     node's golang image (GO_IMAGE), their modules from the node's GOPROXY
#     (this machine's Go module cache, where `make tools` put them);
#   - pip installs from a wheelhouse of the operator's dependencies, made here
#     with this machine's pip and served to the build pod over HTTP
#     (PIP_NO_INDEX + PIP_FIND_LINKS).
# Prints the pushed image by digest.
#
# The build is skipped when its inputs are unchanged: the image is also tagged
# ctx-HASH, HASH being a content hash of everything the build reads (the
# context's files and executable bits, the Python base's, golang's and Kaniko's
# digests, the wheelhouse's wheels, the build Job below); when the registry already serves
# that tag, its digest is reused (and :dev pointed at it) instead of running
# Kaniko for about a minute. FORCE_IMAGE_BUILD=1 builds anyway (the build is
# --reproducible, so an unchanged context gives the same digest again).
set -euo pipefail
LOG_TAG=image
# shellcheck source=cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WHEEL_PORT=8420
WHEELHOUSE="${IMAGE_CACHE}/wheelhouse"
NAMESPACE=goimage-images
REPOSITORY="${REGISTRY}/goimage/goimage-operator"
IMAGE="${REPOSITORY}:dev"
KUBECTL="${TOOLS_BIN}/kubectl"

[[ -f ${CLUSTER_DIR}/env ]] || die "no cluster: run make cluster"
# shellcheck disable=SC1091
source "${CLUSTER_DIR}/env"
export KUBECONFIG

# The operator's runtime dependencies, and what pip needs to build the
# package from source (setuptools, wheel), as wheels for this Python (the
# node's python-base is the same 3.11 on the same glibc generation).
wheelhouse() {
  local requirements stamp
  requirements="$(python3 - "${GOIMAGE_ROOT}/pyproject.toml" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    project = tomllib.load(f)
requires = project["build-system"]["requires"] + project["project"]["dependencies"]
print("\n".join(requires))
EOF
)"
  stamp="$(printf '%s\n' "${requirements}" | sha256sum | cut -c1-16)"
  if [[ -f ${WHEELHOUSE}/.stamp && "$(<"${WHEELHOUSE}/.stamp")" == "${stamp}" ]]; then
    return
  fi
  log "making the wheelhouse (${WHEELHOUSE})"
  rm -rf "${WHEELHOUSE}"
  mkdir -p "${WHEELHOUSE}"
  # shellcheck disable=SC2086 # one requirement a line
  printf '%s\n' "${requirements}" >"${WHEELHOUSE}/requirements.txt"
  "${GOIMAGE_ROOT}/.venv/bin/pip" wheel --quiet --wheel-dir "${WHEELHOUSE}" -r "${WHEELHOUSE}/requirements.txt"
  echo "${stamp}" >"${WHEELHOUSE}/.stamp"
}

serve_wheels() {
  local url="http://${GATEWAY}:${WHEEL_PORT}/"
  if daemon_alive wheelhouse && curl -fs --max-time 2 -o /dev/null "${url}"; then
    return
  fi
  daemon_stop wheelhouse
  daemon_start wheelhouse /usr/bin/python3 "${GOIMAGE_ROOT}/cluster/httpd.py" static "${GATEWAY}" "${WHEEL_PORT}" "${WHEELHOUSE}"
  wait_until 10 "the wheelhouse on ${url}" curl -fs --max-time 2 -o /dev/null "${url}"
}

# The build context: the Dockerfile, .dockerignore and what .dockerignore lets
# through, so that an edit elsewhere (tests, docs) leaves the context, its
# hash and the digest unchanged. The forms of .dockerignore read here: `*`
# first, `!PATH` for each path the Dockerfile copies, `**/NAME` for what is
# left out at any depth (bytecode caches, pip's egg-info). Copied into DIR.
make_context() {
  local dir="$1" ignore="${GOIMAGE_ROOT}/.dockerignore" line paths=() excludes=() name
  [[ "$(head -n1 "${ignore}")" == "*" ]] || die "${ignore} must start with '*'"
  while read -r line; do
    case "${line}" in
      '' | '#'* | '*') ;;
      '!'*) paths+=("${line#!}") ;;
      '**/'*) excludes+=("${line#'**/'}") ;;
      *) die "${ignore}: '${line}' is not a form this script reads (*, !PATH, **/NAME)" ;;
    esac
  done <"${ignore}"
  (cd "${GOIMAGE_ROOT}" && cp -r --parents Dockerfile .dockerignore "${paths[@]%/}" "${dir}/")
  for name in "${excludes[@]}"; do
    find "${dir}" -name "${name}" -prune -exec rm -rf {} +
  done
}

# The hash the ctx- tag carries: every input of the build Job, 16 hex digits.
inputs_hash() {
  local context="$1"
  {
    # Paths, types and executable bits (what git, which serves the context to
    # Kaniko, keeps of a mode), then contents.
    (cd "${context}" && find . -mindepth 1 \( -type f -perm -u=x -printf '%P x\n' \) -o -printf '%P %y %l\n' |
      LC_ALL=C sort)
    (cd "${context}" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 -r sha256sum)
    # The images the build runs and starts from, by digest: a rebuilt
    # python-base keeps its tag.
    crane --insecure digest "${PYTHON_BASE_IMAGE}"
    crane --insecure digest "${GOLANG_IMAGE}"
    crane --insecure digest "${KANIKO_IMAGE}"
    # The wheels pip installs from.
    (cd "${WHEELHOUSE}" && find . -maxdepth 1 -name '*.whl' -printf '%P\0' | LC_ALL=C sort -z | xargs -0 -r sha256sum)
    declare -f build_job
  } | sha256sum | cut -c1-16
}

publish_context() {
  "${GOIMAGE_ROOT}/cluster/git-serve.sh" publish "$1" goimage-operator >&2
}

build_job() {
  cat <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: goimage-operator-image
  namespace: ${NAMESPACE}
spec:
  backoffLimit: 0
  activeDeadlineSeconds: 1200
  template:
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      containers:
        - name: kaniko
          image: ${KANIKO_IMAGE}
          args:
            - --context=git://${GATEWAY}:${GIT_PORT}/goimage-operator.git
            - --dockerfile=Dockerfile
            - --destination=${IMAGE}
            - --destination=${REPOSITORY}:${TAG}
            - --build-arg=BASE_IMAGE=${PYTHON_BASE_IMAGE}
            - --build-arg=GO_IMAGE=${GOLANG_IMAGE}
            - --build-arg=GOPROXY=${GOPROXY_URL}
            - --build-arg=PIP_NO_INDEX=1
            - --build-arg=PIP_FIND_LINKS=http://${GATEWAY}:${WHEEL_PORT}/
            - --build-arg=PIP_TRUSTED_HOST=${GATEWAY}
            - --insecure-registry=${REGISTRY}
            - --cache=true
            - --cache-repo=${REGISTRY}/goimage/cache
            - --reproducible
            - --digest-file=/dev/termination-log
          env:
            - {name: GIT_PULL_METHOD, value: http}
          terminationMessagePolicy: FallbackToLogsOnError
EOF
}

main() {
  local started=${SECONDS} context digest
  wheelhouse
  context="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand now: context is local
  trap "rm -rf '${context}'" EXIT
  make_context "${context}"
  TAG="ctx-$(inputs_hash "${context}")"
  if [[ ${FORCE_IMAGE_BUILD:-} != 1 ]] && digest="$(crane --insecure digest "${REPOSITORY}:${TAG}" 2>/dev/null)"; then
    crane --insecure tag "${REPOSITORY}@${digest}" "${IMAGE##*:}" >/dev/null 2>&1 ||
      log "warning: could not point ${IMAGE} at ${digest}"
    log "operator image up to date: ${REPOSITORY}:${TAG} (inputs unchanged)"
    echo "${REPOSITORY}@${digest}"
    return
  fi
  serve_wheels
  publish_context "${context}"
  "${KUBECTL}" create namespace "${NAMESPACE}" --dry-run=client -o yaml | "${KUBECTL}" apply -f - >/dev/null
  "${KUBECTL}" -n "${NAMESPACE}" delete job goimage-operator-image --ignore-not-found --wait=true >/dev/null
  build_job | "${KUBECTL}" apply -f - >/dev/null
  log "building ${REPOSITORY}:${TAG} with Kaniko (kubectl -n ${NAMESPACE} logs -f job/goimage-operator-image)"
  if ! "${KUBECTL}" -n "${NAMESPACE}" wait --for=condition=Complete --timeout=1200s job/goimage-operator-image >/dev/null; then
    "${KUBECTL}" -n "${NAMESPACE}" logs job/goimage-operator-image --tail=40 >&2 || true
    die "the Kaniko build of ${IMAGE} failed"
  fi
  digest="$("${KUBECTL}" -n "${NAMESPACE}" get pods -l job-name=goimage-operator-image \
    -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.message}')"
  log "built in $((SECONDS - started))s"
  echo "${REPOSITORY}@${digest}"
}

main "$@"
