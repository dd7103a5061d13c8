package studio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/internal/studio"
)

// manyRuns fills a workspace with n recorded runs of five steps each. They are written to
// the engine's table directly: running 10,000 workflows would take minutes and measure the
// engine, not the listing.
func manyRuns(b *testing.B, n int) (*store.Store, http.Handler, *http.Cookie) {
	s, err := store.Open(filepath.Join(b.TempDir(), ".mlflow"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ctx := context.Background()
	if _, err := engine.ListRuns(ctx, s, 1); err != nil { // creates the tables
		b.Fatal(err)
	}
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO runs(id, workflow, file, trigger, status, started, duration_ms, record) VALUES(?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		r := &engine.RunRecord{RunID: fmt.Sprintf("run-%05d", i), Workflow: "bank", File: "wf.cue", Trigger: "cli",
			Status: engine.StateSucceeded, Started: t0.Add(time.Duration(i) * time.Minute), DurationMS: 4200,
			Steps: map[string]*engine.StepRecord{}, Deps: map[string][]string{}}
		prev := ""
		for _, st := range []string{"data", "train", "evaluate", "deploy", "consume"} {
			r.Steps[st] = &engine.StepRecord{Kind: st, State: engine.StateSucceeded, Started: r.Started, DurationMS: 800,
				Outputs: engine.Outputs{"digest": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}
			if prev != "" {
				r.Deps[st] = []string{prev}
			}
			prev = st
		}
		rec, _ := json.Marshal(r)
		if _, err := stmt.Exec(r.RunID, r.Workflow, r.File, r.Trigger, r.Status, r.Started.Format(time.RFC3339Nano), r.DurationMS, string(rec)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	tok, err := studio.Token(s)
	if err != nil {
		b.Fatal(err)
	}
	h := studio.New(studio.Options{Store: s, Version: "bench"})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/?"+url.Values{"token": {tok}}.Encode(), nil))
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		b.Fatalf("log in: %d %v", rec.Code, cookies)
	}
	return s, h, cookies[0]
}

// BenchmarkRunsPage: with 10,000 runs in the workspace, the runs list (the API the
// /ui/runs page loads) must answer well under 200 ms, first page and last.
func BenchmarkRunsPage(b *testing.B) {
	const n = 10000
	_, h, cookie := manyRuns(b, n)
	for _, c := range []struct{ name, path string }{
		{"api-first", "/ui/api/runs?page=1&size=50"},
		{"api-last", fmt.Sprintf("/ui/api/runs?page=%d&size=50", n/50)},
		{"page", "/ui/runs"},
	} {
		b.Run(c.name, func(b *testing.B) {
			var worst time.Duration
			for b.Loop() {
				req := httptest.NewRequest("GET", c.path, nil)
				req.AddCookie(cookie)
				rec := httptest.NewRecorder()
				t := time.Now()
				h.ServeHTTP(rec, req)
				worst = max(worst, time.Since(t))
				if rec.Code != 200 {
					b.Fatalf("%s: %d %s", c.path, rec.Code, rec.Body)
				}
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
			if worst > 200*time.Millisecond {
				b.Errorf("%s took %v with %d runs, want under 200 ms", c.path, worst, n)
			}
		})
	}
}
