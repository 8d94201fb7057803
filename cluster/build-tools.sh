#!/usr/bin/env bash
# Build the Kubernetes tool binaries the test tiers run on, from pinned Go
# modules, into DEST_DIR/bin:
#
#   cluster/build-tools.sh DEST_DIR [NAME...]
#
# NAME is any of: etcd kube-apiserver kube-controller-manager kube-scheduler
# kubelet kubectl helm crane oras registry (default: all of them), or crictl,
# which is built only when named (the e2e node's cluster/cluster.sh needs it;
# nothing else does). crane and oras are the OCI clients the operator image's
# publish step runs; registry is the node's OCI registry (CNCF Distribution
# with the referrers API, cluster/tools/registry/main.go), which the
# integration tier can run on loopback too.
#
# The versions live in the wrapper modules
# cluster/tools/{etcd,kube,helm,crane,oras,registry,crictl}/go.mod (with their
# go.sum): nothing here is fetched unpinned. Each binary gets a
# stamp, DEST_DIR/stamps/NAME, recording what it was built from (module
# version and a hash of the wrapper's go.mod, go.sum, Go files and build flags); a binary
# whose stamp matches is not rebuilt, so a warm run takes about a second.
# Binaries that share a module are built by one `go build`, which compiles the
# shared packages once.
set -euo pipefail

ALL_TOOLS=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl helm crane oras registry)
EXTRA_TOOLS=(crictl) # built only when named

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_TAG=build-tools
# shellcheck source=cluster/common.sh
source "${here}/common.sh"

[[ $# -ge 1 ]] || die "usage: $0 DEST_DIR [$(IFS='|'; echo "${ALL_TOOLS[*]} ${EXTRA_TOOLS[*]}")...]"
dest="$1"
shift
wanted=("$@")
[[ ${#wanted[@]} -gt 0 ]] || wanted=("${ALL_TOOLS[@]}")
for name in "${wanted[@]}"; do
  [[ " ${ALL_TOOLS[*]} ${EXTRA_TOOLS[*]} " == *" ${name} "* ]] ||
    die "unknown tool '${name}' (known: ${ALL_TOOLS[*]} ${EXTRA_TOOLS[*]})"
done

command -v go >/dev/null || die "go is not on PATH (Go 1.26 or newer is needed)"
export GOTOOLCHAIN=local
# Static binaries: nothing here needs cgo, and static ones run on any node.
export CGO_ENABLED=0

mkdir -p "${dest}/bin" "${dest}/stamps"
dest="$(cd "${dest}" && pwd)"

# Two concurrent runs (say, two make targets) must not build over each other.
exec 9>"${dest}/.lock"
flock 9

# The module version a wrapper go.mod pins, e.g. `pinned kube k8s.io/kubernetes`.
pinned() {
  awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit }' "${here}/tools/$1/go.mod"
}

kube_version="$(pinned kube k8s.io/kubernetes)"
etcd_version="$(pinned etcd go.etcd.io/etcd/server/v3)"
[[ -n ${kube_version} ]] || die "no k8s.io/kubernetes version in cluster/tools/kube/go.mod"
[[ -n ${etcd_version} ]] || die "no go.etcd.io/etcd/server/v3 version in cluster/tools/etcd/go.mod"
helm_version="$(pinned helm helm.sh/helm/v3)"
crane_version="$(pinned crane github.com/google/go-containerregistry)"
[[ -n ${helm_version} ]] || die "no helm.sh/helm/v3 version in cluster/tools/helm/go.mod"
[[ -n ${crane_version} ]] || die "no go-containerregistry version in cluster/tools/crane/go.mod"
crictl_version="$(pinned crictl sigs.k8s.io/cri-tools)"
[[ -n ${crictl_version} ]] || die "no sigs.k8s.io/cri-tools version in cluster/tools/crictl/go.mod"
oras_version="$(pinned oras oras.land/oras)"
[[ -n ${oras_version} ]] || die "no oras.land/oras version in cluster/tools/oras/go.mod"
registry_version="$(pinned registry github.com/distribution/distribution/v3)"
[[ -n ${registry_version} ]] || die "no distribution/v3 version in cluster/tools/registry/go.mod"

# Version stamps, the way kubernetes' hack/lib/version.sh sets them; without
# them every binary reports v0.0.0 and Helm's kubeVersion checks fail.
# buildDate is the release tag's date (from the module proxy), so builds are
# reproducible; the module zip carries no git commit.
kube_major="${kube_version#v}"
kube_major="${kube_major%%.*}"
kube_minor="${kube_version#v*.}"
kube_minor="${kube_minor%%.*}"
kube_build_date="2026-02-10T12:53:36Z"
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X ${pkg}.gitVersion=${kube_version}"
  kube_ldflags+=" -X ${pkg}.gitMajor=${kube_major}"
  kube_ldflags+=" -X ${pkg}.gitMinor=${kube_minor}"
  kube_ldflags+=" -X ${pkg}.gitTreeState=clean"
  kube_ldflags+=" -X ${pkg}.buildDate=${kube_build_date}"
done
etcd_ldflags="-s -w"
# helm reports this version, and its kubeVersion checks read the server's.
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${helm_version}"
# Like helm's own Makefile: its default Kubernetes version (for `helm template`
# and `helm lint` without a cluster) is that of the client-go it is built with.
helm_kube_minor="$(pinned helm k8s.io/client-go)"
helm_kube_minor="${helm_kube_minor#v0.}"
helm_kube_minor="${helm_kube_minor%%.*}"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  helm_ldflags+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${helm_kube_minor}"
done
crane_ldflags="-s -w -X github.com/google/go-containerregistry/cmd/crane/cmd.Version=${crane_version}"
crictl_ldflags="-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=${crictl_version}"
# oras reads its version from the binary's build information.
oras_ldflags="-s -w"
# Distribution's own version stamp (its /v2/ answers and logs carry it).
registry_ldflags="-s -w -X github.com/distribution/distribution/v3/version.version=${registry_version}"

module_of() {
  case "$1" in
    etcd | helm | crane | crictl | oras | registry) echo "$1" ;;
    *) echo kube ;;
  esac
}
version_of_module() {
  case "$1" in
    etcd) echo "${etcd_version}" ;;
    helm) echo "${helm_version}" ;;
    crane) echo "${crane_version}" ;;
    crictl) echo "${crictl_version}" ;;
    oras) echo "${oras_version}" ;;
    registry) echo "${registry_version}" ;;
    *) echo "${kube_version}" ;;
  esac
}
ldflags_of_module() {
  case "$1" in
    etcd) echo "${etcd_ldflags}" ;;
    helm) echo "${helm_ldflags}" ;;
    crane) echo "${crane_ldflags}" ;;
    crictl) echo "${crictl_ldflags}" ;;
    oras) echo "${oras_ldflags}" ;;
    registry) echo "${registry_ldflags}" ;;
    *) echo "${kube_ldflags}" ;;
  esac
}
package_of() {
  case "$1" in
    etcd) echo go.etcd.io/etcd/server/v3 ;;
    helm) echo helm.sh/helm/v3/cmd/helm ;;
    crane) echo github.com/google/go-containerregistry/cmd/crane ;;
    crictl) echo sigs.k8s.io/cri-tools/cmd/crictl ;;
    oras) echo oras.land/oras/cmd/oras ;;
    # Not a wrapper: the module's own main package (main.go).
    registry) echo goimage.dev/cluster/tools/registry ;;
    *) echo "k8s.io/kubernetes/cmd/$1" ;;
  esac
}

