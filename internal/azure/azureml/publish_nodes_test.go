package azureml

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/azure"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema"
	"github.com/mlflow-go/mlflow/schema/load"
	"github.com/mlflow-go/mlflow/steps/automl"
)

// bodies is a recorder that also keeps each PUT's body, by path under the workspace.
type bodies struct {
	recorder
	put map[string]map[string]any
}

func (b *bodies) Do(ctx context.Context, req azure.Request, out any) error {
	if req.Method == "PUT" {
		sub := strings.TrimPrefix(strings.TrimPrefix(stripQuery(req.URL), stripQuery(b.ws.URL(""))), "/")
		raw, _ := json.Marshal(req.Body)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		b.put[sub] = m
	}
	return b.recorder.Do(ctx, req, out)
}

const publishedWorkflow = `name: "bank"
params: {n: "3"}
steps: {
	data: {kind: "dataset", name: "bank", source: "d.csv", target: "y"}
	train: {
		kind: "automl", name: "bank", task: "classification", primary_metric: "AUC_weighted"
		budget: "90s", max_trials: 5, validation: 3, ensemble: false
		dataset: "${{ steps.data.outputs.dataset }}"
	}
	score: {kind: "evaluate", model: "${{ steps.train.outputs.model }}", dataset: "${{ steps.data.outputs.dataset }}"}
	"report-job": {kind: "exec", command: ["python", "-c", "print(1)"], environment: "azureml:sklearn:1", env: {A: "1"}, needs: ["score"]}
	pub: {kind: "publish", name: "nightly", steps: ["report-job"], params: ["n"], needs: ["data"], schedule: {cron: "0 3 * * 1-5", timezone: "Europe/Paris"}}
}
`

func loadWorkflow(t *testing.T, src string) *schema.Workflow {
	t.Helper()
	return loadFor(t, src, "azureml")
}

// loadFor loads src written as wf.cue for target; "local" lets through what the loader
// refuses on azureml, to see the publish step refuse it too.
func loadFor(t *testing.T, src, target string) *schema.Workflow {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"d.csv": "a,y\n1,0\n2,1\n", "wf.cue": src} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wf, err := load.File(filepath.Join(dir, "wf.cue"), load.Options{Target: target})
	if err != nil {
		t.Fatal(err)
	}
	return wf
}

func publishCall(t *testing.T, doer azure.Doer, ws azure.Workspace, wf *schema.Workflow, step string) *call {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), ".mlflow"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	env := &Env{Settings: Settings{Workspace: ws, Experiment: wf.Name}}
	req := &engine.Request{RunID: "r1", Step: step, Kind: "publish", Workflow: wf, Log: io.Discard, Config: wf.Steps[step].Config, Store: st}
	return &call{Env: env, req: req, doer: doer, step: step}
}

func get(v any, path ...string) any {
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	return v
}

