#!/usr/bin/env bash
# `make image`: the operator's own image, built from the repository's
# Dockerfile by a Kaniko Job in the e2e cluster (`make cluster`), pushed to its
# registry as ${REGISTRY}/goimage/goimage-operator:dev. Nothing is pulled from
# outside:
#   - the build context is this checkout's Dockerfile, pyproject.toml, README.md
#     and operator/, published to the node's git server as goimage-operator.git;
#   - the Python base is the node's locally made python-base image (BASE_IMAGE);
#   - pip installs from a wheelhouse of the operator's dependencies, made here
#     with this machine's pip and served to the build pod over HTTP
#     (PIP_NO_INDEX + PIP_FIND_LINKS).
# Prints the pushed image by digest. Idempotent: an unchanged context hits
# Kaniko's layer cache and gives the same digest (--reproducible).
set -euo pipefail
LOG_TAG=image
# shellcheck source=cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WHEEL_PORT=8420
WHEELHOUSE="${IMAGE_CACHE}/wheelhouse"
NAMESPACE=goimage-images
IMAGE="${REGISTRY}/goimage/goimage-operator:dev"
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

# Only what the Dockerfile copies, so that an edit elsewhere (tests, docs)
# leaves the context, and so the digest, unchanged.
publish_context() {
  local context
  context="$(mktemp -d)"
  cp -r "${GOIMAGE_ROOT}"/{Dockerfile,.dockerignore,pyproject.toml,README.md,operator} "${context}/"
  find "${context}" -name __pycache__ -prune -exec rm -rf {} +
  "${GOIMAGE_ROOT}/cluster/git-serve.sh" publish "${context}" goimage-operator >&2
  rm -rf "${context}"
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
            - --build-arg=BASE_IMAGE=${PYTHON_BASE_IMAGE}
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
  local started=${SECONDS} digest
  wheelhouse
  serve_wheels
  publish_context
  "${KUBECTL}" create namespace "${NAMESPACE}" --dry-run=client -o yaml | "${KUBECTL}" apply -f - >/dev/null
  "${KUBECTL}" -n "${NAMESPACE}" delete job goimage-operator-image --ignore-not-found --wait=true >/dev/null
  build_job | "${KUBECTL}" apply -f - >/dev/null
  log "building ${IMAGE} with Kaniko (kubectl -n ${NAMESPACE} logs -f job/goimage-operator-image)"
  if ! "${KUBECTL}" -n "${NAMESPACE}" wait --for=condition=Complete --timeout=1200s job/goimage-operator-image >/dev/null; then
    "${KUBECTL}" -n "${NAMESPACE}" logs job/goimage-operator-image --tail=40 >&2 || true
    die "the Kaniko build of ${IMAGE} failed"
  fi
  digest="$("${KUBECTL}" -n "${NAMESPACE}" get pods -l job-name=goimage-operator-image \
    -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.message}')"
  log "built in $((SECONDS - started))s"
  echo "${IMAGE%:*}@${digest}"
}

main "$@"