# What a binary is built from; a change to any of it rebuilds the binary.
stamp_of() {
  local name="$1" module version flags
  module="$(module_of "${name}")"
  version="$(version_of_module "${module}")"
  flags="$(ldflags_of_module "${module}")"
  # (Go files: only registry's module has any; for the others the hash is as before.)
  # shellcheck disable=SC2046 # one path per word (no spaces in cluster/tools)
  printf '%s %s %s\n' "${name}" "${version}" "$(
    cat "${here}/tools/${module}/go.mod" "${here}/tools/${module}/go.sum" \
      $(find "${here}/tools/${module}" -maxdepth 1 -name '*.go' | LC_ALL=C sort) - <<<"${flags} cgo=${CGO_ENABLED}" |
      sha256sum | cut -c1-16
  )"
}

up_to_date() {
  [[ -x ${dest}/bin/$1 && -f ${dest}/stamps/$1 ]] && [[ "$(<"${dest}/stamps/$1")" == "$(stamp_of "$1")" ]]
}

# build MODULE NAME...: one `go build` for all the module's binaries, into a
# scratch folder, then moved into place (a running binary is replaced, not
# overwritten) and stamped.
build() {
  local module="$1" flags start pkgs=() name
  shift
  flags="$(ldflags_of_module "${module}")"
  for name in "$@"; do pkgs+=("$(package_of "${name}")"); done
  local scratch="${dest}/.build-${module}"
  rm -rf "${scratch}"
  mkdir -p "${scratch}"
  start=${SECONDS}
  log "building $* (${module} $(version_of_module "${module}")) ..."
  # A lone binary gets its name spelled out: etcd's main package is
  # go.etcd.io/etcd/server/v3, which go would name "server".
  local out="${scratch}/"
  [[ $# -gt 1 ]] || out="${scratch}/$1"
  (cd "${here}/tools/${module}" && go build -trimpath -ldflags="${flags}" -o "${out}" "${pkgs[@]}")
  for name in "$@"; do
    mv -f "${scratch}/${name}" "${dest}/bin/${name}"
    stamp_of "${name}" >"${dest}/stamps/${name}"
  done
  rm -rf "${scratch}"
  log "built $* in $((SECONDS - start))s"
}

total_start=${SECONDS}
log "go: $(go version | cut -d' ' -f3-); into ${dest}/bin"
for module in etcd kube helm crane oras registry crictl; do
  todo=()
  for name in "${wanted[@]}"; do
    [[ $(module_of "${name}") == "${module}" ]] || continue
    if up_to_date "${name}"; then
      log "${name}: up to date ($(cut -d' ' -f2 <"${dest}/stamps/${name}"))"
    else
      todo+=("${name}")
    fi
  done
  [[ ${#todo[@]} -eq 0 ]] || build "${module}" "${todo[@]}"
done
log "done in $((SECONDS - total_start))s: ${wanted[*]}"
