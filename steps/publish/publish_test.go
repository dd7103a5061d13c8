package publish_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/pipelines"
	"github.com/mlflow-go/mlflow/internal/server"
	"github.com/mlflow-go/mlflow/internal/server/wstest"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema/load"
	"github.com/mlflow-go/mlflow/steps/publish"
)

func request(t *testing.T, dir string, s *store.Store) *engine.Request {
	t.Helper()
	wf, err := load.File(filepath.Join(dir, "wf.cue"), load.Options{Params: map[string]string{"rows": "9"}})
	if err != nil {
		t.Fatal(err)
	}
	st := wf.Steps["publish"]
	return &engine.Request{RunID: "r", Step: "publish", Kind: "publish", Workflow: wf, Config: st.Config,
		Store: s, Log: io.Discard, Progress: engine.NopProgress{}}
}

// An unchanged definition is reconciled (a -p of the publishing run is not part of it: the
// published default is the file's); a description is updated in place; an edited file of
// the folder is a new version.
func TestReconcile(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"wf.cue": confWorkflow, "d.csv": "a,b\n1,2\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := store.Open(filepath.Join(dir, ".mlflow"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wstest.Start(t, s, server.Options{Version: "test"})
	st := &publish.Step{Ensure: func(ctx context.Context, s *store.Store) (*server.Info, error) { return server.Find(ctx, s) }}
	ctx := context.Background()
	if _, ok, err := st.Reconcile(ctx, request(t, dir, s)); ok || err != nil {
		t.Fatalf("nothing published yet: ok %v err %v", ok, err)
	}
	outs, err := st.Run(ctx, request(t, dir, s))
	if err != nil {
		t.Fatal(err)
	}
	if p := outs["pipeline"].(artifact.Pipeline); p.Version != 1 || !strings.HasSuffix(p.TriggerURI, "/pipelines/conf/runs") {
		t.Fatalf("output %+v", p)
	}
	p, err := pipelines.Get(ctx, s, "conf")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Params) != 1 || fmt.Sprint(p.Params[0].Default) != "3" || p.Params[0].Type != "integer" {
		t.Fatalf("params %+v: want rows, integer, the file's default 3", p.Params)
	}
	if _, ok, err := st.Reconcile(ctx, request(t, dir, s)); !ok || err != nil {
		t.Fatalf("unchanged: ok %v err %v", ok, err)
	}
	described := strings.Replace(confWorkflow, `params: ["rows"]}`, `params: ["rows"], description: "d"}`, 1)
	os.WriteFile(filepath.Join(dir, "wf.cue"), []byte(described), 0o644)
	if _, ok, err := st.Reconcile(ctx, request(t, dir, s)); ok || err != nil {
		t.Fatalf("the file changed, so the snapshot: ok %v err %v", ok, err)
	}
	if outs, err = st.Run(ctx, request(t, dir, s)); err != nil {
		t.Fatal(err)
	}
	if p := outs["pipeline"].(artifact.Pipeline); p.Version != 2 {
		t.Fatalf("after an edit: version %d", p.Version)
	}
	// Published twice, the keys stay: a client keeps working across versions.
	k1, err := pipelines.ReadKeys(s, "conf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err = st.Run(ctx, request(t, dir, s)); err != nil {
		t.Fatal(err)
	}
	if k2, _ := pipelines.ReadKeys(s, "conf"); k2 != k1 {
		t.Fatal("keys changed on a publication")
	}
}

func TestRefused(t *testing.T) {
	dir := t.TempDir()
	src := strings.Replace(confWorkflow, `publish: {`, `other: {kind: "publish", name: "o", steps: ["data"]}
	publish: {`, 1)
	src = strings.Replace(src, `steps: ["data"], params`, `steps: ["other"], params`, 1)
	os.WriteFile(filepath.Join(dir, "wf.cue"), []byte(src), 0o644)
	os.WriteFile(filepath.Join(dir, "d.csv"), []byte("a\n"), 0o644)
	s, err := store.Open(filepath.Join(dir, ".mlflow"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = publish.New().Run(context.Background(), request(t, dir, s))
	if err == nil || err.Error() != "steps: other is a publish step: a pipeline does not publish pipelines" {
		t.Fatalf("error %v", err)
	}
}

// Files the workflow's exec steps write are not part of the snapshot: a run writes them,
// maybe while publish takes it, and would otherwise publish a new version each time.
func TestStepOutputsLeftOut(t *testing.T) {
	dir := t.TempDir()
	src := strings.Replace(confWorkflow, `inputs: ["d.csv"]}`, `inputs: ["d.csv"], outputs: ["out/head.csv"]}`, 1)
	os.WriteFile(filepath.Join(dir, "wf.cue"), []byte(src), 0o644)
	os.WriteFile(filepath.Join(dir, "d.csv"), []byte("a\n"), 0o644)
	s, err := store.Open(filepath.Join(dir, ".mlflow"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key := func() string {
		var b strings.Builder
		if err := publish.New().Key(context.Background(), request(t, dir, s), &b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	before := key()
	os.MkdirAll(filepath.Join(dir, "out"), 0o755)
	os.WriteFile(filepath.Join(dir, "out", "head.csv"), []byte("a\n"), 0o644)
	if after := key(); after != before {
		t.Fatalf("an exec output changed the snapshot: %s, then %s", before, after)
	}
	os.WriteFile(filepath.Join(dir, "out", "other.csv"), []byte("a\n"), 0o644)
	if after := key(); after == before {
		t.Fatal("a new file left the snapshot as it was")
	}
}
