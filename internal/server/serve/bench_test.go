package serve_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/mlflow-go/mlflow/internal/server"
	"github.com/mlflow-go/mlflow/internal/server/serve"
)

// sink is a ResponseWriter that keeps nothing between requests, so the
// benchmark measures the handler, not a recorder.
type sink struct {
	h    http.Header
	code int
	n    int
}

func (s *sink) Header() http.Header         { return s.h }
func (s *sink) WriteHeader(c int)           { s.code = c }
func (s *sink) Write(b []byte) (int, error) { s.n += len(b); return len(b), nil }

// BenchmarkScore is one /score request in process: auth, decode of the
// one-record Azure payload, predict, encode, metrics and log queueing.
func BenchmarkScore(b *testing.B) {
	h := newHandler(b, serve.Options{Endpoint: "bankmarketing"})
	body := []byte(`{"data": [` + row + `]}`)
	req := httptest.NewRequest("POST", "/score", nil)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key1)
	rd := bytes.NewReader(body)
	req.Body = noClose{rd}
	req.ContentLength = int64(len(body))
	w := &sink{h: http.Header{}}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		rd.Reset(body)
		clear(w.h)
		w.code = 0
		h.ServeHTTP(w, req)
	}
	if w.code != 0 && w.code != 200 {
		b.Fatalf("status %d", w.code)
	}
}

type noClose struct{ *bytes.Reader }

func (noClose) Close() error { return nil }

// BenchmarkScoreModel is BenchmarkScore with a real trained model:
// MLFLOW_BENCH_MODEL=path/to/model (an automl artifact) go test -bench ScoreModel.
func BenchmarkScoreModel(b *testing.B) {
	path := os.Getenv("MLFLOW_BENCH_MODEL")
	if path == "" {
		b.Skip("set MLFLOW_BENCH_MODEL to a model file")
	}
	m, ins, _, err := server.LoadModel(context.Background(), nil, path)
	if err != nil {
		b.Fatal(err)
	}
	h := serve.New(serve.Options{Endpoint: "bankmarketing"})
	if err := h.Swap(m, ins); err != nil {
		b.Fatal(err)
	}
	h.SetKeys(key1, key2)
	body := []byte(`{"data": [` + row + `]}`)
	req := httptest.NewRequest("POST", "/score", nil)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key1)
	rd := bytes.NewReader(body)
	req.Body = noClose{rd}
	req.ContentLength = int64(len(body))
	w := &sink{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(body)
		clear(w.h)
		w.code = 0
		h.ServeHTTP(w, req)
	}
	if w.code != 0 && w.code != 200 {
		b.Fatalf("status %d", w.code)
	}
}
