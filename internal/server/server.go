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
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/server/reqlog"
	"github.com/mlflow-go/mlflow/internal/server/serve"
	"github.com/mlflow-go/mlflow/internal/store"
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
	Load         LoadFunc // nil: LoadModel
	Log          *log.Logger
	// Ready, when set, is called with the info once the server listens.
	Ready func(Info)
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
	// reloadMu serializes reloads: two deploys of one endpoint must not
	// both build a handler for it.
	reloadMu sync.Mutex
}

type mounted struct {
	ep     *endpoints.Endpoint
	h      *serve.Handler
	strip  http.Handler
	log    *reqlog.Writer
	digest string // the loaded model's digest
}

func infoPath(s *store.Store) string  { return filepath.Join(s.Root, "server", "server.json") }
func tokenPath(s *store.Store) string { return filepath.Join(s.Root, "server", "admin.token") }

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
	tok, err := AdminToken(s)
	if err != nil {
		return nil, err
	}
	srv := &Server{s: s, opts: opts, metrics: serve.NewMetrics(), token: []byte(tok), eps: map[string]*mounted{}, mux: http.NewServeMux()}
	srv.routes()
	return srv, nil
}

// Handler is the server's root handler (for tests).
func (srv *Server) Handler() http.Handler { return srv.mux }

// Run serves until ctx ends, then shuts down gracefully.
func (srv *Server) Run(ctx context.Context) error {
	if err := srv.reloadAll(ctx); err != nil {
		return err
	}
	defer srv.closeAll()
	ln, err := net.Listen("tcp", srv.opts.Addr)
	if err != nil && srv.opts.FallbackAddr != "" && errors.Is(err, syscall.EADDRINUSE) {
		ln, err = net.Listen("tcp", srv.opts.FallbackAddr)
	}
	if err != nil {
		return fmt.Errorf("server: listen on %s: %w", srv.opts.Addr, err)
	}
	addr := ln.Addr().String()
	info := Info{Addr: addr, URL: "http://" + addr, PID: os.Getpid(), Started: time.Now().UTC(), Version: srv.opts.Version}
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
	m.Handle("GET /metrics", srv.metrics)
	m.HandleFunc("GET /v2", func(w http.ResponseWriter, r *http.Request) {
		jsonOut(w, 200, map[string]any{"name": "mlflow", "version": srv.opts.Version, "extensions": []string{}})
	})
	m.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, r *http.Request) { jsonOut(w, 200, map[string]any{"live": true}) })
	m.HandleFunc("GET /v2/health/ready", func(w http.ResponseWriter, r *http.Request) { jsonOut(w, 200, map[string]any{"ready": true}) })
	m.HandleFunc("/v2/models/{m}/", func(w http.ResponseWriter, r *http.Request) {
		if ep := srv.lookup(r.PathValue("m")); ep != nil {
			ep.h.ServeHTTP(w, r)
			return
		}
		jsonOut(w, 404, map[string]any{"error": "Model with name " + r.PathValue("m") + " does not exist."})
	})
	m.HandleFunc("/v2/models/{m}", func(w http.ResponseWriter, r *http.Request) {
		if ep := srv.lookup(r.PathValue("m")); ep != nil {
			ep.h.ServeHTTP(w, r)
			return
		}
		jsonOut(w, 404, map[string]any{"error": "Model with name " + r.PathValue("m") + " does not exist."})
	})
	endpoint := func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		ep := srv.lookup(name)
		if ep == nil {
			jsonOut(w, 404, map[string]any{"message": "endpoint " + name + " does not exist: deploy it first"})
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
			jsonOut(w, 500, map[string]any{"error": err.Error()})
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
}

// admin wraps an admin route with the token check.
func (srv *Server) admin(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(tok), srv.token) != 1 {
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
}

func (srv *Server) statusList() []EndpointStatus {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	var out []EndpointStatus
	for name, m := range srv.eps {
		n, v, d := m.h.Model()
		out = append(out, EndpointStatus{Name: name, State: m.ep.State, Model: n, Version: v, Digest: d})
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

// reload brings endpoint name in line with its record: mounts it, swaps
// its model when the digest changed (atomically: requests in flight finish
// on the old model), reloads its keys, applies its state; a deleted record
// unmounts it.
func (srv *Server) reload(ctx context.Context, name string) (err error) {
	srv.reloadMu.Lock()
	defer srv.reloadMu.Unlock()
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
	if m == nil || m.ep.ClassicResponse != e.ClassicResponse {
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
			Metrics: srv.metrics, Log: lw, Version: srv.opts.Version,
		})
		nm := &mounted{ep: e, h: h, log: lw, strip: http.StripPrefix("/endpoints/"+name, h)}
		if m != nil {
			// Carry the loaded model over; only the answer format changed.
			nm.digest = m.digest
		}
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
			return fmt.Errorf("endpoint %s: load model %s: %w", name, e.Model.Ref(), err)
		}
		if e.Model.Digest != "" && mod.Digest() != e.Model.Digest {
			return fmt.Errorf("endpoint %s: model %s has digest %s, the endpoint record wants %s", name, e.Model.Ref(), mod.Digest(), e.Model.Digest)
		}
		if err := m.h.Swap(mod, ins); err != nil {
			return fmt.Errorf("endpoint %s: %w", name, err)
		}
		m.digest = mod.Digest()
	}
	if e.Auth == "none" {
		m.h.SetKeys("", "")
	} else {
		k, err := endpoints.EnsureKeys(srv.s, name)
		if err != nil {
			return fmt.Errorf("endpoint %s: %w", name, err)
		}
		m.h.SetKeys(k.Primary, k.Secondary)
	}
	m.h.SetStopped(e.State == endpoints.Stopped)
	m.ep = e
	srv.mu.Lock()
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
