package azureml_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/azure"
	"github.com/mlflow-go/mlflow/internal/azure/fakeazure"
)

// A pipeline published on the fake is accepted node by node (the fake refuses what
// Azure's runner would not run), and once triggered, by its schedule or through its batch
// endpoint, runs to Completed.
func TestPublishedPipelineRunsWhenTriggered(t *testing.T) {
	src := `name: "bank"
params: {n: "3"}
steps: {
	data: {kind: "dataset", name: "bank", source: "d.csv", target: "y"}
	train: {kind: "automl", name: "bank", task: "classification", primary_metric: "AUC_weighted", budget: "90s", dataset: "${{ steps.data.outputs.dataset }}"}
	score: {kind: "evaluate", model: "${{ steps.train.outputs.model }}", dataset: "${{ steps.data.outputs.dataset }}"}
	report: {kind: "exec", command: ["python", "report.py", "${{ params.n }}", "--top=${{ params.n }}"], environment: "azureml:sklearn:1", needs: ["score"]}
	pub: {kind: "publish", name: "nightly", steps: ["report"], params: ["n"], needs: ["data"], schedule: {cron: "0 3 * * 1-5", timezone: "Europe/Paris"}}
}
`
	// The evaluate step's own job reads back what its command wrote.
	f := setupWith(t, &fakeazure.Options{CommandOutputs: map[string][]byte{"metrics.json": []byte(`{"accuracy": 0.9, "rows": 3}`)}},
		writeWorkflow(t, map[string]string{"wf.cue": src, "d.csv": "a,y\n1,0\n2,1\n3,0\n"}), nil)
	srv, newDoer, ws := f.srv, f.newDoer, f.srv.Workspace()
	rec := f.mustRun(t, "r1")
	pl, err := artifact.As[artifact.Pipeline](rec.Steps["pub"].Outputs["pipeline"])
	if err != nil || pl.TriggerURI == "" {
		t.Fatalf("pipeline output %+v, %v", pl, err)
	}
	comp := srv.Resource("components/nightly/versions/1")
	jobs, _ := comp["properties"].(map[string]any)["componentSpec"].(map[string]any)["jobs"].(map[string]any)
	if len(jobs) != 3 {
		t.Fatalf("published nodes %v", jobs)
	}

	doer, err := newDoer()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// until GETs a job until it ends; the fake moves a job one state per GET.
	until := func(name string) (string, map[string]any) {
		t.Helper()
		for i := 0; i < 20; i++ {
			var j struct {
				Properties map[string]any `json:"properties"`
			}
			if err := doer.Do(ctx, azure.Request{Step: "test", Method: "GET", URL: ws.URL("jobs/" + name)}, &j); err != nil {
				t.Fatal(err)
			}
			if s, _ := j.Properties["status"].(string); s == "Completed" || s == "Failed" || s == "Canceled" {
				return s, j.Properties
			}
		}
		return "", nil
	}

	// The schedule fires on a weekday morning: a pipeline job that runs the component.
	from := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) // a Tuesday
	fired, err := srv.Tick(from, from.Add(24*time.Hour))
	if err != nil || len(fired) != 1 {
		t.Fatalf("fired %v, %v", fired, err)
	}
	if s, props := until(fired[0]); s != "Completed" {
		t.Fatalf("scheduled job %s: %s %v", fired[0], s, props)
	}
	// The published param reaches the command as the runner resolves it: the schedule
	// binds the value the file had.
	command := func(job string) any {
		return get(srv.ResolvedJob(job), "pipeline/report", "command")
	}
	if c := command(fired[0]); c != "python report.py '3' '--top=3'" {
		t.Errorf("scheduled job's report command: %v", c)
	}
	// The run's own automl step registered bank:1; the scheduled job's best model is the
	// next version, from that job's output.
	if m := srv.Resource("models/bank/versions/2"); get(m, "properties", "modelUri") != "azureml://jobs/"+fired[0]+"/outputs/train_best_model" {
		t.Errorf("model bank:2 after the scheduled job: %v", m)
	}

	// The batch endpoint, invoked with an Entra token for Azure ML and the data bound.
	tok := mlToken(t, srv.Client())
	invoke := func(body string) (int, string) {
		req, _ := http.NewRequest("POST", pl.TriggerURI, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		r, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	data := ws.ID() + "/data/bank/versions/1"
	code, body := invoke(`{"properties": {"InputData": {"data": {"JobInputType": "UriFolder", "Uri": "azureml:` + data + `"}}}}`)
	var job struct {
		Name string `json:"name"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &job) != nil || job.Name == "" {
		t.Fatalf("invoke: %d %s", code, body)
	}
	if s, props := until(job.Name); s != "Completed" {
		t.Fatalf("invoked job %s: %s %v", job.Name, s, props)
	}
	if c := command(job.Name); c != "python report.py '3' '--top=3'" {
		t.Errorf("invoked job's report command, n left to its default: %v", c)
	}
	// Triggered with another n, the node runs with it.
	code, body = invoke(`{"properties": {"InputData": {"data": {"JobInputType": "UriFolder", "Uri": "azureml:` + data + `"}, "n": {"JobInputType": "Literal", "Value": "7"}}}}`)
	if code != 200 || json.Unmarshal([]byte(body), &job) != nil {
		t.Fatalf("invoke with n=7: %d %s", code, body)
	}
	if c := command(job.Name); c != "python report.py '7' '--top=7'" {
		t.Errorf("invoked job's report command with n=7: %v", c)
	}
	// A batch invocation names no output: its best model stays the job's output.
	until(job.Name)
	if m := srv.Resource("models/bank/versions/3"); m != nil {
		t.Errorf("a batch invocation registered %v", m)
	}
	// Without the data, Azure cannot run the pipeline: the invocation is refused.
	if code, body := invoke(`{"properties": {"InputData": {}}}`); code != 400 || !strings.Contains(body, "inputs.data: the component's input data is required and not bound") {
		t.Errorf("invoke without data: %d %s", code, body)
	}
}

func get(v any, path ...string) any {
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	return v
}

// mlToken is an Entra token for Azure ML (the batch endpoints' audience) from the fake.
func mlToken(t *testing.T, c *http.Client) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {fakeazure.ClientID}, "client_secret": {fakeazure.ClientSecret},
		"scope": {"https://ml.azure.com/.default"}}
	r, err := c.PostForm(fakeazure.AuthorityHost+fakeazure.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(r.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %s %v", r.Status, err)
	}
	return tok.AccessToken
}
