package server

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/server/fakemodel"
	"github.com/mlflow-go/mlflow/internal/server/serve"
	"github.com/mlflow-go/mlflow/internal/store"
)

// sink is a ResponseWriter that keeps nothing between requests.
type sink struct {
	h    http.Header
	code int
}

func (s *sink) Header() http.Header         { return s.h }
func (s *sink) WriteHeader(c int)           { s.code = c }
func (s *sink) Write(b []byte) (int, error) { return len(b), nil }

type noClose struct{ *bytes.Reader }

func (noClose) Close() error { return nil }

// BenchmarkWorkspaceScore is one /endpoints/NAME/score request through the workspace server's
// routing (lookup, prefix strip) into the endpoint's handler, in process.
func BenchmarkWorkspaceScore(b *testing.B) {
	s, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := endpoints.Put(ctx, s, &endpoints.Endpoint{Name: "bank", Model: endpoints.ModelRef{Name: "bank", Version: 1}, Auth: "key", ClassicResponse: "string"}); err != nil {
		b.Fatal(err)
	}
	srv, err := New(s, Options{Load: func(context.Context, *store.Store, string) (serve.Model, []serve.Input, error) {
		return fakemodel.New("bank", 1), fakemodel.Columns, nil
	}})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.reload(ctx, "bank"); err != nil {
		b.Fatal(err)
	}
	defer srv.closeAll()
	k, err := endpoints.ReadKeys(s, "bank")
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"data": [` + fakemodel.RowJSON + `]}`)
	req := httptest.NewRequest("POST", "/endpoints/bank/score", nil)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+k.Primary)
	rd := bytes.NewReader(body)
	req.Body = noClose{rd}
	req.ContentLength = int64(len(body))
	w := &sink{h: http.Header{}}
	h := srv.Handler()
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
