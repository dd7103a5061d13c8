package consume_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/mlflow-go/mlflow/internal/server"
	"github.com/mlflow-go/mlflow/internal/server/fakemodel"
	"github.com/mlflow-go/mlflow/internal/server/serve"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/steps/consume"
	"github.com/mlflow-go/mlflow/steps/deploy"
	"github.com/mlflow-go/mlflow/steps/logs"
	"github.com/mlflow-go/mlflow/steps/steptest"
)

// The endpoint kinds pass the conformance suite against an in-process workspace server per
// fresh workspace.

// The endpoint output's URIs carry the server's port, which a second server gets anew.
const newPort = "a new workspace server listens on a new port, and the endpoint's URIs name it"

func TestDeployConformance(t *testing.T) {
	fake := fakemodel.New("bank", 1)
	steptest.Run(t, steptest.Case{
		Kind: &deploy.Step{
			Load:   func(context.Context, *store.Store, string) (serve.Model, error) { return fake, nil },
			Ensure: server.Find,
		},
		Config: deploy.Config{},
		Setup: func(t *testing.T, dir string, s *store.Store) map[string]any {
			serverOn(t, s)
			return map[string]any{"model": "bank:1", "name": "bank", "auth": "key"}
		},
		Vary: func(t *testing.T, dir string, cfg map[string]any) { cfg["auth"] = "none" },
	})
}

func TestConsumeConformance(t *testing.T) {
	var row map[string]any
	json.Unmarshal([]byte(fakemodel.RowJSON), &row)
	steptest.Run(t, steptest.Case{
		Kind:   consume.New(),
		Config: consume.Config{},
		Setup: func(t *testing.T, dir string, s *store.Store) map[string]any {
			return map[string]any{"endpoint": stable(deployedOn(t, s)), "input": []any{row}}
		},
		Vary:         func(t *testing.T, dir string, cfg map[string]any) { cfg["method"] = "predict_proba" },
		Unrepeatable: newPort,
	})
}

func TestLogsConformance(t *testing.T) {
	steptest.Run(t, steptest.Case{
		Kind:   logs.New(),
		Config: logs.Config{},
		Setup: func(t *testing.T, dir string, s *store.Store) map[string]any {
			return map[string]any{"endpoint": stable(deployedOn(t, s))}
		},
		Vary:         func(t *testing.T, dir string, cfg map[string]any) { cfg["tail"] = 5 },
		Unrepeatable: newPort,
	})
}

// stable is the endpoint output as a step downstream of deploy receives it (JSON values).
func stable(ep any) map[string]any {
	b, _ := json.Marshal(ep)
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}
