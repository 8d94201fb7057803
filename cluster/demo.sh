#!/usr/bin/env bash
# `make demo`: after `make deploy`, the whole path a user walks. A sample Go
# app (examples/hello) is served from the node's git server; its GoImageBuild
# is applied; the operator renders the Dockerfile and runs Kaniko, which
# clones, builds and pushes; the status shows the digest and size; and the
# built image runs in the cluster, like `docker run --rm hello --help`.
set -euo pipefail
LOG_TAG=demo
# shellcheck source=cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -f ${CLUSTER_DIR}/env ]] || die "no cluster: run make deploy"
# shellcheck disable=SC1091
source "${CLUSTER_DIR}/env"
export KUBECONFIG
kubectl() { "${TOOLS_BIN}/kubectl" "$@"; }
NS=goimage-demo
APP=hello
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "serving examples/${APP} from the node's git server"
"${GOIMAGE_ROOT}/cluster/git-serve.sh" publish "${GOIMAGE_ROOT}/examples/${APP}" "${APP}"

say "applying examples/${APP}/goimagebuild.yaml (git URL and registry pointed at this node)"
kubectl create namespace "${NS}" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
sed -e "s|http://git.example.com/examples/|${GIT_SERVER}/|" \
  -e "s|registry.example.com/examples/|${REGISTRY}/examples/|" \
  "${GOIMAGE_ROOT}/examples/${APP}/goimagebuild.yaml" >"${CLUSTER_DIR}/demo-${APP}.yaml"
# A fresh build every time the demo runs.
kubectl -n "${NS}" delete goimagebuild "${APP}" --ignore-not-found --wait=true >/dev/null
kubectl -n "${NS}" apply -f "${CLUSTER_DIR}/demo-${APP}.yaml"

say "following the build (kubectl -n ${NS} get gib ${APP} -w)"
last=""
for _ in $(seq 1 600); do
  line="$(kubectl -n "${NS}" get gib "${APP}" --no-headers \
    -o custom-columns='NAME:.metadata.name,PHASE:.status.phase,READY:.status.conditions[?(@.type=="Ready")].message' \
    2>/dev/null || true)"
  [[ ${line} == "${last}" ]] || { echo "${line}"; last="${line}"; }
  phase="$(kubectl -n "${NS}" get gib "${APP}" -o jsonpath='{.status.phase}')"
  [[ ${phase} == Succeeded || ${phase} == Failed ]] && break
  sleep 1
done

say "status"
kubectl -n "${NS}" get gib "${APP}" -o jsonpath='phase:      {.status.phase}
image:      {.status.image}
digest:     {.status.digest}
size:       {.status.size} bytes ({.status.sizeHuman})
tags:       {.status.tags}
ready:      {.status.conditions[?(@.type=="Ready")].status} ({.status.conditions[?(@.type=="Ready")].message})
'
echo
[[ ${phase} == Succeeded ]] || {
  kubectl -n "${NS}" get gib "${APP}" -o jsonpath='{.status.failure.reason}: {.status.failure.message}{"\n"}'
  die "the build did not succeed"
}

image="$(kubectl -n "${NS}" get gib "${APP}" -o jsonpath='{.status.image}')"
kubectl -n "${NS}" delete pod "${APP}-help" "${APP}-run" --ignore-not-found --wait=true >/dev/null
run() { # run NAME ARGS...: the image as a pod; its output
  local name="$1"
  shift
  kubectl -n "${NS}" run "${name}" --image="${image}" --restart=Never ${1+--} "$@" >/dev/null
  kubectl -n "${NS}" wait --for=jsonpath='{.status.phase}'=Succeeded --timeout=120s "pod/${name}" >/dev/null
  kubectl -n "${NS}" logs "${name}"
}
say "running the image: kubectl run --image=${image} -- --help"
run "${APP}-help" --help
say "and with its default arguments (spec.runtime.args)"
run "${APP}-run"
kubectl -n "${NS}" delete pod "${APP}-help" "${APP}-run" --wait=false >/dev/null
