# The operator's own image: goimage-operator (and its build-pod steps: `report`,
# and `publish`, which runs the OCI clients crane and oras).
#
# Three stages: the oci-tools stage compiles crane and oras (static, no cgo) at
# the versions cluster/tools/{crane,oras}/go.mod pin, every module checked
# against their go.sum; the build stage installs the package into a
# virtualenv; the runtime stage gets only that virtualenv and the two
# binaries (in /usr/local/bin) on the same Python base, runs as UID 65532 and
# needs nothing writable but /tmp (the chart mounts an emptyDir). No pip,
# compiler or package manager runs at run time.
#
# BASE_IMAGE and GO_IMAGE are build arguments so that a registry of your own
# (or the local one `make image` pushes to, where nothing can be pulled from
# outside) serves them. Any Debian-like image with python3 >= 3.11 and its venv
# module works as the base; any golang image at least as new as the go
# directives of those go.mod files as GO_IMAGE. GOPROXY names the Go module
# proxy (a mirror of your own, or the local node's).
ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS oci-tools
ARG GOPROXY=https://proxy.golang.org,direct
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-trimpath
WORKDIR /src
COPY cluster/tools/crane/go.mod cluster/tools/crane/go.sum ./crane/
COPY cluster/tools/oras/go.mod cluster/tools/oras/go.sum ./oras/
# crane reports the version stamped into it, as its own release builds do;
# oras reads its own from the build information. The module and build caches
# are removed in the same step: the layer (which a layer cache keeps) holds
# little more than the two binaries.
RUN cd /src/crane \
 && version="$(go list -m -f '{{.Version}}' github.com/google/go-containerregistry)" \
 && go build -ldflags="-s -w -X github.com/google/go-containerregistry/cmd/crane/cmd.Version=${version}" \
      -o /out/crane github.com/google/go-containerregistry/cmd/crane \
 && cd /src/oras \
 && go build -ldflags="-s -w" -o /out/oras oras.land/oras/cmd/oras \
 && /out/crane version && /out/oras version \
 && go clean -cache -modcache

FROM ${BASE_IMAGE} AS build
# pip reads these from the environment: a private index or a wheelhouse for
# offline builds (e.g. PIP_NO_INDEX=1 PIP_FIND_LINKS=http://host/wheels/).
ARG PIP_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
ARG PIP_TRUSTED_HOST
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN python3 -m venv /opt/goimage \
 && /opt/goimage/bin/pip install --no-cache-dir --disable-pip-version-check . \
 && /opt/goimage/bin/pip uninstall --yes pip \
 && /opt/goimage/bin/python -m compileall -q /opt/goimage/lib

FROM ${BASE_IMAGE}
# A named non-root user: kopf (through getpass) asks who it runs as.
RUN echo 'goimage:x:65532:65532:goimage-operator:/nonexistent:/usr/sbin/nologin' >>/etc/passwd \
 && echo 'goimage:x:65532:' >>/etc/group
COPY --from=build /opt/goimage /opt/goimage
COPY --from=oci-tools /out/crane /out/oras /usr/local/bin/
ENV PATH=/opt/goimage/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
ENTRYPOINT ["goimage-operator"]
CMD ["run"]
