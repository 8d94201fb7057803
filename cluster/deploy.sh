#!/usr/bin/env bash
# `make deploy`: install the operator into the e2e cluster with the Helm chart,
# as a user would: its own Deployment, ServiceAccount and RBAC. The image is
# the one `make image` built (pinned by digest), builds run the node's local
# Kaniko, and Docker Hub and gcr.io names resolve to the node's registry
# (registryMirrors / registryMaps: the same settings a user behind a
# pull-through cache sets).
#
#   cluster/deploy.sh IMAGE@DIGEST
set -euo pipefail
LOG_TAG=deploy
# shellcheck source=cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -eq 1 && $1 == *@sha256:* ]] || die "usage: $0 IMAGE@sha256:DIGEST (what make image prints)"
[[ -f ${CLUSTER_DIR}/env ]] || die "no cluster: run make cluster"
# shellcheck disable=SC1091
source "${CLUSTER_DIR}/env"
export KUBECONFIG
image="$1"
repository="${image%@*}"
# Drop a tag, if any: only a ':' in the last path element is one (a registry has ports).
[[ ${repository##*/} == *:* ]] && repository="${repository%:*}"
digest="${image#*@}"
chart="${GOIMAGE_ROOT}/charts/goimage-operator"

# Helm installs crds/ only on the first install and never upgrades them.
"${TOOLS_BIN}/kubectl" apply --server-side --force-conflicts -f "${chart}/crds/" >/dev/null
"${TOOLS_BIN}/helm" upgrade --install goimage-operator "${chart}" \
  --namespace goimage-system --create-namespace \
  --set image.repository="${repository}" \
  --set image.tag="dev@${digest}" \
  --set kaniko.image="${KANIKO_IMAGE}" \
  --set "registryMirrors={${REGISTRY}}" \
  --set "registryMaps={gcr.io=${REGISTRY}}" \
  --set "insecureRegistries={${REGISTRY}}" \
  --set logFormat=json \
  --wait --timeout 5m >&2
"${TOOLS_BIN}/kubectl" -n goimage-system rollout status deployment/goimage-operator --timeout=120s >&2
log "the operator runs as $(
  "${TOOLS_BIN}/kubectl" -n goimage-system get pods -l app.kubernetes.io/name=goimage-operator \
    -o jsonpath='{.items[0].metadata.name} (serviceAccount {.items[0].spec.serviceAccountName})'
)"
