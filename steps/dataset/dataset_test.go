package dataset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/datasets"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema"
)

const small = "age,job,y\n30,admin.,no\n41,technician,yes\n25,admin.,no\n"

type env struct {
	t   *testing.T
	dir string
	s   *store.Store
	log bytes.Buffer
}

func newEnv(t *testing.T) *env {
	dir := t.TempDir()
	s, err := store.Open(filepath.Join(dir, ".mlflow"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &env{t: t, dir: dir, s: s}
}

func (e *env) write(name, content string) {
	if err := os.WriteFile(filepath.Join(e.dir, name), []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) req(cfg map[string]any) *engine.Request {
	return &engine.Request{
		RunID: "run1", Step: "data", Kind: "dataset",
		Workflow: &schema.Workflow{Name: "wf", Dir: e.dir},
		Config:   cfg, Store: e.s, Log: &e.log, Progress: engine.NopProgress{},
	}
}

func (e *env) run(cfg map[string]any) (artifact.Dataset, error) {
	outs, err := New().Run(context.Background(), e.req(cfg))
	if err != nil {
		return artifact.Dataset{}, err
	}
	return outs["dataset"].(artifact.Dataset), nil
}

func (e *env) key(cfg map[string]any) string {
	var b bytes.Buffer
	if err := New().Key(context.Background(), e.req(cfg), &b); err != nil {
		e.t.Fatal(err)
	}
	return b.String()
}

func TestRunLocal(t *testing.T) {
	e := newEnv(t)
	e.write("d.csv", small)
	cfg := map[string]any{"source": "d.csv", "target": "y"}
	out, err := e.run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if out.Name != "data" || out.Version != 1 || out.Rows != 3 || out.Columns != 3 || out.Target != "y" {
		t.Fatalf("outputs %v", out)
	}
	for _, want := range []string{"read d.csv: 3 rows, 3 columns (1 numeric, 2 categorical, 0 boolean)", "target y: no 2 (66.7%), yes 1 (33.3%)", "registered data:1"} {
		if !strings.Contains(e.log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, e.log.String())
		}
	}
	k1 := e.key(cfg)
	// Unchanged file: same version, same key.
	again, err := e.run(cfg)
	if err != nil || again.Version != 1 || again.Digest != out.Digest || e.key(cfg) != k1 {
		t.Fatalf("rerun: %v %v", again, err)
	}
	// New content: next version, new key; the name can be set.
	e.write("d.csv", small+"50,retired,yes\n")
	if k := e.key(cfg); k == k1 {
		t.Error("key did not change with the file")
	}
	out2, err := e.run(cfg)
	if err != nil || out2.Version != 2 || out2.Rows != 4 {
		t.Fatalf("new content: %v %v", out2, err)
	}
	named, err := e.run(map[string]any{"source": "d.csv", "target": "y", "name": "bank", "schema": map[string]any{"age": "categorical"}})
	if err != nil || named.Name != "bank" || named.Version != 1 {
		t.Fatalf("named: %v %v", named, err)
	}
	d, err := datasets.Get(context.Background(), e.s, "bank", 1)
	if err != nil || d.Profile.Columns[0].Type != "categorical" || d.Source != "d.csv" {
		t.Fatalf("registered: %+v %v", d, err)
	}

	// Restore accepts a live version and refuses one whose blob is gone.
	if err := New().Restore(context.Background(), e.req(cfg), engine.Outputs{"dataset": map[string]any{"name": "data", "version": float64(2), "digest": out2.Digest, "rows": 4.0, "columns": 3.0}}); err != nil {
		t.Errorf("restore: %v", err)
	}
	p, _ := e.s.BlobPath(out2.Digest)
	os.Remove(p)
	if err := New().Restore(context.Background(), e.req(cfg), engine.Outputs{"dataset": out2}); err == nil {
		t.Error("restore of a removed blob succeeded")
	}
}

// A failed registration leaves the earlier versions as they were.
func TestBadInputKeepsVersions(t *testing.T) {
	e := newEnv(t)
	e.write("d.csv", small)
	cfg := map[string]any{"source": "d.csv", "target": "y"}
	if _, err := e.run(cfg); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "age,job,y\n", "age,job,y\n1,2\n", "age,job,y\n1,a,no\n2,b,no\n"} {
		e.write("d.csv", bad)
		if _, err := e.run(cfg); err == nil {
			t.Fatalf("%q registered", bad)
		}
	}
	all, err := datasets.List(context.Background(), e.s)
	if err != nil || len(all) != 1 || all[0].Version != 1 || all[0].Rows != 3 {
		t.Fatalf("after failures: %v %v", all, err)
	}
}

func TestConfigErrors(t *testing.T) {
	e := newEnv(t)
	e.write("d.csv", small)
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"source": "missing.csv"}, "source missing.csv: no such file or directory"},
		{map[string]any{}, "source: required"},
		{map[string]any{"source": "https://example.com/d.csv"}, "source https://example.com/d.csv: a URL needs a sha256 pin"},
		{map[string]any{"source": "http://example.com/d.csv", "sha256": strings.Repeat("a", 64)}, "only https:// URLs"},
		{map[string]any{"source": "d.csv", "sha256": "abc"}, `sha256: "abc" is not 64 hex digits`},
		{map[string]any{"source": "d.csv", "sha256": strings.Repeat("a", 64)}, "source d.csv: sha256 mismatch: the file hashes to"},
		{map[string]any{"source": "d.csv", "delimiter": ":"}, `delimiter: ":"`},
		{map[string]any{"source": "d.csv", "schema": map[string]any{"age": "text"}}, `schema.age: "text": want numeric, categorical or boolean`},
		{map[string]any{"source": "d.csv", "target": "z"}, `d.csv: target "z" is not a column; the columns are "age", "job", "y"`},
		{map[string]any{"source": "d.csv", "name": "a b"}, `name: dataset name "a b"`},
	} {
		_, err := e.run(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestRunURL(t *testing.T) {
	var hits atomic.Int32
	var fails atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/flaky.csv":
			if fails.Add(1) <= 2 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte(small))
		case "/gone.csv":
			http.NotFound(w, r)
		default:
			w.Write([]byte(small))
		}
	}))
	defer srv.Close()
	oldClient, oldBackoff, oldMax := HTTPClient, RetryBackoff, MaxDownload
	HTTPClient, RetryBackoff = srv.Client(), time.Millisecond
	defer func() { HTTPClient, RetryBackoff, MaxDownload = oldClient, oldBackoff, oldMax }()

	e := newEnv(t)
	cfg := map[string]any{"source": srv.URL + "/d.csv", "sha256": sum(small), "target": "y"}
	out, err := e.run(cfg)
	if err != nil || out.Rows != 3 || out.Version != 1 {
		t.Fatalf("url: %v %v", out, err)
	}
	// The key is the pin: computing it fetches nothing.
	before := hits.Load()
	if k := e.key(cfg); !strings.Contains(k, "sha256:"+sum(small)) || hits.Load() != before {
		t.Errorf("key %q, %d fetches", k, hits.Load()-before)
	}

	// Transient errors are retried.
	if _, err := e.run(map[string]any{"source": srv.URL + "/flaky.csv", "sha256": sum(small)}); err != nil {
		t.Fatalf("flaky: %v", err)
	}
	// A 404 is not retried.
	before = hits.Load()
	if _, err := e.run(map[string]any{"source": srv.URL + "/gone.csv", "sha256": sum(small)}); err == nil || !strings.Contains(err.Error(), "404") || hits.Load()-before != 1 {
		t.Errorf("404: %v after %d requests", err, hits.Load()-before)
	}
	// A digest mismatch is refused, and nothing is registered.
	_, err = e.run(map[string]any{"source": srv.URL + "/d.csv", "sha256": sum("other"), "name": "mismatch"})
	if err == nil || !strings.Contains(err.Error(), "sha256 mismatch: the download hashes to "+sum(small)) {
		t.Errorf("mismatch: %v", err)
	}
	if _, err := datasets.Get(context.Background(), e.s, "mismatch", 0); err == nil {
		t.Error("a mismatched download was registered")
	}
	MaxDownload = 10
	if _, err := e.run(map[string]any{"source": srv.URL + "/d.csv", "sha256": sum(small), "name": "big"}); err == nil || !strings.Contains(err.Error(), "download limit") {
		t.Errorf("limit: %v", err)
	}
}

// A cancelled run stops reading and registers nothing.
func TestRunCancelled(t *testing.T) {
	e := newEnv(t)
	var b strings.Builder
	b.WriteString("x,y\n")
	for i := range 300000 {
		b.WriteString([]string{"1,a\n", "2,b\n"}[i%2])
	}
	e.write("d.csv", b.String())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := New().Run(ctx, e.req(map[string]any{"source": "d.csv", "target": "y"}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if all, _ := datasets.List(context.Background(), e.s); len(all) != 0 {
		t.Fatalf("registered %v", all)
	}
}
