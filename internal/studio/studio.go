// Package studio is the workspace's web UI (`mlflow ui`), served by the workspace server
// under /ui/. Every page is a small HTML shell; what it shows comes from the JSON API under
// /ui/api/, which reads the store through the same functions as the CLI (engine.ListRuns,
// engine.GetRun, datasets.Get, models.Get, endpoints.Get), so the two never disagree.
//
// Access: `mlflow ui` prints /ui/?token=T. T is a long random secret kept 0600 in the
// workspace (server/ui.token); a request carrying it gets a session cookie (HttpOnly,
// SameSite=Strict) and is redirected to the same URL without the token, so the token does
// not stay in the address bar, the history or a Referer. Without a valid session every
// /ui/ page and API answers 401 and shows nothing of the workspace. POSTs also need the
// CSRF token the page carries (see csrfOK).
package studio

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/mlflow-go/mlflow/internal/ml/model"
	"github.com/mlflow-go/mlflow/internal/store"
)

// CookieName is the session cookie.
const CookieName = "mlflow_ui_session"

// TokenPath is where the UI's login token lives in the workspace.
func TokenPath(s *store.Store) string { return filepath.Join(s.Root, "server", "ui.token") }

// Token returns the workspace's UI login token, creating it (0600) when there is none. The
// server and `mlflow ui` may both create it at once: the file is published with a hard
// link, which fails when it exists, so every caller ends up with the same token.
func Token(s *store.Store) (string, error) {
	p := TokenPath(s)
	for range 2 {
		b, err := os.ReadFile(p)
		if err == nil {
			if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o077 != 0 {
				return "", fmt.Errorf("UI token %s is readable by others (mode %04o): delete it and restart the server", p, st.Mode().Perm())
			}
			if t := strings.TrimSpace(string(b)); len(t) >= 32 {
				return t, nil
			}
			return "", fmt.Errorf("UI token %s is too short: delete it and restart the server", p)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if err := createToken(p); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("UI token %s: created but unreadable", p)
}

func createToken(p string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	var r [32]byte
	rand.Read(r[:])
	tmp, err := os.CreateTemp(filepath.Dir(p), ".ui.token.*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(hex.EncodeToString(r[:]) + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Link(tmp.Name(), p)
}

// Options configure the UI.
type Options struct {
	Store   *store.Store
	Version string
	// Root is the server's own handler: the scoring form's request is served through it, so
	// it meets the endpoint exactly as a client's does.
	Root http.Handler
	// PipelinesChanged tells the server's scheduler that a pipeline was enabled or disabled.
	PipelinesChanged func()
	// ReloadEndpoint makes the server apply an endpoint's changed record or keys, as
	// `mlflow endpoint stop` and `keys --regenerate` do through the admin API.
	ReloadEndpoint func(ctx context.Context, name string) error
}

// Studio serves /ui/.
type Studio struct {
	s    *store.Store
	opts Options
	mux  *http.ServeMux

	mu    sync.Mutex
	token []byte                        // loaded on first use, see secret
	diag  map[string]*model.Diagnostics // by artifact digest, see diagnostics
}

// New returns the UI handler, to be mounted at /ui/.
func New(opts Options) *Studio {
	st := &Studio{s: opts.Store, opts: opts, mux: http.NewServeMux()}
	st.routes()
	return st
}

// secret is the login token, read once: the token file is created by the first of the
// server and `mlflow ui` to need it.
func (st *Studio) secret() ([]byte, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.token == nil {
		t, err := Token(st.s)
		if err != nil {
			return nil, err
		}
		st.token = []byte(t)
	}
	return st.token, nil
}

// mac derives a value from the token: the session cookie and the CSRF token are MACs, so
// they survive a server restart and need no session table, and neither reveals the token.
func mac(key []byte, label string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(label))
	return hex.EncodeToString(h.Sum(nil))
}

func (st *Studio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// The pages load only our own embedded scripts and talk only to this server.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if strings.HasPrefix(r.URL.Path, "/ui/assets/") {
		// Assets are the embedded libraries and our scripts: nothing of the workspace.
		st.mux.ServeHTTP(w, r)
		return
	}
	key, err := st.secret()
	if err != nil {
		http.Error(w, "mlflow ui: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h.Set("Cache-Control", "no-store")
	if t := r.URL.Query().Get("token"); t != "" {
		if subtle.ConstantTimeCompare([]byte(t), key) != 1 {
			st.unauthorized(w, r, "the token in the address is wrong or out of date: open the address `mlflow ui` prints")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: CookieName, Value: mac(key, "session"), Path: "/ui/",
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		q := r.URL.Query()
		q.Del("token")
		u := *r.URL
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
		return
	}
	c, err := r.Cookie(CookieName)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(mac(key, "session"))) != 1 {
		st.unauthorized(w, r, "no session: open the address `mlflow ui` prints (it carries a login token)")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !st.csrfOK(r, key) {
		jsonError(w, http.StatusForbidden, "missing or wrong X-CSRF-Token header, or a cross-site request: reload the page")
		return
	}
	st.mux.ServeHTTP(w, r)
}

// csrfOK checks a state-changing request: it must carry the page's CSRF token in the
// X-CSRF-Token header (a cross-site form cannot set a header, and a cross-site script
// cannot read the page to learn the token), and its Origin, when the browser sends one,
// must be this server. The SameSite=Strict cookie is a third line.
func (st *Studio) csrfOK(r *http.Request, key []byte) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
		return false
	}
	got := r.Header.Get("X-CSRF-Token")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(mac(key, "csrf"))) == 1
}

func (st *Studio) unauthorized(w http.ResponseWriter, r *http.Request, why string) {
	if strings.HasPrefix(r.URL.Path, "/ui/api/") {
		jsonError(w, http.StatusUnauthorized, "%s", why)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	loginPage.Execute(w, why)
}
