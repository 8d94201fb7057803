# Rendered by goimage-operator from GoImageBuild team-a/gitback; edit the resource, not this file.

# Build stage: modules download into their own layer, which the layer cache
# keeps until go.mod or go.sum change; a source-only change rebuilds from COPY.
FROM golang:1.26 AS build
WORKDIR /src
ENV CGO_ENABLED=0
COPY go.mod go.sum* ./
# With the modules, the standard packages nearly every program links (fmt, os,
# flag and what they import) go into Go's build cache, compiled with the build's
# flags: a source-only change then compiles little more than the program's own
# code (Kaniko has no cache mounts to keep Go's build cache between builds).
RUN go mod download && go build -trimpath fmt os flag
COPY . .
RUN go build -trimpath -buildvcs=false -ldflags='-s -w' -o /out/bin/gitback ./cmd/gitback
# scratch has no users: make the non-root one here and copy it over.
RUN mkdir -p /out/etc \
 && echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' > /out/etc/passwd \
 && echo 'nonroot:x:65532:' > /out/etc/group

# Runtime stage: the binary and little else.
FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/etc/passwd /etc/passwd
COPY --from=build /out/etc/group /etc/group
COPY --from=build /out/bin/gitback /usr/local/bin/gitback
LABEL "org.opencontainers.image.title"="gitback"
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/gitback"]
# Last, so that a new commit changes no earlier instruction's cache key.
LABEL "org.opencontainers.image.source"="https://github.com/flarexes/gitback.git"
LABEL "org.opencontainers.image.revision"="4f1c2b3a5d6e7f8091a2b3c4d5e6f708192a3b4c"
