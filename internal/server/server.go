// Package server is the local workspace server (docs/architecture.md#the-workspace-server): it
// serves every deployed endpoint of one workspace under /endpoints/NAME/
// (and OIP's /v2/models/NAME/ at its root), keeps its state in the
// workspace database so a restart serves the same endpoints, and takes
// orders from deploy and the CLI over an admin API whose token is a 0600
// file in the workspace.
package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/pipelines"
	"github.com/mlflow-go/mlflow/internal/server/reqlog"
	"github.com/mlflow-go/mlflow/internal/server/serve"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/internal/studio"
)

// Info is what a running server publishes in the workspace
// (server/server.json) so clients find it.
type Info struct {
	Addr    string    `json:"addr"`
	URL     string    `json:"url"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	Version string    `json:"version"`
}

// LoadFunc loads the model an endpoint serves.
type LoadFunc func(ctx context.Context, s *store.Store, ref string) (serve.Model, []serve.Input, error)

// Options configure Run.
type Options struct {
	Addr string
	// FallbackAddr is tried when Addr is taken (deploy starts the server
	// in the background and must not fail because port 5000 is busy).
	FallbackAddr string
	Version      string
	// MetricsAuth guards /metrics: "none" (or empty) leaves it open, "key" asks for the
	// admin token or any endpoint's key as a Bearer token, since the metrics name every
	// endpoint, its model digests and its traffic.
	MetricsAuth string
	Load        LoadFunc // nil: LoadModel
	Log         *log.Logger
	// Ready, when set, is called with the info once the server listens.
	Ready func(Info)
	// Steps are the step kinds published pipelines run with (steps.All()); with none a
	// trigger answers 503.
	Steps []engine.Step
	// OnPipelineEvent sees every engine event of every pipeline run (tests, benchmarks).
	OnPipelineEvent func(engine.Event)
}

// Server is a running workspace server.
type Server struct {
	s       *store.Store
	opts    Options
	metrics *serve.Metrics
	token   []byte
	mux     *http.ServeMux

	mu  sync.RWMutex
	eps map[string]*mounted
	// failed holds why an endpoint's last load failed, so that clients get a 503 with the
	// reason (not a 404 that says it was never deployed) and `server status` shows it.
	failed map[string]string
	// reloadMu serializes reloads: two deploys of one endpoint must not
	// both build a handler for it.
	reloadMu sync.Mutex
	// pipes runs the published pipelines and their schedules (pipelines.go).
	pipes *pipelines.Manager
}

type mounted struct {
	ep     *endpoints.Endpoint
	h      *serve.Handler
	strip  http.Handler
	log    *reqlog.Writer
	digest string // the loaded model's digest
	// keys are the endpoint's keys when its auth is key: they also open /metrics.
	keys endpoints.Keys
}

func infoPath(s *store.Store) string  { return filepath.Join(s.Root, "server", "server.json") }
func tokenPath(s *store.Store) string { return filepath.Join(s.Root, "server", "admin.token") }

// ownerLockPath is flocked by the serving process for its whole life: one workspace, one
// server. startLockPath is flocked around find-or-start (Ensure), so that concurrent
// deploys start one server between them.
func ownerLockPath(s *store.Store) string { return filepath.Join(s.Root, "server", "server.lock") }
func startLockPath(s *store.Store) string { return filepath.Join(s.Root, "server", "start.lock") }

// ErrServed means another process already serves the workspace.
var ErrServed = errors.New("another mlflow server already serves this workspace")

// Metrics auth modes.
const (
	MetricsAuthNone = "none"
	MetricsAuthKey  = "key"
)

// AdminToken returns the workspace's admin token, creating it (0600).
func AdminToken(s *store.Store) (string, error) {
	p := tokenPath(s)
	b, err := os.ReadFile(p)
	if err == nil {
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("admin token %s is readable by others (mode %04o): delete it and restart the server", p, st.Mode().Perm())
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	var r [32]byte
	rand.Read(r[:])
	t := hex.EncodeToString(r[:])
	if err := store.WriteFileAtomic(p, []byte(t+"\n"), 0o600); err != nil {
		return "", err
	}
	return t, nil
}

// New prepares a server over s: endpoints are mounted by Run.
func New(s *store.Store, opts Options) (*Server, error) {
	if opts.Load == nil {
		opts.Load = func(ctx context.Context, s *store.Store, ref string) (serve.Model, []serve.Input, error) {
			m, in, _, err := LoadModel(ctx, s, ref)
			return m, in, err
		}
	}
	if opts.Log == nil {
		opts.Log = log.New(io.Discard, "", 0)
	}
	switch opts.MetricsAuth {
	case "":
		opts.MetricsAuth = MetricsAuthNone
	case MetricsAuthNone, MetricsAuthKey:
	default:
		return nil, fmt.Errorf("metrics auth %q: want none or key", opts.MetricsAuth)
	}
	tok, err := AdminToken(s)
	if err != nil {
		return nil, err
	}
	srv := &Server{s: s, opts: opts, metrics: serve.NewMetrics(), token: []byte(tok), eps: map[string]*mounted{}, failed: map[string]string{}, mux: http.NewServeMux()}
	srv.routes()
	return srv, nil
}

// Handler is the server's root handler (for tests).
func (srv *Server) Handler() http.Handler { return srv.mux }

// Run serves until ctx ends, then shuts down gracefully. It first takes the workspace's
// owner lock, held until it returns: when another process holds it, Run returns ErrServed
// without serving, since two servers would publish different addresses and keys.
func (srv *Server) Run(ctx context.Context) error {
	release, err := own(srv.s)
	if err != nil {
		return err
	}
	defer release()
	if err := srv.reloadAll(ctx); err != nil {
		return err
	}
	defer srv.closeAll()
	listen := srv.opts.Addr
	ln, err := net.Listen("tcp", listen)
	if err != nil && srv.opts.FallbackAddr != "" && errors.Is(err, syscall.EADDRINUSE) {
		listen = srv.opts.FallbackAddr
		ln, err = net.Listen("tcp", listen)
	}
	if err != nil {
		return fmt.Errorf("server: listen on %s: %w", srv.opts.Addr, err)
	}
	addr := ln.Addr().String()
	url := "http://" + addr
	if ta, ok := ln.Addr().(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
		if ta.IP.IsUnspecified() {
			// Every interface: local clients (deploy, the CLI) reach it on loopback; a URL
			// with [::] or 0.0.0.0 would be printed as every endpoint's scoring URI.
			url = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(ta.Port))
		}
		srv.opts.Log.Printf("warning: listening on %s (%s), which is not a loopback address: every host that can reach this machine can call the endpoints, their specs and probes; keep the endpoints' auth on key and consider --metrics-auth key", listen, addr)
	}
	info := Info{Addr: addr, URL: url, PID: os.Getpid(), Started: time.Now().UTC(), Version: srv.opts.Version}
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := store.WriteFileAtomic(infoPath(srv.s), append(b, '\n'), 0o644); err != nil {
		ln.Close()
		return fmt.Errorf("server: %w", err)
	}
	defer func() {
		// Remove the file only if it is still ours: a newer server may
		// have replaced it.
		if cur, err := readInfo(srv.s); err == nil && cur.PID == info.PID && cur.Addr == info.Addr {
			os.Remove(infoPath(srv.s))
		}
	}()
	stopPipelines, err := srv.startPipelines(ctx)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopPipelines()
	hs := NewHTTPServer(srv.mux)
	err = Serve(ctx, hs, ln, func() {
		srv.opts.Log.Printf("mlflow server listening on %s (workspace %s)", info.URL, srv.s.Root)
		if srv.opts.Ready != nil {
			srv.opts.Ready(info)
		}
	})
	if err != nil {
		return err
	}
	srv.opts.Log.Printf("mlflow server stopped")
	return nil
}

func (srv *Server) routes() {
	m := srv.mux
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "Healthy") })
	m.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	m.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	m.HandleFunc("GET /metrics", srv.metricsAuth)
	// Each endpoint's handler serves the same (workspace-wide) metrics under its prefix.
	m.HandleFunc("GET /endpoints/{name}/metrics", func(w http.ResponseWriter, r *http.Request) {
		if srv.lookup(r.PathValue("name")) == nil {
			srv.missing(w, r.PathValue("name"), "message", "endpoint %s does not exist: deploy it first")
			return
		}
		srv.metricsAuth(w, r)
	})
	serverMeta := func(w http.ResponseWriter, r *http.Request) {
		jsonOut(w, 200, map[string]any{"name": "mlflow", "version": srv.opts.Version, "extensions": []string{}})
	}
	// The OIP spec writes the server metadata path as /v2/.
	m.HandleFunc("GET /v2", serverMeta)
	m.HandleFunc("GET /v2/{$}", serverMeta)
	m.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, r *http.Request) { jsonOut(w, 200, map[string]any{"live": true}) })
	m.HandleFunc("GET /v2/health/ready", func(w http.ResponseWriter, r *http.Request) { jsonOut(w, 200, map[string]any{"ready": true}) })
	m.HandleFunc("/v2/models/{m}/", func(w http.ResponseWriter, r *http.Request) {
		if ep := srv.lookup(r.PathValue("m")); ep != nil {
			ep.h.ServeHTTP(w, r)
			return
		}
		srv.missing(w, r.PathValue("m"), "error", "Model with name %s does not exist.")
	})
	m.HandleFunc("/v2/models/{m}", func(w http.ResponseWriter, r *http.Request) {
		if ep := srv.lookup(r.PathValue("m")); ep != nil {
			ep.h.ServeHTTP(w, r)
			return
		}
		srv.missing(w, r.PathValue("m"), "error", "Model with name %s does not exist.")
	})
	endpoint := func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		ep := srv.lookup(name)
		if ep == nil {
			srv.missing(w, name, "message", "endpoint %s does not exist: deploy it first")
			return
		}
		ep.strip.ServeHTTP(w, r)
	}
	m.HandleFunc("/endpoints/{name}/", endpoint)
	m.HandleFunc("/endpoints/{name}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Path+"/", http.StatusMovedPermanently)
	})
	m.HandleFunc("GET /admin/status", srv.admin(srv.status))
	m.HandleFunc("POST /admin/endpoints/{name}/reload", srv.admin(func(w http.ResponseWriter, r *http.Request) {
		if err := srv.reload(r.Context(), r.PathValue("name")); err != nil {
			jsonOut(w, 500, map[string]any{"error": "endpoint " + r.PathValue("name") + ": " + err.Error()})
			return
		}
		srv.status(w, r)
	}))
	m.HandleFunc("POST /admin/shutdown", srv.admin(func(w http.ResponseWriter, r *http.Request) {
		jsonOut(w, 200, map[string]any{"stopping": true})
		// Signal ourselves so Run's context path does the graceful stop.
		go func() {
			time.Sleep(50 * time.Millisecond)
			syscall.Kill(os.Getpid(), syscall.SIGTERM)
		}()
	}))
	srv.pipelineRoutes(m)
	// The web UI (mlflow ui): its own login token and session, see internal/studio.
	m.Handle("/ui/", studio.New(studio.Options{Store: srv.s, Version: srv.opts.Version, Root: m,
		PipelinesChanged: srv.pipes.Wake, ReloadEndpoint: srv.reload}))
	m.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, (&url.URL{Path: "/ui/", RawQuery: r.URL.RawQuery}).String(), http.StatusMovedPermanently)
	})
}

// missing answers for an endpoint that is not mounted: 503 with the reason when its load
// failed (it is deployed, it cannot serve now), else 404 with notFound (a format with the
// name) under key, the field each protocol's clients read.
func (srv *Server) missing(w http.ResponseWriter, name, key, notFound string) {
	srv.mu.RLock()
	reason, failed := srv.failed[name]
	srv.mu.RUnlock()
	if failed {
		jsonOut(w, 503, map[string]any{key: "endpoint " + name + " is deployed but failed to load: " + reason})
		return
	}
	jsonOut(w, 404, map[string]any{key: fmt.Sprintf(notFound, name)})
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header. The scheme is
// required (case-insensitive, RFC 7235): a bare token is refused, as every client we
// document sends the scheme.
func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// metricsAuth serves /metrics, asking for the admin token or an endpoint key when
// MetricsAuth is key.
func (srv *Server) metricsAuth(w http.ResponseWriter, r *http.Request) {
	if srv.opts.MetricsAuth == MetricsAuthKey && !srv.metricsAllowed(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mlflow-metrics"`)
		jsonOut(w, 401, map[string]any{"error": "metrics need the admin token or an endpoint key as Bearer (the server runs with --metrics-auth key)"})
		return
	}
	srv.metrics.ServeHTTP(w, r)
}

