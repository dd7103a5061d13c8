package dataset_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/steps/dataset"
	"github.com/mlflow-go/mlflow/steps/steptest"
)

func TestConformance(t *testing.T) {
	steptest.Run(t, steptest.Case{
		Kind:   dataset.New(),
		Config: dataset.Config{},
		Setup: func(t *testing.T, dir string, s *store.Store) map[string]any {
			var b strings.Builder
			b.WriteString("age,job,y\n")
			for i := range 2000 {
				b.WriteString([]string{"30,admin.,no\n", "41,technician,yes\n", "25,services,no\n"}[i%3])
			}
			if err := os.WriteFile(filepath.Join(dir, "d.csv"), []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			return map[string]any{"source": "d.csv", "target": "y"}
		},
		Vary: func(t *testing.T, dir string, cfg map[string]any) {
			f, err := os.OpenFile(filepath.Join(dir, "d.csv"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("52,retired,yes\n")
			f.Close()
		},
	})
}
