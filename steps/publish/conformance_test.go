package publish_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mlflow-go/mlflow/internal/server"
	"github.com/mlflow-go/mlflow/internal/server/wstest"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema"
	"github.com/mlflow-go/mlflow/schema/load"
	"github.com/mlflow-go/mlflow/steps/publish"
	"github.com/mlflow-go/mlflow/steps/steptest"
)

const confWorkflow = `name: "conf"
params: {rows: 3}
steps: {
	data: {kind: "exec", command: ["head", "-n", "\(params.rows)", "d.csv"], inputs: ["d.csv"]}
	publish: {kind: "publish", name: "conf", steps: ["data"], params: ["rows"]}
}
`

func TestConformance(t *testing.T) {
	st := &publish.Step{Ensure: func(ctx context.Context, s *store.Store) (*server.Info, error) {
		if in, err := server.Find(ctx, s); err == nil {
			return in, nil
		}
		in := wstest.Start(t, s, server.Options{Version: "test"})
		return &in, nil
	}}
	steptest.Run(t, steptest.Case{
		Kind:   st,
		Config: publish.Config{},
		Setup: func(t *testing.T, dir string, s *store.Store) map[string]any {
			if err := os.WriteFile(filepath.Join(dir, "wf.cue"), []byte(confWorkflow), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "d.csv"), []byte("a,b\n1,2\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return map[string]any{"name": "conf", "steps": []any{"data"}, "params": []any{"rows"}, "auth": "key", "concurrency": "queue"}
		},
		Workflow: func(dir string) *schema.Workflow {
			wf, err := load.File(filepath.Join(dir, "wf.cue"), load.Options{})
			if err != nil {
				panic(err) // the test's own file
			}
			return wf
		},
		// An edit of any file of the folder is a new snapshot, so a new key.
		Vary: func(t *testing.T, dir string, cfg map[string]any) {
			if err := os.WriteFile(filepath.Join(dir, "d.csv"), []byte("a,b\n1,3\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
	})
}