func (srv *Server) metricsAllowed(r *http.Request) bool {
	tok, ok := bearer(r)
	if !ok {
		return false
	}
	b := []byte(tok)
	if subtle.ConstantTimeCompare(b, srv.token) == 1 {
		return true
	}
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	for _, m := range srv.eps {
		for _, k := range []string{m.keys.Primary, m.keys.Secondary} {
			if k != "" && subtle.ConstantTimeCompare(b, []byte(k)) == 1 {
				return true
			}
		}
	}
	return false
}

// admin wraps an admin route with the token check.
func (srv *Server) admin(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok || subtle.ConstantTimeCompare([]byte(tok), srv.token) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mlflow-admin"`)
			jsonOut(w, 401, map[string]any{"error": "admin token missing or wrong"})
			return
		}
		f(w, r)
	}
}

// EndpointStatus is one endpoint as the server serves it.
type EndpointStatus struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Model   string `json:"model"`
	Version int    `json:"version"`
	Digest  string `json:"digest"`
	// Error is why the endpoint's last load failed: it is not served (State "failed"), or
	// it still serves the model it had before.
	Error string `json:"error,omitempty"`
}

func (srv *Server) statusList() []EndpointStatus {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	var out []EndpointStatus
	for name, m := range srv.eps {
		n, v, d := m.h.Model()
		out = append(out, EndpointStatus{Name: name, State: m.ep.State, Model: n, Version: v, Digest: d, Error: srv.failed[name]})
	}
	for name, reason := range srv.failed {
		if srv.eps[name] == nil {
			out = append(out, EndpointStatus{Name: name, State: "failed", Error: reason})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (srv *Server) status(w http.ResponseWriter, r *http.Request) {
	jsonOut(w, 200, map[string]any{"pid": os.Getpid(), "version": srv.opts.Version, "endpoints": srv.statusList()})
}

func jsonOut(w http.ResponseWriter, code int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

func (srv *Server) lookup(name string) *mounted {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	return srv.eps[name]
}

func (srv *Server) reloadAll(ctx context.Context) error {
	eps, err := endpoints.List(ctx, srv.s)
	if err != nil {
		return err
	}
	for _, e := range eps {
		if err := srv.reload(ctx, e.Name); err != nil {
			// One broken endpoint must not keep the others down.
			srv.opts.Log.Printf("endpoint %s: %v", e.Name, err)
		}
	}
	return nil
}

// reload brings endpoint name in line with its record (its errors do not repeat the name): mounts it, swaps
// its model when the digest changed (atomically: requests in flight finish
// on the old model), reloads its keys, applies its state; a deleted record
// unmounts it.
func (srv *Server) reload(ctx context.Context, name string) error {
	srv.reloadMu.Lock()
	defer srv.reloadMu.Unlock()
	err := srv.reloadLocked(ctx, name)
	srv.mu.Lock()
	if err != nil {
		srv.failed[name] = err.Error()
	} else {
		delete(srv.failed, name)
	}
	srv.mu.Unlock()
	return err
}

func (srv *Server) reloadLocked(ctx context.Context, name string) (err error) {
	e, err := endpoints.Get(ctx, srv.s, name)
	if errors.Is(err, endpoints.ErrNotFound) {
		srv.mu.Lock()
		m := srv.eps[name]
		delete(srv.eps, name)
		srv.mu.Unlock()
		if m != nil {
			m.h.Close()
			m.log.Close()
		}
		return nil
	}
	if err != nil {
		return err
	}
	srv.mu.RLock()
	m := srv.eps[name]
	srv.mu.RUnlock()
	if m == nil || m.ep.ClassicResponse != e.ClassicResponse || m.ep.StrictColumns != e.StrictColumns {
		lw, err := reqlog.Open(endpoints.LogPath(srv.s, name), 0, 0, srv.metrics.LogDropped)
		if err != nil {
			if err := os.MkdirAll(endpoints.Dir(srv.s, name), 0o755); err != nil {
				return err
			}
			if lw, err = reqlog.Open(endpoints.LogPath(srv.s, name), 0, 0, srv.metrics.LogDropped); err != nil {
				return err
			}
		}
		h := serve.New(serve.Options{
			Endpoint: name, Prefix: "/endpoints/" + name, ClassicResponse: e.ClassicResponse,
			StrictColumns: e.StrictColumns, Metrics: srv.metrics, Log: lw, Version: srv.opts.Version,
		})
		// nm.digest stays empty so the model is loaded into the new handler
		// below: carrying the old digest over left it with no model (503).
		nm := &mounted{ep: e, h: h, log: lw, strip: http.StripPrefix("/endpoints/"+name, h)}
		old := m
		m = nm
		defer func() {
			switch {
			case err != nil:
				nm.log.Close() // never mounted
			case old != nil:
				old.log.Close()
			}
		}()
	}
	if m.digest != e.Model.Digest || m.digest == "" {
		mod, ins, err := srv.opts.Load(ctx, srv.s, e.Model.Ref())
		if err != nil {
			return fmt.Errorf("load model %s: %w", e.Model.Ref(), err)
		}
		if e.Model.Digest != "" && mod.Digest() != e.Model.Digest {
			return fmt.Errorf("model %s has digest %s, the endpoint record wants %s", e.Model.Ref(), mod.Digest(), e.Model.Digest)
		}
		if err := m.h.Swap(mod, ins); err != nil {
			return err
		}
		m.digest = mod.Digest()
	}
	var keys endpoints.Keys
	if e.Auth == "none" {
		m.h.SetKeys("", "")
	} else {
		k, err := endpoints.EnsureKeys(srv.s, name)
		if err != nil {
			return err
		}
		m.h.SetKeys(k.Primary, k.Secondary)
		keys = k
	}
	m.h.SetStopped(e.State == endpoints.Stopped)
	srv.mu.Lock()
	m.ep, m.keys = e, keys
	srv.eps[name] = m
	srv.mu.Unlock()
	return nil
}

func (srv *Server) closeAll() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, m := range srv.eps {
		m.log.Close()
	}
}
