package studio_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/ml/metrics"
	"github.com/mlflow-go/mlflow/internal/ml/model"
	"github.com/mlflow-go/mlflow/internal/models"
	"github.com/mlflow-go/mlflow/internal/server"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/internal/studio"
	"github.com/mlflow-go/mlflow/schema/load"
	"github.com/mlflow-go/mlflow/steps"
)

// workspace is a workspace with a running server (in this process) and what the tests look
// for in the UI.
type workspace struct {
	dir   string
	s     *store.Store
	url   string // the server's base URL
	token string
}

// bankRows copies the header and the first n rows of the repository's bank marketing data.
func bankRows(t testing.TB, dst string, n int) {
	f, err := os.Open(filepath.Join("..", "..", "examples", "bankmarketing", "data", "bankmarketing_train.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	for i := 0; i <= n && sc.Scan(); i++ {
		b.WriteString(sc.Text() + "\n")
	}
	if err := os.WriteFile(dst, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newWorkspace starts a workspace server over an empty workspace.
func newWorkspace(t testing.TB) *workspace {
	dir := t.TempDir()
	s, err := store.Open(filepath.Join(dir, ".mlflow"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ready := make(chan server.Info, 1)
	srv, err := server.New(s, server.Options{Addr: "127.0.0.1:0", Version: "test", Steps: steps.All(),
		Ready: func(in server.Info) { ready <- in }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var in server.Info
	select {
	case in = <-ready:
	case err := <-done:
		t.Fatalf("server: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("server did not start")
	}
	t.Cleanup(func() {
		cancel()
		<-done
	})
	tok, err := studio.Token(s)
	if err != nil {
		t.Fatal(err)
	}
	return &workspace{dir: dir, s: s, url: in.URL, token: tok}
}

// run runs the workflow in file (inside the workspace's folder) and returns its record.
func (w *workspace) run(t testing.TB, ctx context.Context, file, runID string) *engine.RunRecord {
	wf, err := load.File(filepath.Join(w.dir, file), load.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.NewPlan(wf, engine.NewRegistry(steps.All()...))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := engine.Run(ctx, p, w.s, engine.Options{RunID: runID})
	if err != nil {
		t.Fatalf("run %s: %v", file, err)
	}
	return rec
}

func (w *workspace) write(t testing.TB, name, content string) {
	if err := os.WriteFile(filepath.Join(w.dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// client is an HTTP client logged in to the UI.
func (w *workspace) client(t testing.TB) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	resp, err := c.Get(w.url + "/ui/?" + url.Values{"token": {w.token}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("log in: status %d", resp.StatusCode)
	}
	return c
}

func get(t testing.TB, c *http.Client, u string) (int, string) {
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// bankWorkflow registers a dataset, trains a model, deploys it (through this process's
// server) and scores a record, as a user's first workflow does.
const bankWorkflow = `name: "bank-studio"
steps: {
	data: {kind: "dataset", source: "bank.csv", target: "y", name: "bank", description: "<img src=x onerror=alert(1)> bank sample"}
	train: {
		kind:       "automl"
		dataset:    "${{ steps.data.outputs.dataset }}"
		task:       "classification"
		budget:     "10s"
		max_trials: 4
		name:       "bank"
	}
	deploy: {kind: "deploy", model: "${{ steps.train.outputs.model }}", name: "bank"}
	consume: {kind: "consume", endpoint: "${{ steps.deploy.outputs.endpoint }}", input: "one.json"}
}
`

const oneRecord = `{"data": [{"age": 29, "job": "management", "marital": "single", "education": "basic.9y", "default": "no", "housing": "yes", "loan": "no", "contact": "cellular", "month": "jul", "day_of_week": "fri", "duration": 135, "campaign": 1, "pdays": 999, "previous": 0, "poutcome": "nonexistent", "emp.var.rate": 1.4, "cons.price.idx": 93.918, "cons.conf.idx": -42.7, "euribor3m": 4.962, "nr.employed": 5228.1}]}`

// liveWorkflow has a slow first step that logs as it goes, so that a test sees the run
// and the step's log while they go on.
const liveWorkflow = `name: "live"
steps: {
	slow: {kind: "exec", command: ["sh", "-c", "for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.7; done; echo slow done"]}
	after: {kind: "exec", command: ["sh", "-c", "echo after"], needs: ["slow"]}
}
`

// pubWorkflow publishes a pipeline with typed parameters.
const pubWorkflow = `name: "greeter"
params: {who: *"world" | string, loud: *false | bool}
steps: {
	greet: {kind: "exec", command: ["sh", "-c", "echo hello " + params.who]}
	publish: {kind: "publish", name: "greeter", steps: ["greet"], params: ["who", "loud"], description: "Says <b>hello</b>"}
}
`

// registerArtifact registers a as model name, with the registry's summary taken from it,
// as the AutoML step does; a needs only what the model page reads.
func registerArtifact(t testing.TB, s *store.Store, name string, a model.Artifact, lb []model.LeaderboardEntry) models.Record {
	t.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := models.Register(context.Background(), s, name, b, models.Meta{Task: a.Task, Algorithm: a.Algorithm,
		PrimaryMetric: a.PrimaryMetric, Metrics: a.Metrics, Importance: a.Importance, Lineage: a.Lineage, Leaderboard: lb})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// houseModel is a regression model's artifact reduced to what its page reads, with the
// charts of made-up predictions (the page does not know the difference).
func houseModel(t testing.TB, s *store.Store) models.Record {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 3000
	y, pred := make([]float64, n), make([]float64, n)
	for i := range y {
		size := 40 + 160*rng.Float64()
		y[i] = 1000*size + 20000*rng.NormFloat64()
		pred[i] = 0.9*y[i] + 10000 + 15000*rng.NormFloat64()
	}
	a := model.Artifact{Format: model.Format, Version: model.FormatVersion, Name: "house", Task: model.Regression, Target: "price",
		Algorithm: "LightGBM", PrimaryMetric: "r2_score", Metrics: metrics.Regression(y, pred, 0, 250000),
		Diagnostics: model.Diagnose(model.Regression, nil, y, pred, nil)}
	return registerArtifact(t, s, "house", a, nil)
}

// irisModel is a three-class model's artifact reduced to what its page reads, with the
// charts of made-up probabilities that favour the true class.
func irisModel(t testing.TB, s *store.Store) models.Record {
	rng := rand.New(rand.NewPCG(5, 6))
	classes := []string{"setosa", "versicolor", "virginica"}
	const n = 900
	y, prob := make([]float64, n), make([]float64, 0, 3*n)
	for i := range y {
		c := i % 3
		y[i] = float64(c)
		row := []float64{rng.Float64(), rng.Float64(), rng.Float64()}
		row[c] += 0.4 + 0.6*float64(2-c)/2 // setosa is the easiest to tell apart
		sum := row[0] + row[1] + row[2]
		for _, v := range row {
			prob = append(prob, v/sum)
		}
	}
	yi := make([]int, n)
	for i := range y {
		yi[i] = int(y[i])
	}
	a := model.Artifact{Format: model.Format, Version: model.FormatVersion, Name: "iris", Task: model.Classification, Target: "species",
		Classes: classes, Algorithm: "GBDT", PrimaryMetric: "AUC_weighted", Metrics: metrics.Classification(yi, prob, 3, nil),
		Diagnostics: model.Diagnose(model.Classification, classes, y, prob, nil)}
	return registerArtifact(t, s, "iris", a, nil)
}

// chartModels checks that the trained bank model carries its charts (AutoML computes them
// from the final blend's out-of-fold predictions) and registers "bank-old": the same artifact
// without them, as files written before they were kept.
func chartModels(t testing.TB, s *store.Store, trained models.Record) {
	t.Helper()
	m, err := model.Load(trained.Path)
	if err != nil {
		t.Fatal(err)
	}
	a := m.A
	if a.Diagnostics == nil {
		t.Fatal("the trained bank model carries no diagnostics")
	}
	a.Diagnostics = nil
	registerArtifact(t, s, "bank-old", a, trained.Meta.Leaderboard)
}
