package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/server"
	"github.com/mlflow-go/mlflow/internal/server/fakemodel"
	"github.com/mlflow-go/mlflow/internal/server/serve"
	"github.com/mlflow-go/mlflow/internal/server/wstest"
	"github.com/mlflow-go/mlflow/internal/store"
)

// start runs a server on s until the test ends, loading a fake model for every endpoint but
// one whose model is "broken".
func start(t *testing.T, s *store.Store, opts server.Options) server.Info {
	t.Helper()
	if opts.Load == nil {
		opts.Load = func(_ context.Context, _ *store.Store, ref string) (serve.Model, []serve.Input, error) {
			if ref == "broken:1" {
				return nil, nil, errors.New("model broken:1: blob sha256:00 is corrupt")
			}
			return fakemodel.New("bank", 1), fakemodel.Columns, nil
		}
	}
	return wstest.Start(t, s, opts)
}

func newStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func deployRecord(t *testing.T, s *store.Store, name, model string) {
	t.Helper()
	err := endpoints.Put(context.Background(), s, &endpoints.Endpoint{
		Name: name, Model: endpoints.ModelRef{Name: model, Version: 1}, Auth: "key", ClassicResponse: "string",
	})
	if err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdminNeedsBearerScheme(t *testing.T) {
	s := newStore(t)
	in := start(t, s, server.Options{})
	tok, err := server.AdminToken(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		auth string
		code int
	}{
		{"", 401},
		{tok, 401}, // the bare token, without its scheme
		{"Basic " + tok, 401},
		{"Bearer " + tok + "x", 401},
		{"Bearer " + tok, 200},
		{"bearer " + tok, 200},
	} {
		if code, body := get(t, in.URL+"/admin/status", c.auth); code != c.code {
			t.Errorf("Authorization %q: %d %s, want %d", c.auth, code, body, c.code)
		}
	}
}

func TestMetricsAuth(t *testing.T) {
	s := newStore(t)
	deployRecord(t, s, "bank", "bank")
	in := start(t, s, server.Options{MetricsAuth: server.MetricsAuthKey})
	tok, _ := server.AdminToken(s)
	k, err := endpoints.ReadKeys(s, "bank")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/metrics", "/endpoints/bank/metrics"} {
		for _, c := range []struct {
			auth string
			code int
		}{
			{"", 401},
			{"Bearer wrong", 401},
			{k.Primary, 401},
			{"Bearer " + tok, 200},
			{"Bearer " + k.Primary, 200},
			{"Bearer " + k.Secondary, 200},
		} {
			code, body := get(t, in.URL+path, c.auth)
			if code != c.code {
				t.Errorf("GET %s with %q: %d, want %d", path, c.auth, code, c.code)
			}
			if code == 200 && !strings.Contains(body, `endpoint="bank"`) {
				t.Errorf("GET %s: no bank metrics in %.200s", path, body)
			}
		}
	}
	if code, _ := get(t, in.URL+"/endpoints/nosuch/metrics", "Bearer "+tok); code != 404 {
		t.Errorf("metrics of an endpoint that does not exist: %d, want 404", code)
	}
	// The default stays open, as Prometheus scrapes it without credentials.
	s2 := newStore(t)
	in2 := start(t, s2, server.Options{})
	if code, _ := get(t, in2.URL+"/metrics", ""); code != 200 {
		t.Errorf("metrics with metrics auth none: %d, want 200", code)
	}
	if _, err := server.New(s2, server.Options{MetricsAuth: "token"}); err == nil || !strings.Contains(err.Error(), `metrics auth "token": want none or key`) {
		t.Errorf("New with metrics auth token: %v", err)
	}
}

func TestFailedEndpointIs503(t *testing.T) {
	s := newStore(t)
	deployRecord(t, s, "good", "bank")
	deployRecord(t, s, "bad", "broken")
	in := start(t, s, server.Options{})
	for _, c := range []struct {
		path string
		code int
		want string
	}{
		{"/endpoints/bad/score", 503, "endpoint bad is deployed but failed to load: load model broken:1: model broken:1: blob sha256:00 is corrupt"},
		{"/v2/models/bad/ready", 503, "failed to load"},
		{"/v2/models/bad", 503, "failed to load"},
		{"/endpoints/nosuch/score", 404, "endpoint nosuch does not exist"},
		{"/endpoints/good/livez", 200, "ok"},
	} {
		code, body := get(t, in.URL+c.path, "")
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("GET %s: %d %s, want %d with %q", c.path, code, body, c.code, c.want)
		}
	}
	var st struct{ Endpoints []server.EndpointStatus }
	if err := server.Admin(context.Background(), s, &in, "GET", "/admin/status", &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Endpoints) != 2 || st.Endpoints[0].Name != "bad" || st.Endpoints[0].State != "failed" ||
		!strings.Contains(st.Endpoints[0].Error, "blob sha256:00 is corrupt") || st.Endpoints[1].Error != "" {
		t.Errorf("status: %+v", st.Endpoints)
	}
	// A redeploy that loads clears the failure.
	deployRecord(t, s, "bad", "bank")
	if err := server.Reload(context.Background(), s, "bad"); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, in.URL+"/endpoints/bad/livez", ""); code != 200 {
		t.Errorf("after a good redeploy: %d %s", code, body)
	}
}

// syncBuf is a log destination the server writes from its goroutine.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestWarnsOffLoopback(t *testing.T) {
	for _, c := range []struct {
		addr string
		warn bool
	}{{"127.0.0.1:0", false}, {"0.0.0.0:0", true}} {
		var buf syncBuf
		in := start(t, newStore(t), server.Options{Addr: c.addr, Log: log.New(&buf, "", 0)})
		if got := strings.Contains(buf.String(), "not a loopback address"); got != c.warn {
			t.Errorf("--addr %s: warned %v, want %v: %s", c.addr, got, c.warn, buf.String())
		}
		// Local clients reach a server on every interface through loopback.
		if !strings.HasPrefix(in.URL, "http://127.0.0.1:") {
			t.Errorf("--addr %s: URL %s, want it on 127.0.0.1", c.addr, in.URL)
		}
	}
}

// TestRunRefusesServedWorkspace: a second server on a served workspace returns ErrServed at
// once and does not touch the first one's server.json.
func TestRunRefusesServedWorkspace(t *testing.T) {
	s := newStore(t)
	first := start(t, s, server.Options{})
	srv, err := server.New(s, server.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Run(ctx)
	if !errors.Is(err, server.ErrServed) {
		t.Fatalf("second Run: %v, want ErrServed", err)
	}
	if want := "pid " + strconv.Itoa(os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Errorf("second Run: %v, want it to name the owner (%s)", err, want)
	}
	in, err := server.Find(context.Background(), s)
	if err != nil || in.URL != first.URL {
		t.Errorf("server.json after the refused start: %+v, %v; want the first server's %s", in, err, first.URL)
	}
}
