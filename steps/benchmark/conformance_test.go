package benchmark_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/steps/benchmark"
	"github.com/mlflow-go/mlflow/steps/steptest"
)

func TestConformance(t *testing.T) {
	// One server for every setup, so equal configs name the same URL.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(srv.Close)
	steptest.Run(t, steptest.Case{
		Kind:   benchmark.New(),
		Config: benchmark.Config{},
		Setup: func(t *testing.T, dir string, s *store.Store) map[string]any {
			return map[string]any{"endpoint": srv.URL + "/score", "requests": 5, "payload": map[string]any{"inline": map[string]any{"data": []any{}}}}
		},
		Vary: func(t *testing.T, dir string, cfg map[string]any) { cfg["concurrency"] = 2 },
	})
}
