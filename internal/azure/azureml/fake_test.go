package azureml_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/azure"
	"github.com/mlflow-go/mlflow/internal/azure/azureml"
	"github.com/mlflow-go/mlflow/internal/azure/fakeazure"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema"
	"github.com/mlflow-go/mlflow/schema/load"
)

type fixture struct {
	srv  *fakeazure.Server
	plan *engine.Plan
	st   *store.Store
	// newDoer is a client of the fake, for a test's own requests.
	newDoer func() (azure.Doer, error)
}

// setup loads the bank-marketing example for target azureml against a fresh fake.
func setup(t *testing.T) *fixture {
	t.Helper()
	// The fake runs no command: it writes what the evaluate step's job would have
	// written into the job's output folder.
	return setupWith(t, &fakeazure.Options{CommandOutputs: map[string][]byte{
		"metrics.json": []byte(`{"accuracy": 0.91, "AUC_weighted": 0.93, "rows": 500}`)}},
		"../../../examples/bankmarketing/workflow.cue", map[string]string{"budget": "90s"})
}

// setupWith loads the workflow at path for target azureml against a fresh fake started
// with opts, with the real client (azidentity's EnvironmentCredential getting its token
// from the fake). A request body the spec refuses fails the test.
func setupWith(t *testing.T, opts *fakeazure.Options, path string, params map[string]string) *fixture {
	t.Helper()
	srv := fakeazure.StartWith(t, opts)
	for _, kv := range srv.Env() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AZURE_") {
			t.Setenv(k, v)
		}
	}
	wf, err := load.File(path, load.Options{Target: "azureml", Params: params})
	if err != nil {
		t.Fatal(err)
	}
	ws := srv.Workspace()
	newDoer := func() (azure.Doer, error) {
		return azure.New(ws, &azure.Options{Transport: srv.Client(), PollFrequency: 5 * time.Millisecond})
	}
	env := &azureml.Env{Settings: azureml.Settings{Workspace: ws, Experiment: wf.Name}, Poll: 5 * time.Millisecond, NewDoer: newDoer}
	p, err := engine.NewPlan(wf, engine.NewRegistry(azureml.Kinds(env)...))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), ".mlflow"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &fixture{srv: srv, plan: p, st: st, newDoer: newDoer}
}

// writeWorkflow writes files (wf.cue and what it reads) into a temporary folder and
// returns the workflow's path.
func writeWorkflow(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "wf.cue")
}

// mustRun runs the plan as run id and fails the test, with each step's state, if it fails.
func (f *fixture) mustRun(t *testing.T, id string) *engine.RunRecord {
	t.Helper()
	rec, err := f.run(t, context.Background(), id, engine.Options{})
	if err != nil {
		for name, s := range rec.Steps {
			t.Logf("%s: %s %s", name, s.State, s.Error)
		}
		t.Fatal(err)
	}
	return rec
}

func (f *fixture) run(t *testing.T, ctx context.Context, id string, opts engine.Options) (*engine.RunRecord, error) {
	t.Helper()
	opts.RunID, opts.Parallel = id, 2
	return engine.Run(ctx, f.plan, f.st, opts)
}

// calls lists the fake's requests from n on as "METHOD path", ARM paths under the workspace.
func (f *fixture) calls(n int) []string {
	var out []string
	ws := strings.ToLower(f.srv.Workspace().ID())
	for _, r := range f.srv.Requests()[n:] {
		p := r.Path
		if i := strings.Index(strings.ToLower(p), ws); i >= 0 {
			p = "W" + p[i+len(ws):]
		} else {
			p = r.Host + p
		}
		out = append(out, r.Method+" "+p)
	}
	return out
}

