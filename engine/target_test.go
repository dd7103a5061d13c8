package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/mlflow-go/mlflow/schema"
)

type remoteKind struct{ fakeKind }

func (remoteKind) Target() string { return "azureml" }

type fakeKind struct{}

func (fakeKind) Kind() string    { return "k" }
func (fakeKind) Version() string { return "1" }
func (fakeKind) Run(context.Context, *Request) (Outputs, error) {
	return Outputs{}, nil
}

// A workflow is planned only with the kinds of its target: an azureml workflow with the
// local kinds would report success for work never done on Azure, and the reverse would
// spend money nobody asked to spend.
func TestPlanRefusesKindsOfAnotherTarget(t *testing.T) {
	wf := func(target string) *schema.Workflow {
		return &schema.Workflow{Name: "w", Target: target, TargetPos: schema.Pos{File: "wf.cue", Line: 2, Column: 1},
			Steps: map[string]*schema.Step{"a": {Name: "a", Kind: "k"}}, Order: []string{"a"}}
	}
	for _, c := range []struct {
		target string
		kind   Step
		want   string
	}{
		{"azureml", fakeKind{}, `wf.cue:2:1: target: target "azureml", but step a would run with the local kinds (mlflow run --target azureml)`},
		{"", remoteKind{}, `wf.cue:2:1: target: target "local", but step a would run with the azureml kinds (mlflow run --target local)`},
		{"azureml", remoteKind{}, ""},
		{"local", fakeKind{}, ""},
	} {
		_, err := NewPlan(wf(c.target), NewRegistry(c.kind))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("target %q with %T: %q, want %q", c.target, c.kind, got, c.want)
		}
	}
	if err := CheckTarget(wf("gcp")); err == nil || !strings.Contains(err.Error(), `target "gcp" is not built into this mlflow; targets: local, azureml`) {
		t.Errorf("unknown target: %v", err)
	}
}
