#!/usr/bin/env bash
# The e2e node's images, made on this machine (nothing is pulled from outside)
# and pushed to its registry:
#
#   cluster/images.sh [NAME...]     (default: all; `cluster.sh up` and `make images` run it)
#
#   pause        REGISTRY/pause:3.10.1            gcc -static of pause.c from the k8s.io/kubernetes module
#   kaniko       REGISTRY/goimage/kaniko-executor:v1.24.0
#                                                 the executor from its Go module, laid out like upstream's image
#   golang       REGISTRY/library/golang:1.26 (and -bookworm, 1.26.N, 1.26.N-bookworm)
#                                                 this machine's Go on a Debian bookworm userland; what Kaniko
#                                                 finds for `golang:1.26` with --registry-mirror=REGISTRY
#   distroless   REGISTRY/distroless/{static,base}-debian12:nonroot
#                                                 what Kaniko finds for gcr.io/distroless/... with
#                                                 --registry-map=gcr.io=REGISTRY; static is an OCI
#                                                 image index of linux/amd64 and linux/arm64 (also
#                                                 tagged nonroot-amd64, nonroot-arm64), base amd64 only
#   python-base  REGISTRY/goimage/python-base:3.11  Debian's python3 and python3-venv, for the operator's image
#
# The Debian userlands come from debootstrap (--variant=minbase, bookworm, from
# the mirror apt uses). Images are assembled with crane (append, mutate), and
# each is kept as an OCI layout under .tools/images/NAME/ with a stamp of what
# it was made from: the text of its build function and its inputs' versions
# and hashes. An image whose stamp matches is not rebuilt, only pushed again
# if the registry lacks it (the registry keeps what it stores on disk, in
# .cluster/registry: a registry made anew, after `rm -rf .cluster`, gets every
# image back from these layouts in seconds). The registry must be serving
# (`cluster.sh up` starts it first).
set -euo pipefail
LOG_TAG=images
# shellcheck source=cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL_IMAGES=(pause kaniko golang distroless python-base)
KANIKO_MODULE=github.com/GoogleContainerTools/kaniko
SUITE=bookworm
# What every image's layers are stamped with: no wall clock, so the same
# inputs give the same digests.
export SOURCE_DATE_EPOCH=0

# crane against the local plain-HTTP registry; its progress lines (a line a
# blob) are shown only when it fails.
crn() {
  local err status=0
  err="$(mktemp)"
  crane --insecure "$@" 2>"${err}" || status=$?
  [[ ${status} -eq 0 ]] || cat "${err}" >&2
  rm -f "${err}"
  return "${status}"
}

# The Debian mirror apt uses here (deb822 or one-line sources), else Debian's CDN.
debian_mirror() {
  local uri
  uri="$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
  [[ -n ${uri} ]] || uri="$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)"
  echo "${uri:-http://deb.debian.org/debian}"
}

