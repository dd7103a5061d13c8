package azureml

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/azure"
	"github.com/mlflow-go/mlflow/schema"
	"github.com/mlflow-go/mlflow/steps/dataset"
)

func TestISODuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		10 * time.Second: "PT1M", time.Minute: "PT1M", 90 * time.Second: "PT2M",
		time.Hour: "PT1H", 90 * time.Minute: "PT1H30M", 6 * time.Hour: "PT6H",
	} {
		if got := isoDuration(d); got != want {
			t.Errorf("isoDuration(%s) = %s, want %s", d, got, want)
		}
	}
}

// Every metric the schema accepts maps to one of the REST API's primaryMetric values.
func TestEveryMetricMaps(t *testing.T) {
	rest := map[string]bool{"AUCWeighted": true, "Accuracy": true, "NormMacroRecall": true, "AveragePrecisionScoreWeighted": true,
		"PrecisionScoreWeighted": true, "SpearmanCorrelation": true, "NormalizedRootMeanSquaredError": true, "R2Score": true,
		"NormalizedMeanAbsoluteError": true}
	b, err := os.ReadFile("../../../schema/load/cue/automl.cue")
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	n := 0
	for _, def := range []string{"#ClassificationMetric:", "#RegressionMetric:"} {
		i := strings.Index(src, def)
		body := src[i+len(def):]
		if j := strings.Index(body, "\n\n"); j >= 0 {
			body = body[:j]
		}
		for _, f := range strings.Split(body, "\"") {
			f = strings.TrimSpace(f)
			if f == "" || strings.ContainsAny(f, "|\n") {
				continue
			}
			n++
			if !rest[azureMetrics[f]] {
				t.Errorf("metric %q maps to %q, not a primaryMetric of the API", f, azureMetrics[f])
			}
		}
	}
	if n != len(azureMetrics) {
		t.Errorf("the schema names %d metrics, the map %d", n, len(azureMetrics))
	}
}

func TestShellQuote(t *testing.T) {
	got := shellQuote([]string{"python", "-c", "print('hi there')", "a=b", ""})
	want := `python -c 'print('\''hi there'\'')' a=b ''`
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func TestScoringBody(t *testing.T) {
	b, _ := json.Marshal(scoringBody([]map[string]any{{"b": 1, "a": "x"}, {"a": "y"}}, "predict_proba"))
	want := `{"input_data":{"columns":["a","b"],"data":[["x",1],["y",null]],"index":[0,1]},"params":{"predict_proba":true}}`
	if string(b) != want {
		t.Errorf("got %s\nwant %s", b, want)
	}
	for raw, n := range map[string]int{`["no","yes"]`: 2, `"[\"no\"]"`: 1, `{"Results":[1,2,3]}`: 3, `{"predictions":[0.5]}`: 1} {
		got, err := parseScores(json.RawMessage(raw))
		if err != nil || len(got) != n {
			t.Errorf("parseScores(%s) = %v, %v", raw, got, err)
		}
	}
	if _, err := parseScores(json.RawMessage(`{"error":"x"}`)); err == nil {
		t.Error("an answer without predictions parsed")
	}
}

func TestResolveSettings(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b")
	os.MkdirAll(filepath.Join(root, "a", ".azureml"), 0o755)
	os.MkdirAll(deep, 0o755)
	wf := &schema.Workflow{Name: "w", File: "/x/wf.cue", TargetPos: schema.Pos{File: "wf.cue", Line: 2, Column: 1}}

	_, err := ResolveSettings(wf, WorkspaceFlags{}, deep)
	if err == nil || !strings.HasPrefix(err.Error(), "wf.cue:2:1: target: target azureml needs a workspace") {
		t.Fatalf("no workspace anywhere: %v", err)
	}

	os.WriteFile(filepath.Join(root, "a", ".azureml", "config.json"), []byte(`{"subscription_id":"s1","resource_group":"g1","workspace_name":"w1"}`), 0o644)
	s, err := ResolveSettings(wf, WorkspaceFlags{ResourceGroup: "g2"}, deep)
	if err != nil {
		t.Fatal(err)
	}
	if s.Workspace.SubscriptionID != "s1" || s.Workspace.ResourceGroup != "g2" || s.Workspace.Name != "w1" || s.Workspace.Cloud != azure.Clouds["public"] || s.Experiment != "w" {
		t.Errorf("settings %+v", s)
	}

	wf.AzureML = map[string]any{"subscription_id": "s3", "resource_group": "g3", "workspace": "w3", "cloud": "china", "compute": "c1"}
	s, err = ResolveSettings(wf, WorkspaceFlags{}, deep)
	if err != nil {
		t.Fatal(err)
	}
	if s.Workspace.Name != "w3" || s.Workspace.Cloud != azure.Clouds["china"] || s.Compute != "c1" {
		t.Errorf("the file's block did not win over config.json: %+v", s)
	}
	wf.AzureML["cloud"] = map[string]any{"authority_host": "https://login.example/", "resource_manager": "https://arm.example/"}
	if s, _ = ResolveSettings(wf, WorkspaceFlags{}, deep); s.Workspace.Cloud.ResourceManager != "https://arm.example/" {
		t.Errorf("custom cloud: %+v", s.Workspace.Cloud)
	}
}

// The cache key of a step on Azure differs from the same step's local key and from its
// key on another workspace: a local result is never reused for Azure.
func TestKeyCarriesTargetAndWorkspace(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "d.csv"), []byte("a,y\n1,0\n"), 0o644)
	wf := &schema.Workflow{Name: "w", Dir: dir, File: filepath.Join(dir, "wf.cue")}
	req := &engine.Request{Step: "data", Kind: "dataset", Workflow: wf, Config: map[string]any{"source": "d.csv", "target": "y"}}
	key := func(k engine.Step) string {
		s, err := engine.StepKey(context.Background(), k, req)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	on := func(ws string) engine.Step {
		env := &Env{Settings: Settings{Workspace: azure.Workspace{SubscriptionID: "s", ResourceGroup: "g", Name: ws, Cloud: azure.Clouds["public"]}}}
		return Kinds(env)[0]
	}
	local, a1, a1again, a2 := key(dataset.New()), key(on("ws1")), key(on("ws1")), key(on("ws2"))
	if local == a1 || a1 == a2 {
		t.Errorf("keys: local %s, ws1 %s, ws2 %s", local, a1, a2)
	}
	if a1 != a1again {
		t.Errorf("the same step on the same workspace keyed differently: %s, %s", a1, a1again)
	}
}