func count(calls []string, prefix string) int {
	n := 0
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func TestBankMarketingOnFakeAzure(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	rec, err := f.run(t, ctx, "r1", engine.Options{})
	if err != nil {
		for name, s := range rec.Steps {
			t.Logf("%s: %s %s", name, s.State, s.Error)
		}
		t.Fatal(err)
	}
	first := f.calls(0)
	t.Logf("requests of the first run (%d):\n%s", len(first), strings.Join(first, "\n"))

	// Typed outputs, the same shapes as locally.
	d, err := artifact.As[artifact.Dataset](rec.Steps["data"].Outputs["dataset"])
	if err != nil || d.Name != "bankmarketing" || d.Version != 1 || d.Rows == 0 || d.Target != "y" {
		t.Fatalf("dataset output %+v, %v", d, err)
	}
	m, err := artifact.As[artifact.Model](rec.Steps["train"].Outputs["model"])
	if err != nil || m.Name != "bankmarketing" || m.Version != 1 || m.Task != "classification" {
		t.Fatalf("model output %+v, %v", m, err)
	}
	ep, err := artifact.As[artifact.Endpoint](rec.Steps["deploy"].Outputs["endpoint"])
	if err != nil || ep.Name != "bankmarketing" || !strings.HasPrefix(ep.ScoringURI, "https://bankmarketing.westeurope.inference.ml.azure.com/") {
		t.Fatalf("endpoint output %+v, %v", ep, err)
	}
	pr, err := artifact.As[artifact.Predictions](rec.Steps["consume"].Outputs["predictions"])
	if err != nil || pr.Count != 2 {
		t.Fatalf("consume output %+v, %v", pr, err)
	}
	if pr, err := artifact.As[artifact.Predictions](rec.Steps["sample"].Outputs["predictions"]); err != nil || pr.Count != 20 {
		t.Fatalf("sample output %+v, %v", pr, err)
	}
	if me, err := artifact.As[artifact.Metrics](rec.Steps["evaluate"].Outputs["metrics"]); err != nil || me.Scores["AUC_weighted"] != 0.93 || me.Rows != 500 {
		t.Fatalf("evaluate output %+v, %v", me, err)
	}
	if lg, err := artifact.As[artifact.Log](rec.Steps["logs"].Outputs["log"]); err != nil || lg.Count == 0 {
		t.Fatalf("logs output %+v, %v", lg, err)
	}

	// The data went to the default datastore as the CSV and an MLTable.
	csv, _ := os.ReadFile("../../../examples/bankmarketing/data/bankmarketing_train.csv")
	res := f.srv.Resource("data/bankmarketing/versions/1")
	if res == nil {
		t.Fatal("no data version on the fake")
	}
	uri := res["properties"].(map[string]any)["dataUri"].(string)
	dir := strings.TrimPrefix(uri, "azureml://datastores/"+fakeazure.Datastore+"/paths/")
	if b, ok := f.srv.Blob(dir + "/data.csv"); !ok || string(b) != string(csv) {
		t.Fatalf("data.csv not uploaded under %s", dir)
	}
	if b, ok := f.srv.Blob(dir + "/MLTable"); !ok || !strings.Contains(string(b), "read_delimited") {
		t.Fatalf("MLTable not uploaded under %s: %q", dir, b)
	}
	// Traffic was set after the deployment, by a second PUT of the endpoint.
	var order []string
	for _, c := range first {
		if strings.HasPrefix(c, "PUT W/onlineEndpoints/") {
			order = append(order, strings.TrimPrefix(c, "PUT W/onlineEndpoints/"))
		}
	}
	if strings.Join(order, ",") != "bankmarketing,bankmarketing/deployments/default,bankmarketing" {
		t.Errorf("endpoint PUTs: %v", order)
	}
	// Every resource created has a local record.
	recs, err := azureml.Resources(f.st)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, r := range recs {
		have[r.Type+" "+r.Name] = true
	}
	for _, want := range []string{"data bankmarketing:1", "jobs mlflow-train-r1", "jobs mlflow-evaluate-r1", "models bankmarketing:1",
		"onlineEndpoints bankmarketing", "onlineEndpoints/deployments bankmarketing/default"} {
		if !have[want] {
			t.Errorf("no local record of %s (have %v)", want, have)
		}
	}

	// A second run changes nothing on Azure: steps come from the cache, the endpoint
	// already serves the model, and only logs asks again.
	n := len(f.srv.Requests())
	rec2, err := f.run(t, ctx, "r2", engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	second := f.calls(n)
	t.Logf("requests of the second run:\n%s", strings.Join(second, "\n"))
	for _, c := range second {
		if strings.HasPrefix(c, "PUT ") || strings.HasPrefix(c, "DELETE ") {
			t.Errorf("second run changed something: %s", c)
		}
	}
	for _, s := range []string{"data", "train", "evaluate", "consume", "sample"} {
		if !rec2.Steps[s].Cached {
			t.Errorf("second run: %s not cached (%s)", s, rec2.Steps[s].State)
		}
	}
	if count(second, "POST W/onlineEndpoints/bankmarketing/deployments/default/getLogs") != 1 {
		t.Errorf("second run: logs did not ask for the log")
	}
}

// The digest decides the data version: registering the same content again (no cache)
// uploads nothing.
func TestDatasetSameContentNotUploadedTwice(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	f.only(t, "data")
	if _, err := f.run(t, ctx, "r1", engine.Options{}); err != nil {
		t.Fatal(err)
	}
	n := len(f.srv.Requests())
	if _, err := f.run(t, ctx, "r2", engine.Options{NoCache: true}); err != nil {
		t.Fatal(err)
	}
	again := f.calls(n)
	if count(again, "PUT ") != 0 {
		t.Errorf("the same content was uploaded or registered again:\n%s", strings.Join(again, "\n"))
	}
	if count(again, "GET W/data/bankmarketing/versions/1") != 1 {
		t.Errorf("the data version was not looked up:\n%s", strings.Join(again, "\n"))
	}
}

// only trims the example to the named steps, with the same azureml kinds.
func (f *fixture) only(t *testing.T, keep ...string) {
	t.Helper()
	wf := *f.plan.Workflow
	wf.Steps, wf.Order = map[string]*schema.Step{}, nil
	reg := engine.Registry{}
	for _, k := range keep {
		wf.Steps[k] = f.plan.Workflow.Steps[k]
		wf.Order = append(wf.Order, k)
		reg[wf.Steps[k].Kind] = f.plan.Nodes[k].Kind
	}
	p, err := engine.NewPlan(&wf, reg)
	if err != nil {
		t.Fatal(err)
	}
	f.plan = p
}

// A job that fails on Azure fails its step with Azure's code and message and the job's
// Studio URL; what depends on it is skipped.
func TestFailedJob(t *testing.T) {
	f := setup(t)
	f.srv.FailJob("mlflow-train-r1", "UserError", "column y has a single value")
	rec, err := f.run(t, context.Background(), "r1", engine.Options{})
	if err == nil {
		t.Fatal("run succeeded with a failed AutoML job")
	}
	st := rec.Steps["train"]
	want := "AutoML job mlflow-train-r1 Failed: UserError: column y has a single value (Studio: https://ml.azure.com/runs/mlflow-train-r1?wsid="
	if st.State != engine.StateFailed || !strings.Contains(st.Error, want) {
		t.Fatalf("train: %s %q, want the error to contain %q", st.State, st.Error, want)
	}
	if s := rec.Steps["deploy"].State; s != engine.StateSkipped {
		t.Errorf("deploy: %s, want skipped", s)
	}
}

// Cancelling the run (Ctrl-C) while the AutoML job runs cancels the job on Azure and
// records the run as cancelled.
func TestCancelCancelsTheJob(t *testing.T) {
	f := setup(t)
	f.only(t, "data", "train")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec, err := f.run(t, ctx, "r1", engine.Options{OnEvent: func(e engine.Event) {
		if e.Type == "step_progress" && e.Step == "train" {
			cancel()
		}
	}})
	if err == nil {
		t.Fatal("run not cancelled")
	}
	if rec.Status != engine.StateCancelled || rec.Steps["train"].State != engine.StateCancelled {
		t.Fatalf("run %s, train %s: want cancelled", rec.Status, rec.Steps["train"].State)
	}
	if count(f.calls(0), "POST W/jobs/mlflow-train-r1/cancel") != 1 {
		t.Fatalf("the job was not cancelled on Azure:\n%s", strings.Join(f.calls(0), "\n"))
	}
	job := f.srv.Resource("jobs/mlflow-train-r1")
	if s := job["properties"].(map[string]any)["status"]; s != "Canceled" {
		t.Errorf("job status on Azure: %v, want Canceled", s)
	}
}

// A deployment that fails provisioning fails the deploy step with Azure's error, and
// the endpoint and deployment it created are on record for a later cleanup.
func TestDeploymentFailsProvisioning(t *testing.T) {
	f := setup(t)
	f.srv.FailDeployment("bankmarketing", "default", "ResourceNotReady", "the container did not start")
	rec, err := f.run(t, context.Background(), "r1", engine.Options{})
	if err == nil {
		t.Fatal("run succeeded with a failed deployment")
	}
	st := rec.Steps["deploy"]
	if st.State != engine.StateFailed || !strings.Contains(st.Error, "deployment bankmarketing/default: ") || !strings.Contains(st.Error, "the container did not start") {
		t.Fatalf("deploy: %s %q", st.State, st.Error)
	}
	if s := rec.Steps["consume"].State; s != engine.StateSkipped {
		t.Errorf("consume: %s, want skipped", s)
	}
	recs, err := azureml.Resources(f.st)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		if r.Step == "deploy" {
			got = append(got, r.Type+" "+r.ID)
		}
	}
	ws := f.srv.Workspace().ID()
	want := []string{"onlineEndpoints " + ws + "/onlineEndpoints/bankmarketing", "onlineEndpoints/deployments " + ws + "/onlineEndpoints/bankmarketing/deployments/default"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("records of deploy:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// exec (a command job) and publish (component, batch endpoint, PipelineComponent
// deployment, schedule) on the fake: every body passes the spec, the outputs are typed.
func TestExecAndPublishOnFakeAzure(t *testing.T) {
	src := `name: "nightly"
params: {n: "3"}
steps: {
	job: {kind: "exec", command: ["python", "-c", "print('${{ params.n }}')"], environment: "azureml://registries/azureml/environments/sklearn-1.5/labels/latest", env: {A: "1"}}
	pub: {kind: "publish", name: "nightly", steps: ["job"], params: ["n"], schedule: {cron: "0 3 * * 1-5", timezone: "Europe/Paris"}}
	hourly: {kind: "publish", name: "hourly", steps: ["job"], schedule: {every: "2h"}}
}
`
	f := setupWith(t, nil, writeWorkflow(t, map[string]string{"wf.cue": src}), nil)
	srv := f.srv
	rec := f.mustRun(t, "r1")
	if code := rec.Steps["job"].Outputs["exit_code"]; code != 0.0 {
		t.Errorf("exit_code %v", code)
	}
	pl, err := artifact.As[artifact.Pipeline](rec.Steps["pub"].Outputs["pipeline"])
	if err != nil || pl.Name != "nightly" || pl.Version != 1 || pl.TriggerURI == "" || pl.Schedule != "cron 0 3 * * 1-5 Romance Standard Time" {
		t.Fatalf("pipeline output %+v, %v", pl, err)
	}
	if hl, _ := artifact.As[artifact.Pipeline](rec.Steps["hourly"].Outputs["pipeline"]); hl.Schedule != "every 2 Hour" {
		t.Errorf("hourly schedule %q", hl.Schedule)
	}
	job := srv.Resource("jobs/mlflow-job-r1")
	if job == nil || job["properties"].(map[string]any)["command"] != `python -c 'print('\''3'\'')'` {
		t.Errorf("command job %v", job)
	}
	sched := srv.Resource("schedules/nightly")
	if sched == nil {
		t.Fatal("no schedule on the fake")
	}
	trig := sched["properties"].(map[string]any)["trigger"].(map[string]any)
	if trig["expression"] != "0 3 * * 1-5" || trig["timeZone"] != "Romance Standard Time" {
		t.Errorf("trigger %v", trig)
	}
	// Publishing again: the batch endpoint carries the same digest, nothing is changed.
	n := len(srv.Requests())
	f.mustRun(t, "r2")
	for _, r := range srv.Requests()[n:] {
		if r.Method == "PUT" {
			t.Errorf("second publish changed %s", r.Path)
		}
	}
}
