package azureml

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/azure"
	"github.com/mlflow-go/mlflow/schema"
)

// recorder is a Doer that records requests and answers GETs from a map of resources by
// their path under the workspace (absent: 404).
type recorder struct {
	ws   azure.Workspace
	have map[string]string // sub -> JSON
	sent []string
}

func (r *recorder) Do(_ context.Context, req azure.Request, out any) error {
	sub := strings.TrimPrefix(stripQuery(req.URL), stripQuery(r.ws.URL("")))
	sub = strings.TrimPrefix(sub, "/")
	r.sent = append(r.sent, req.Method+" "+sub)
	if req.Method != "GET" {
		return nil
	}
	js, ok := r.have[sub]
	if !ok {
		return &azure.Error{Status: http.StatusNotFound, Code: "NotFound", Method: req.Method, URL: req.URL}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal([]byte(js), out)
}

func deployCall(rec *recorder, model string) *call {
	env := &Env{Settings: Settings{Workspace: rec.ws}}
	wf := &schema.Workflow{Name: "w", Steps: map[string]*schema.Step{"deploy": {Name: "deploy"}}}
	req := &engine.Request{RunID: "r1", Step: "deploy", Kind: "deploy", Workflow: wf, Log: io.Discard,
		Config: map[string]any{"name": "bank", "model": model}}
	return &call{Env: env, req: req, doer: rec, step: "deploy"}
}

// Reconcile leaves an endpoint alone only when its one deployment serves the same model on
// the same VM size, provisioned, with all the traffic; it sends no change either way.
func TestReconcileDeploy(t *testing.T) {
	ws := azure.Workspace{SubscriptionID: "s", ResourceGroup: "g", Name: "w", Cloud: azure.Clouds["public"]}
	model := ws.ID() + "/models/bank/versions/2"
	endpoint := `{"properties":{"provisioningState":"Succeeded","scoringUri":"https://bank.x/score","traffic":{"default":100}}}`
	dep := func(m, it, state string) string {
		return `{"properties":{"provisioningState":"` + state + `","model":"` + m + `","instanceType":"` + it + `"}}`
	}
	for _, c := range []struct {
		name     string
		endpoint string
		dep      string
		ok       bool
	}{
		{"same model, size, state and traffic", endpoint, dep(model, "Standard_F4s_v2", "Succeeded"), true},
		{"model id differs only in case", endpoint, dep(strings.ToUpper(model), "Standard_F4s_v2", "Succeeded"), true},
		{"another model version", endpoint, dep(ws.ID()+"/models/bank/versions/1", "Standard_F4s_v2", "Succeeded"), false},
		{"another VM size", endpoint, dep(model, "Standard_DS3_v2", "Succeeded"), false},
		{"deployment failed", endpoint, dep(model, "Standard_F4s_v2", "Failed"), false},
		{"traffic not set yet", strings.Replace(endpoint, `"default":100`, `"default":0`, 1), dep(model, "Standard_F4s_v2", "Succeeded"), false},
		{"no deployment", endpoint, "", false},
		{"no endpoint", "", "", false},
	} {
		rec := &recorder{ws: ws, have: map[string]string{}}
		if c.endpoint != "" {
			rec.have["onlineEndpoints/bank"] = c.endpoint
		}
		if c.dep != "" {
			rec.have["onlineEndpoints/bank/deployments/default"] = c.dep
		}
		outs, ok, err := reconcileDeploy(context.Background(), deployCall(rec, "bank:2"))
		if err != nil || ok != c.ok {
			t.Errorf("%s: ok %v, %v; want ok %v", c.name, ok, err, c.ok)
			continue
		}
		for _, s := range rec.sent {
			if !strings.HasPrefix(s, "GET ") {
				t.Errorf("%s: reconcile sent %s", c.name, s)
			}
		}
		if ok {
			ep, err := artifact.As[artifact.Endpoint](outs["endpoint"])
			if err != nil || ep.ScoringURI != "https://bank.x/score" || ep.Model != "bank:2" {
				t.Errorf("%s: output %+v, %v", c.name, ep, err)
			}
		}
	}
}

// A model written as a bare name (or a file) cannot be deployed on Azure: it needs a
// version registered there.
func TestDeployNeedsAnAzureModelVersion(t *testing.T) {
	ws := azure.Workspace{SubscriptionID: "s", ResourceGroup: "g", Name: "w"}
	for _, m := range []string{"bank", "models/bank.json", "bank:"} {
		rec := &recorder{ws: ws, have: map[string]string{}}
		_, err := runDeploy(context.Background(), deployCall(rec, m))
		if err == nil || !strings.Contains(err.Error(), "on target azureml, name a model registered on Azure as NAME:VERSION") {
			t.Errorf("model %q: %v", m, err)
		}
		if len(rec.sent) != 0 {
			t.Errorf("model %q: sent %v", m, rec.sent)
		}
	}
}
