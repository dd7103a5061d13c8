package server

import (
	"context"

	"github.com/mlflow-go/mlflow/internal/ml/model"
	"github.com/mlflow-go/mlflow/internal/models"
	"github.com/mlflow-go/mlflow/internal/server/serve"
	"github.com/mlflow-go/mlflow/internal/store"
)

// LoadModel resolves ref (NAME, NAME:VERSION or a model file) and adapts it for the serving
// handler. It lives here, above both the registry (internal/endpoints) and the handler
// (serve), so that neither of them has to know the other.
func LoadModel(ctx context.Context, s *store.Store, ref string) (serve.Model, []serve.Input, models.Record, error) {
	m, rec, err := models.Resolve(ctx, s, ref)
	if err != nil {
		return nil, nil, rec, err
	}
	return m, Inputs(m), rec, nil
}

// Inputs converts the model's input schema to the handler's.
func Inputs(m *model.Model) []serve.Input {
	ins := m.Inputs()
	out := make([]serve.Input, len(ins))
	for i, in := range ins {
		out[i] = serve.Input{Name: in.Name, Type: in.Type, Levels: in.Levels, Example: in.Example}
	}
	return out
}