go_version() { go env GOVERSION; }     # go1.26.8
go_minor() { go_version | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/'; } # 1.26
# Where the pinned k8s.io/kubernetes module is (downloaded if it is not yet).
kube_module_dir() {
  (cd "${GOIMAGE_ROOT}/cluster/tools/kube" && go mod download -json k8s.io/kubernetes) |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}
kaniko_version() { awk -v m="${KANIKO_MODULE}" '$1 == m { print $2; exit }' "${GOIMAGE_ROOT}/cluster/tools/kaniko/go.mod"; }

# mklayer DIR OUT.tar.gz: DIR's contents as a layer, entries sorted and named
# without a leading ./, owners kept (numeric), so rebuilding gives the same bytes.
mklayer() {
  local dir="$1" out="$2"
  (cd "${dir}" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort) >"${out}.list"
  tar -C "${dir}" --no-recursion --numeric-owner -cf - -T "${out}.list" | gzip -n >"${out}.tmp"
  mv -f "${out}.tmp" "${out}"
  rm -f "${out}.list"
}

# assemble REF CONFIG_FLAGS... -- LAYERS...: a linux/amd64 image of LAYERS on
# an empty (OCI) base, with crane mutate's config flags, tagged REF. The
# intermediate image lives under goimage/scratch.
assemble() {
  local ref="$1" flags=() layers=() scratch
  shift
  while [[ $1 != -- ]]; do
    flags+=("$1")
    shift
  done
  shift
  for layer in "$@"; do layers+=(-f "${layer}"); done
  scratch="${REGISTRY}/goimage/scratch:$(printf '%s' "${ref}" | sha256sum | cut -c1-16)"
  crn append --oci-empty-base "${layers[@]}" -t "${scratch}" >/dev/null
  crn mutate "${scratch}" --set-platform linux/amd64 "${flags[@]}" -t "${ref}" >/dev/null
}

# --- Debian userlands --------------------------------------------------------

# rootfs NAME PACKAGES: a debootstrap'd bookworm (minbase plus PACKAGES,
# comma-separated) in .tools/images/rootfs-NAME/root, and as one layer in
# .../layer.tar.gz. Kept until the package list (or this function) changes.
rootfs() {
  local name="$1" packages="$2" dir stamp start
  dir="${IMAGE_CACHE}/rootfs-${name}"
  stamp="$(printf '%s\n' "${SUITE}" "${packages}" "$(declare -f rootfs mklayer)" | sha256sum | cut -c1-16)"
  if [[ -f ${dir}/stamp && "$(<"${dir}/stamp")" == "${stamp}" && -f ${dir}/layer.tar.gz ]]; then
    return
  fi
  start=${SECONDS}
  log "debootstrap ${SUITE} (minbase + ${packages}) into ${dir}/root ..."
  rm -rf "${dir}"
  mkdir -p "${dir}" "${IMAGE_CACHE}/debs"
  if ! debootstrap --variant=minbase --cache-dir="${IMAGE_CACHE}/debs" --include="${packages}" \
    "${SUITE}" "${dir}/root" "$(debian_mirror)" >"${dir}/debootstrap.log" 2>&1; then
    tail -n 30 "${dir}/debootstrap.log" >&2
    die "debootstrap failed (log: ${dir}/debootstrap.log)"
  fi
  # What a container runtime provides, host files debootstrap copied in, and
  # caches: none of it belongs in an image.
  local root="${dir}/root"
  find "${root}/dev" "${root}/proc" "${root}/sys" "${root}/run" "${root}/tmp" -mindepth 1 -delete
  rm -rf "${root}/var/cache/apt/archives/"*.deb "${root}/var/cache/apt/"*.bin "${root}/var/lib/apt/lists/"*
  rm -f "${root}/etc/resolv.conf" "${root}/etc/hostname" "${root}/var/cache/ldconfig/aux-cache"
  find "${root}/var/log" -type f -delete
  mklayer "${root}" "${dir}/layer.tar.gz"
  echo "${stamp}" >"${dir}/stamp"
  log "rootfs-${name}: $(du -sh "${root}" | cut -f1) in $((SECONDS - start))s"
}

ROOTFS_GOLANG_PACKAGES="ca-certificates,netbase,tzdata,git,openssh-client,procps,gcc,libc6-dev,make,pkg-config"
ROOTFS_PYTHON_PACKAGES="ca-certificates,netbase,tzdata,python3,python3-venv"

# --- the images --------------------------------------------------------------
# inputs_NAME prints what NAME is made from (besides its build function);
# tags_NAME its references, the first one built, the others tagged;
# build_NAME WORKDIR makes it in the registry under all of them.

inputs_pause() { sha256sum "$(kube_module_dir)/build/pause/linux/pause.c"; gcc --version | head -n1; }
tags_pause() { echo "${PAUSE_IMAGE}"; }
build_pause() {
  local work="$1"
  mkdir -p "${work}/root"
  # The flags of kubernetes' build/pause/Makefile.
  gcc -Os -Wall -Werror -static -DVERSION=v3.10.1-goimage -o "${work}/root/pause" \
    "$(kube_module_dir)/build/pause/linux/pause.c"
  strip "${work}/root/pause"
  chmod 0755 "${work}/root/pause"
  mklayer "${work}/root" "${work}/layer.tar.gz"
  assemble "$(tags_pause | head -n1)" --entrypoint=/pause --user=65535:65535 -- "${work}/layer.tar.gz"
}

inputs_kaniko() {
  go_version
  cat "${GOIMAGE_ROOT}/cluster/tools/kaniko/go.mod" "${GOIMAGE_ROOT}/cluster/tools/kaniko/go.sum" | sha256sum
  sha256sum /etc/ssl/certs/ca-certificates.crt
}
tags_kaniko() { echo "${REGISTRY}/goimage/kaniko-executor:$(kaniko_version)"; }
build_kaniko() {
  local work="$1" version
  version="$(kaniko_version)"
  mkdir -p "${work}/root/kaniko/ssl/certs" "${work}/root/kaniko/.docker" "${work}/root/workspace" "${work}/root/etc"
  log "compiling the Kaniko executor (${KANIKO_MODULE} ${version}) ..."
  # As upstream's Makefile builds it: static, version stamped.
  (cd "${GOIMAGE_ROOT}/cluster/tools/kaniko" &&
    CGO_ENABLED=0 go build -trimpath \
      -ldflags="-s -w -X ${KANIKO_MODULE}/pkg/version.version=${version}" \
      -o "${work}/root/kaniko/executor" "${KANIKO_MODULE}/cmd/executor")
  cp /etc/ssl/certs/ca-certificates.crt "${work}/root/kaniko/ssl/certs/ca-certificates.crt"
  printf 'hosts: files dns\n' >"${work}/root/etc/nsswitch.conf"
  mklayer "${work}/root" "${work}/layer.tar.gz"
  # The config of upstream's deploy/Dockerfile (ENV USER=root; the user by
  # number: the image has no /etc/passwd for containerd to look "root" up in).
  assemble "$(tags_kaniko | head -n1)" \
    --entrypoint=/kaniko/executor --workdir=/workspace --user=0 \
    -e HOME=/root -e USER=root -e PATH=/usr/local/bin:/kaniko \
    -e SSL_CERT_DIR=/kaniko/ssl/certs -e DOCKER_CONFIG=/kaniko/.docker/ \
    -e DOCKER_CREDENTIAL_GCR_CONFIG=/kaniko/.config/gcloud/docker_credential_gcr_config.json \
    -- "${work}/layer.tar.gz"
}

inputs_golang() {
  go_version
  go env GOROOT
  cat "${IMAGE_CACHE}/rootfs-golang/stamp"
}
tags_golang() {
  local v minor
  v="$(go_version)" minor="$(go_minor)"
  v="${v#go}"
  printf '%s\n' "${REGISTRY}/library/golang:"{"${minor}","${minor}-${SUITE}","${v}","${v}-${SUITE}"}
}
build_golang() {
  local work="$1" goroot v
  goroot="$(go env GOROOT)"
  v="$(go_version)"
  mkdir -p "${work}/root/usr/local" "${work}/root/go/bin" "${work}/root/go/src"
  cp -a "${goroot}/." "${work}/root/usr/local/go/"
  chown -R 0:0 "${work}/root"
  # As the official image: GOPATH writable by any user.
  chmod -R 1777 "${work}/root/go"
  mklayer "${work}/root" "${work}/go.tar.gz"
  # The config of the official golang:1.26-bookworm image.
  assemble "$(tags_golang | head -n1)" \
    --workdir=/go --cmd=bash \
    -e PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    -e "GOLANG_VERSION=${v#go}" -e GOTOOLCHAIN=local -e GOPATH=/go \
    -- "${IMAGE_CACHE}/rootfs-golang/layer.tar.gz" "${work}/go.tar.gz"
  local ref first
  first="$(tags_golang | head -n1)"
  for ref in $(tags_golang | tail -n +2); do crn tag "${first}" "${ref##*:}" >/dev/null; done
}

inputs_distroless() { cat "${IMAGE_CACHE}/rootfs-python/stamp"; }
tags_distroless() {
  local static="${REGISTRY}/distroless/static-debian12"
  printf '%s\n' "${static}:nonroot-amd64" "${static}:nonroot-arm64" "${static}:nonroot"
  echo "${REGISTRY}/distroless/base-debian12:nonroot"
}
# Like gcr.io/distroless/{static,base}-debian12:nonroot: static has CA
# certificates, time zones, /etc/passwd with root, nobody and nonroot (65532),
# /tmp and nonroot's home; base adds glibc and libssl.
#
# static holds no executable, so its files serve every architecture: like
# upstream's, its :nonroot is an OCI image index of a linux/amd64 and a
# linux/arm64 image with the same layer (the configs differ in their
# architecture only), and the two are tagged nonroot-amd64 and nonroot-arm64;
# a multi-platform build's arm64 runtime stage finds it through the index, and
# the amd64 image is the one :nonroot named before it was an index (same
# digest). base carries amd64's glibc: amd64 only (an arm64 base would need
# Debian's arm64 packages; a cgo build for a foreign platform is refused anyway).
build_distroless() {
  local work="$1" rootfs="${IMAGE_CACHE}/rootfs-python/root" static="$1/static" pkg
  mkdir -p "${static}/etc/ssl/certs" "${static}/usr/share" "${static}/tmp" "${static}/root" \
    "${static}/home/nonroot" "${static}/usr/lib"
  cp "${rootfs}/etc/ssl/certs/ca-certificates.crt" "${static}/etc/ssl/certs/"
  cp -a "${rootfs}/usr/share/zoneinfo" "${static}/usr/share/"
  cp "${rootfs}/usr/lib/os-release" "${static}/usr/lib/os-release"
  ln -s ../usr/lib/os-release "${static}/etc/os-release"
  cat >"${static}/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat >"${static}/etc/group" <<'EOF'
root:x:0:
tty:x:5:
staff:x:50:
nobody:x:65534:
nonroot:x:65532:
EOF
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"${static}/etc/nsswitch.conf"
  chmod 1777 "${static}/tmp"
  chmod 0700 "${static}/root" "${static}/home/nonroot"
  chown 65532:65532 "${static}/home/nonroot"

  # base: the files of Debian's libc6 and libssl3, paths spelled through /usr
  # (bookworm's /lib and /lib64 are symlinks to it, and come along as such).
  mkdir -p "${work}/base"
  for pkg in libc6 libssl3; do
    cat "${rootfs}/var/lib/dpkg/info/${pkg}:amd64.list"
  done | sed -E 's#^/(lib|lib64|bin|sbin)/#/usr/\1/#' | while read -r path; do
    [[ -f ${rootfs}${path} || -L ${rootfs}${path} ]] && echo "${path#/}"
  done | LC_ALL=C sort -u >"${work}/base.files"
  tar -C "${rootfs}" -cf - -T "${work}/base.files" | tar -C "${work}/base" -xf -
  for link in lib lib64 bin sbin; do ln -s "usr/${link}" "${work}/base/${link}"; done

  local config=(--user=65532 --workdir=/home/nonroot
    -e PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    -e SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt)
  # Every file dated at the epoch: a rebuild (new inputs or not) gives the same
  # layers, so the same digests, as long as the files are the same.
  find "${work}/static" "${work}/base" -exec touch -h -d @0 {} +
  mklayer "${work}/static" "${work}/static.tar.gz"
  mklayer "${work}/base" "${work}/base.tar.gz"

  local static="${REGISTRY}/distroless/static-debian12"
  assemble "${static}:nonroot-amd64" "${config[@]}" -- "${work}/static.tar.gz"
  crn mutate "${static}:nonroot-amd64" --set-platform linux/arm64 -t "${static}:nonroot-arm64" >/dev/null
  crn index append -m "${static}:nonroot-amd64" -m "${static}:nonroot-arm64" -t "${static}:nonroot" >/dev/null
  assemble "${REGISTRY}/distroless/base-debian12:nonroot" "${config[@]}" -- \
    "${work}/static.tar.gz" "${work}/base.tar.gz"
}

inputs_python-base() { cat "${IMAGE_CACHE}/rootfs-python/stamp"; }
tags_python-base() { echo "${REGISTRY}/goimage/python-base:3.11"; }
build_python-base() {
  assemble "$(tags_python-base | head -n1)" \
    --cmd=python3 -e PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin -e LANG=C.UTF-8 \
    -- "${IMAGE_CACHE}/rootfs-python/layer.tar.gz"
}

# --- stamps, layouts, pushes ---------------------------------------------------

needs_rootfs() {
  case "$1" in
    golang) rootfs golang "${ROOTFS_GOLANG_PACKAGES}" ;;
    distroless | python-base) rootfs python "${ROOTFS_PYTHON_PACKAGES}" ;;
  esac
}

