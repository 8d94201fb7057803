// Command registry is the e2e node's OCI registry: CNCF Distribution v3 (its
// HTTP API and its filesystem storage, so every blob, manifest and tag is on
// disk and a restart loses nothing), with the two parts of the OCI
// distribution spec 1.1 that Distribution v3.1 lacks added in front of it:
//
//   - GET /v2/<name>/referrers/<digest>[?artifactType=T]: an OCI image index
//     of the repository's manifests whose `subject` is <digest> (filtered by
//     artifact type, with the OCI-Filters-Applied header, when asked);
//   - the OCI-Subject response header on a manifest PUT that carries a
//     `subject`, which tells clients (oras, crane) that the registry keeps
//     referrers, so they do not also write the referrers tag schema
//     (a `sha256-<hex>` tag).
//
// Everything else is Distribution's own handler, unchanged. Usage:
//
//	registry -addr 10.89.0.1:5000 -root DIR
//
// Plain HTTP, no authentication: the node's registry is reached from this
// machine and its pods only. Deletes are allowed (crane delete); garbage
// collection is not run (`registry garbage-collect` of Distribution's own
// binary could, with the registry stopped). Uploads left unfinished are purged
// after a day.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Distribution refuses manifests larger than this (its maxManifestBodySize);
// the front reads at most as much of a PUT to find its subject.
const maxManifestBytes = 4 << 20

// configYAML is Distribution's configuration: filesystem storage under root,
// deletes allowed, an in-memory blob descriptor cache.
func configYAML(addr, root string) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: true
      age: 24h
      interval: 1h
      dryrun: false
http:
  addr: %q
