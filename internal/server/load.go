package server

import (
	"context"
	"math"

	"github.com/mlflow-go/mlflow/internal/datasets"
	"github.com/mlflow-go/mlflow/internal/ml/model"
	"github.com/mlflow-go/mlflow/internal/models"
	"github.com/mlflow-go/mlflow/internal/server/serve"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

// LoadModel resolves ref (NAME, NAME:VERSION or a model file) and adapts it for the serving
// handler. It lives here, above both the registry (internal/endpoints) and the handler
// (serve), so that neither of them has to know the other.
func LoadModel(ctx context.Context, s *store.Store, ref string) (serve.Model, []serve.Input, models.Record, error) {
	m, rec, err := models.Resolve(ctx, s, ref)
	if err != nil {
		return nil, nil, rec, err
	}
	return m, Inputs(m.Inputs(), trainingProfile(ctx, s, m)), rec, nil
}

// trainingProfile is the profile of the dataset version m was trained on, or nil when the
// workspace does not hold it (a model file served alone, a dataset since deleted).
func trainingProfile(ctx context.Context, s *store.Store, m *model.Model) *tabular.Profile {
	ref := m.A.Lineage.Dataset
	if s == nil || ref.Name == "" || ref.Version == 0 {
		return nil
	}
	d, err := datasets.Get(ctx, s, ref.Name, ref.Version)
	if err != nil || ref.Digest != "" && d.Digest != ref.Digest {
		return nil
	}
	return d.Profile
}

// Inputs converts the model's input schema to the handler's. The specs' example record,
// which anyone may read, takes each column's typical value from the training data's
// profile (prof, may be nil): never the artifact's per-input example, which is a training
// row's cell.
func Inputs(ins []model.Input, prof *tabular.Profile) []serve.Input {
	cols := map[string]*tabular.ColumnProfile{}
	if prof != nil {
		for i := range prof.Columns {
			cols[prof.Columns[i].Name] = &prof.Columns[i]
		}
	}
	out := make([]serve.Input, len(ins))
	for i, in := range ins {
		out[i] = serve.Input{Name: in.Name, Type: in.Type, Levels: in.Levels, Example: typical(in, cols[in.Name])}
	}
	return out
}

// typical is a column's median (numbers, rounded for integers), most frequent category or
// majority boolean, or nil (the handler then uses a neutral value) without a profile.
func typical(in model.Input, cp *tabular.ColumnProfile) any {
	if cp == nil {
		return nil
	}
	switch in.Type {
	case "integer":
		if cp.P50 != nil && math.Abs(*cp.P50) < 1<<53 {
			return int64(math.Round(*cp.P50))
		}
	case "number":
		if cp.P50 != nil {
			return *cp.P50
		}
	case "boolean":
		// A boolean's levels are its false and true spellings, in that order.
		if len(cp.Top) > 0 && len(in.Levels) == 2 {
			return cp.Top[0].Value == in.Levels[1]
		}
	case "string":
		if len(cp.Top) > 0 {
			return cp.Top[0].Value
		}
	}
	return nil
}
