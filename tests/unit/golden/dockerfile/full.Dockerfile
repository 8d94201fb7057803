# Rendered by goimage-operator from GoImageBuild team-a/gitback; edit the resource, not this file.

# Build stage: modules download into their own layer, which the layer cache
# keeps until go.mod or go.sum change; a source-only change rebuilds from COPY.
FROM golang:1.25 AS build
WORKDIR /src
ENV CGO_ENABLED=0
ENV GOPROXY="https://proxy.golang.org,direct"
ENV GOPRIVATE="github.com/flarexes/*"
ENV GOFLAGS="-mod=readonly"
COPY go.mod go.sum* ./
# With the modules, the standard packages nearly every program links (fmt, os,
# flag and what they import) go into Go's build cache, compiled with the build's
# flags: a source-only change then compiles little more than the program's own
# code (Kaniko has no cache mounts to keep Go's build cache between builds).
RUN go mod download && go build -trimpath -tags=netgo,osusergo fmt os flag
COPY . .
RUN go build -trimpath -buildvcs=false -ldflags='-s -w -X main.version=1.2.3' -tags=netgo,osusergo -o /out/bin/gitback ./cmd/gitback

# Runtime stage: the binary and little else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bin/gitback /usr/local/bin/gitback
ENV GITBACK_HOME="/data"
LABEL "org.opencontainers.image.licenses"="Apache-2.0"
LABEL "org.opencontainers.image.title"="gitback"
LABEL "team"="platform"
EXPOSE 8080 9090
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/gitback"]
CMD ["serve", "--listen=:8080"]
# Last, so that a new commit changes no earlier instruction's cache key.
LABEL "org.opencontainers.image.source"="https://github.com/flarexes/gitback.git"
LABEL "org.opencontainers.image.revision"="4f1c2b3a5d6e7f8091a2b3c4d5e6f708192a3b4c"