`, root, addr)
}

// front serves the referrers API and adds OCI-Subject; the rest is Distribution's.
type front struct {
	app   http.Handler
	repos distribution.Namespace
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if name, target, ok := splitPath(r.URL.Path, "referrers"); ok &&
		(r.Method == http.MethodGet || r.Method == http.MethodHead) {
		f.referrers(w, r, name, target)
		return
	}
	if _, _, ok := splitPath(r.URL.Path, "manifests"); ok && r.Method == http.MethodPut {
		f.putManifest(w, r)
		return
	}
	f.app.ServeHTTP(w, r)
}

// splitPath splits /v2/<name>/<kind>/<ref> into name and ref (names have slashes).
func splitPath(path, kind string) (name, ref string, ok bool) {
	rest, found := strings.CutPrefix(path, "/v2/")
	if !found {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/"+kind+"/")
	if i <= 0 {
		return "", "", false
	}
	name, ref = rest[:i], rest[i+len(kind)+2:]
	if ref == "" || strings.Contains(ref, "/") {
		return "", "", false
	}
	return name, ref, true
}

// subjectOf is the digest a manifest's `subject` names, if it has one.
func subjectOf(body []byte) (digest.Digest, bool) {
	var m struct {
		Subject *v1.Descriptor `json:"subject"`
	}
	if json.Unmarshal(body, &m) != nil || m.Subject == nil || m.Subject.Digest == "" {
		return "", false
	}
	return m.Subject.Digest, true
}

// subjectHeader adds OCI-Subject to a successful (201) manifest PUT's answer.
type subjectHeader struct {
	http.ResponseWriter
	subject digest.Digest
}

func (s *subjectHeader) WriteHeader(status int) {
	if status == http.StatusCreated {
		s.Header().Set("OCI-Subject", s.subject.String())
	}
	s.ResponseWriter.WriteHeader(status)
}

func (f *front) putManifest(w http.ResponseWriter, r *http.Request) {
	head, err := io.ReadAll(io.LimitReader(r.Body, maxManifestBytes+1))
	if err != nil {
		http.Error(w, "reading the manifest: "+err.Error(), http.StatusBadRequest)
		return
	}
	// Distribution reads the body again (and refuses one that is too large).
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(head), r.Body))
	if subject, ok := subjectOf(head); ok && len(head) <= maxManifestBytes {
		w = &subjectHeader{ResponseWriter: w, subject: subject}
	}
	f.app.ServeHTTP(w, r)
}

// manifestFields are what a referrers descriptor carries of a manifest.
type manifestFields struct {
	ArtifactType string `json:"artifactType"`
	Config       *struct {
		MediaType string `json:"mediaType"`
	} `json:"config"`
	Subject     *v1.Descriptor    `json:"subject"`
	Annotations map[string]string `json:"annotations"`
}

// referrerOf is the descriptor of the manifest (mediaType, payload) at dgst
// if its subject is target, as the spec's referrers list has it: the
// artifactType is the manifest's own, else its config's media type.
func referrerOf(dgst digest.Digest, mediaType string, payload []byte, target digest.Digest) (v1.Descriptor, bool) {
	var m manifestFields
	if json.Unmarshal(payload, &m) != nil || m.Subject == nil || m.Subject.Digest != target {
		return v1.Descriptor{}, false
	}
	artifactType := m.ArtifactType
	if artifactType == "" && m.Config != nil {
		artifactType = m.Config.MediaType
	}
	return v1.Descriptor{
		MediaType:    mediaType,
		Digest:       dgst,
		Size:         int64(len(payload)),
		ArtifactType: artifactType,
		Annotations:  m.Annotations,
	}, true
}

// apiError writes an error in the distribution spec's form.
func apiError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]string{{"code": code, "message": message}},
	})
}

// referrers lists the repository's manifests whose subject is target. It reads
// every manifest of the repository (a test ground's repositories hold tens to
// hundreds): no index of referrers to keep consistent with Distribution's.
func (f *front) referrers(w http.ResponseWriter, r *http.Request, name, ref string) {
	named, err := reference.WithName(name)
	if err != nil {
		apiError(w, http.StatusBadRequest, "NAME_INVALID", err.Error())
		return
	}
	target, err := digest.Parse(ref)
	if err != nil {
		apiError(w, http.StatusBadRequest, "DIGEST_INVALID", err.Error())
		return
	}
	filter := r.URL.Query().Get("artifactType")
	ctx := r.Context()
	found := []v1.Descriptor{}
	repo, err := f.repos.Repository(ctx, named)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	manifests, err := repo.Manifests(ctx)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	enumerator, ok := manifests.(distribution.ManifestEnumerator)
	if !ok {
		apiError(w, http.StatusInternalServerError, "UNKNOWN", "manifests cannot be listed")
		return
	}
	err = enumerator.Enumerate(ctx, func(dgst digest.Digest) error {
		m, err := manifests.Get(ctx, dgst)
		if err != nil {
			return nil // deleted meanwhile, or a schema Distribution no longer reads
		}
		mediaType, payload, err := m.Payload()
		if err != nil {
			return nil
		}
		if d, ok := referrerOf(dgst, mediaType, payload, target); ok && (filter == "" || d.ArtifactType == filter) {
			found = append(found, d)
		}
		return nil
	})
	var missing storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &missing) {
		apiError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	// The same answer for the same manifests, whatever order the disk lists them in.
	slices.SortFunc(found, func(a, b v1.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
	body, err := json.Marshal(v1.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageIndex,
		Manifests: found,
	})
	if err != nil {
		apiError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.Header().Set("Content-Type", v1.MediaTypeImageIndex)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:5000", "address to listen on (plain HTTP)")
	root := flag.String("root", "", "directory for the registry's storage (made if missing)")
	flag.Parse()
	if *root == "" {
		log.Fatal("registry: -root is required")
	}
	if err := os.MkdirAll(*root, 0o755); err != nil {
		log.Fatalf("registry: %v", err)
	}
	config, err := configuration.Parse(strings.NewReader(configYAML(*addr, *root)))
	if err != nil {
		log.Fatalf("registry: configuration: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	app := handlers.NewApp(ctx, config)
	// A second view of the same storage, read only, for the referrers list.
	driver := filesystem.New(filesystem.DriverParameters{RootDirectory: *root, MaxThreads: 100})
	repos, err := storage.NewRegistry(ctx, driver)
	if err != nil {
		log.Fatalf("registry: storage: %v", err)
	}
	server := &http.Server{
		Addr:              *addr,
		Handler:           &front{app: app, repos: repos},
		ReadHeaderTimeout: 30 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- server.ListenAndServe() }()
	log.Printf("registry: Distribution with the referrers API on http://%s, storage in %s", *addr, *root)
	select {
	case err := <-errc:
		log.Fatalf("registry: %v", err)
	case <-ctx.Done():
		// Uploads in flight may finish; a client retries the others.
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(shutdown)
	}
}