// The published component holds Azure's nodes: the dataset as an mltable input, automl
// as an AutoML node with the standalone job's settings, evaluate and exec as command nodes
// on command components registered first, references and needs as bindings.
func TestPublishBuildsAzureNodes(t *testing.T) {
	ws := azure.Workspace{SubscriptionID: "s", ResourceGroup: "g", Name: "w", Cloud: azure.Clouds["public"]}
	wf := loadWorkflow(t, publishedWorkflow)
	rec := &bodies{recorder: recorder{ws: ws, have: map[string]string{
		"data/bank/versions": `{"value":[{"name":"1"},{"name":"3"},{"name":"2"}]}`,
		"":                   `{"location":"westeurope"}`,
	}}, put: map[string]map[string]any{}}
	c := publishCall(t, rec, ws, wf, "pub")
	if _, err := runPublish(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	spec, _ := get(rec.put["components/nightly/versions/1"], "properties", "componentSpec").(map[string]any)
	if spec == nil {
		t.Fatalf("no pipeline component among %v", rec.sent)
	}
	if spec["type"] != "pipeline" || get(spec, "inputs", "data", "type") != "mltable" || get(spec, "inputs", "n", "default") != "3" {
		t.Errorf("pipeline inputs %v", spec["inputs"])
	}
	jobs := spec["jobs"].(map[string]any)
	if len(jobs) != 3 || jobs["data"] != nil {
		t.Errorf("nodes %v: want train, score, report_job (a dataset is an input, not a node)", jobs)
	}

	// AutoML: the settings the standalone job sends, in the node's names.
	standalone, metric, _, err := autoMLBody(c, mustAutoML(t, wf))
	if err != nil {
		t.Fatal(err)
	}
	task := get(standalone, "properties", "taskDetails").(map[string]any)
	train := jobs["train"].(map[string]any)
	want := map[string]any{
		"type": "automl", "task": "classification", "training_data": "${{parent.inputs.data}}",
		"target_column_name": task["targetColumnName"], "primary_metric": "auc_weighted",
	}
	for k, v := range want {
		if train[k] != v {
			t.Errorf("train.%s = %v, want %v", k, train[k], v)
		}
	}
	if metric != "AUC_weighted" || get(train, "limits", "timeout_minutes") != 2.0 || get(train, "limits", "max_trials") != 5.0 ||
		train["n_cross_validations"] != 3.0 || get(train, "training", "enable_stack_ensemble") != false ||
		get(train, "outputs", "best_model", "value") != "${{parent.outputs.train_best_model}}" {
		t.Errorf("train node %v (standalone task %v)", train, task)
	}
	// The best model is an output of the pipeline, which the schedule's job names after the
	// automl step's model: Azure registers it when the job completes.
	if get(spec, "outputs", "train_best_model", "type") != "mlflow_model" {
		t.Errorf("component outputs %v", spec["outputs"])
	}

	// Evaluate: a command node on its component, bound to the AutoML output and the input.
	score := jobs["score"].(map[string]any)
	if get(score, "inputs", "model", "value") != "${{parent.jobs.train.outputs.best_model}}" ||
		get(score, "inputs", "data", "value") != "${{parent.inputs.data}}" || get(score, "inputs", "data", "job_input_type") != "literal" {
		t.Errorf("score inputs %v", score["inputs"])
	}
	comp := strings.TrimPrefix(score["componentId"].(string), ws.ID()+"/")
	cs, _ := get(rec.put[comp], "properties", "componentSpec").(map[string]any)
	if cs == nil || cs["type"] != "command" || cs["environment"] != evaluateEnvironment ||
		!strings.Contains(cs["command"].(string), "${{inputs.model}} ${{inputs.data}} y classification ${{outputs.metrics}}") {
		t.Errorf("evaluate's component %s: %v", comp, cs)
	}

	// Exec: needs without a reference becomes an optional input bound to the upstream output.
	job := jobs["report_job"].(map[string]any)
	if get(job, "inputs", "after_score", "value") != "${{parent.jobs.score.outputs.metrics}}" || get(job, "environment_variables", "A") != "1" {
		t.Errorf("report_job node %v", job)
	}
	jc := strings.TrimPrefix(job["componentId"].(string), ws.ID()+"/")
	if js, _ := get(rec.put[jc], "properties", "componentSpec").(map[string]any); js == nil ||
		js["command"] != "python -c 'print(1)'" || get(js, "inputs", "after_score", "optional") != true {
		t.Errorf("exec's component %s: %v", jc, js)
	}

	// Components first, then the pipeline component naming them.
	var order []string
	for _, s := range rec.sent {
		if strings.HasPrefix(s, "PUT components/") {
			order = append(order, s)
		}
	}
	if len(order) != 3 || order[2] != "PUT components/nightly/versions/1" {
		t.Errorf("component PUTs %v", order)
	}

	// The schedule's job runs the component with the data's latest version bound.
	def := get(rec.put["schedules/nightly"], "properties", "action", "jobDefinition").(map[string]any)
	if get(def, "inputs", "data", "uri") != "azureml:"+ws.ID()+"/data/bank/versions/3" || get(def, "inputs", "n", "value") != "3" ||
		get(def, "jobs", "pipeline", "componentId") != ws.ID()+"/components/nightly/versions/1" ||
		get(def, "jobs", "pipeline", "inputs", "data", "value") != "${{parent.inputs.data}}" {
		t.Errorf("schedule job %v", def)
	}
	// ... and names the best model after the automl step's model.
	if get(def, "outputs", "train_best_model", "assetName") != "bank" || get(def, "outputs", "train_best_model", "jobOutputType") != "mlflow_model" ||
		get(def, "jobs", "pipeline", "outputs", "train_best_model", "value") != "${{parent.outputs.train_best_model}}" {
		t.Errorf("schedule job's outputs %v, node %v", def["outputs"], get(def, "jobs", "pipeline"))
	}
}

func mustAutoML(t *testing.T, wf *schema.Workflow) (cfg automl.Config) {
	t.Helper()
	if err := decodePlain(wf.Steps["train"].Config, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Dataset.Name, cfg.Dataset.Version, cfg.Dataset.Target = "bank", 1, "y"
	return cfg
}

// What Azure cannot run inside a pipeline is refused with the step's place in the file,
// before anything is sent.
func TestPublishRefusesWhatAPipelineCannotRun(t *testing.T) {
	ws := azure.Workspace{SubscriptionID: "s", ResourceGroup: "g", Name: "w"}
	for _, c := range []struct{ name, steps, want string }{
		{"deploy", `
	data: {kind: "dataset", source: "d.csv", target: "y"}
	train: {kind: "automl", task: "classification", dataset: "${{ steps.data.outputs.dataset }}"}
	deploy: {kind: "deploy", name: "bank", model: "${{ steps.train.outputs.model }}"}
	pub: {kind: "publish", name: "p", steps: ["deploy"]}`, `wf.cue:5:2: step deploy: a deploy step, which Azure cannot run inside a published pipeline (publish step pub holds it`},
		{"exec reading an output", `
	data: {kind: "dataset", source: "d.csv", target: "y"}
	job: {kind: "exec", command: ["cat", "${{ steps.data.outputs.dataset }}"], environment: "azureml:e:1"}
	pub: {kind: "publish", name: "p", steps: ["job"]}`, `wf.cue:4:2: step job: command: an exec step of a pipeline published on Azure cannot take other steps' outputs`},
		{"automl waiting on an exec", `
	data: {kind: "dataset", source: "d.csv", target: "y"}
	prep: {kind: "exec", command: ["true"], environment: "azureml:e:1"}
	train: {kind: "automl", task: "classification", dataset: "${{ steps.data.outputs.dataset }}", needs: ["prep"]}
	pub: {kind: "publish", name: "p", steps: ["train"]}`, `wf.cue:5:2: step train: needs: step prep, but an AutoML node of an Azure pipeline waits only for its training data`},
		{"two steps, one node name", `
	"a-b": {kind: "exec", command: ["true"], environment: "azureml:e:1"}
	a_b: {kind: "exec", command: ["true"], environment: "azureml:e:1"}
	pub: {kind: "publish", name: "p", steps: ["a-b", "a_b"]}`, `its Azure node name a_b is also step`},
	} {
		wf := loadFor(t, "name: \"w\"\nsteps: {"+c.steps+"\n}\n", "local")
		rec := &recorder{ws: ws, have: map[string]string{}}
		_, err := runPublish(context.Background(), publishCall(t, rec, ws, wf, "pub"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v\nwant %q", c.name, err, c.want)
		}
		if len(rec.sent) != 0 {
			t.Errorf("%s: sent %v", c.name, rec.sent)
		}
	}
}

// A dataset that has no version on Azure yet cannot be bound: the step says which and how.
func TestPublishNeedsTheDataOnAzure(t *testing.T) {
	ws := azure.Workspace{SubscriptionID: "s", ResourceGroup: "g", Name: "w"}
	wf := loadWorkflow(t, publishedWorkflow)
	rec := &recorder{ws: ws, have: map[string]string{}}
	_, err := runPublish(context.Background(), publishCall(t, rec, ws, wf, "pub"))
	if err == nil || !strings.Contains(err.Error(), `dataset step data: data asset bank has no version on Azure yet`) ||
		!strings.Contains(err.Error(), `needs: ["data"]`) {
		t.Fatalf("%v", err)
	}
	for _, s := range rec.sent {
		if !strings.HasPrefix(s, "GET ") {
			t.Errorf("sent %s before refusing", s)
		}
	}
}