stamp_of() {
  local name="$1"
  { declare -f "build_${name}" "tags_${name}" "inputs_${name}" assemble mklayer; "inputs_${name}"; tags_"${name}"; } |
    sha256sum | cut -c1-16
}

# The manifest digest of the single image in the OCI layout DIR.
layout_digest() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$1/index.json"
}

# ensure NAME: built (unless its stamp matches) and every tag in the registry.
ensure() {
  local name="$1" dir="${IMAGE_CACHE}/$1" stamp ref refs want have start
  needs_rootfs "${name}"
  stamp="$(stamp_of "${name}")"
  mapfile -t refs < <("tags_${name}")
  if [[ -f ${dir}/stamp && "$(<"${dir}/stamp")" == "${stamp}" ]]; then
    for ref in "${refs[@]}"; do
      want="$(layout_digest "${dir}/${ref##*/}")"
      have="$(crn digest "${ref}" 2>/dev/null || true)"
      if [[ ${have} != "${want}" ]]; then
        log "${name}: pushing ${ref} from ${dir}"
        crn push "${dir}/${ref##*/}" "${ref}" >/dev/null
      fi
    done
    log "${name}: up to date"
    return
  fi
  start=${SECONDS}
  log "${name}: building ..."
  rm -rf "${dir}"
  mkdir -p "${dir}/work"
  "build_${name}" "${dir}/work"
  # Keep each reference's image (or index) as an OCI layout, to push again to
  # a registry that lacks it.
  for ref in "${refs[@]}"; do
    crn pull --format=oci "${ref}" "${dir}/${ref##*/}" >/dev/null
  done
  rm -rf "${dir}/work"
  echo "${stamp}" >"${dir}/stamp"
  log "${name}: built in $((SECONDS - start))s: ${refs[*]}"
}

main() {
  need_root
  local names=("$@") name
  [[ ${#names[@]} -gt 0 ]] || names=("${ALL_IMAGES[@]}")
  for name in "${names[@]}"; do
    [[ " ${ALL_IMAGES[*]} " == *" ${name} "* ]] || die "unknown image '${name}' (known: ${ALL_IMAGES[*]})"
  done
  for tool in crane debootstrap gcc; do
    command -v "${tool}" >/dev/null || die "${tool} not found (cluster.sh up installs what the images need)"
  done
  curl -fsS --max-time 3 -o /dev/null "http://${REGISTRY}/v2/" ||
    die "no registry at ${REGISTRY}: run cluster/cluster.sh up (or images)"
  mkdir -p "${IMAGE_CACHE}"
  exec 8>"${IMAGE_CACHE}/.lock"
  flock 8
  # The Debian userlands (debootstrap: downloads, unpacking, maintainer
  # scripts, then a gzip) are made while the Kaniko executor compiles, in
  # the background and one after the other (they share the .deb cache); the
  # images are then assembled in order, as before.
  local prep=""
  if [[ " ${names[*]} " == *" kaniko "* ]]; then
    (for name in "${names[@]}"; do needs_rootfs "${name}"; done) &
    prep=$!
  fi
  for name in "${names[@]}"; do
    if [[ -n ${prep} && ${name} != pause && ${name} != kaniko ]]; then
      wait "${prep}" || die "making the Debian userlands failed"
      prep=""
    fi
    ensure "${name}"
  done
  [[ -z ${prep} ]] || wait "${prep}" || die "making the Debian userlands failed"
}

main "$@"
