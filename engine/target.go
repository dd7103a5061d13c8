package engine

import (
	"fmt"

	"github.com/mlflow-go/mlflow/schema"
)

// Targeter is implemented by kinds that run somewhere other than this
// machine: Target names the workflow target they serve ("azureml"). A kind
// without it is a local kind.
type Targeter interface {
	Target() string
}

func kindTarget(k Step) string {
	if t, ok := k.(Targeter); ok {
		return t.Target()
	}
	return "local"
}

// checkRegistry refuses to plan a workflow with kinds of another target:
// an azureml workflow run with the local kinds would report success for
// work never done where the file asks for it, and a local one run with the
// azureml kinds would spend money nobody asked to spend.
func checkRegistry(wf *schema.Workflow, reg Registry) error {
	want := wf.Target
	if want == "" {
		want = "local"
	}
	for _, st := range wf.Steps {
		if st == nil {
			continue
		}
		k, ok := reg[st.Kind]
		if !ok {
			continue // NewPlan names the missing kind
		}
		if got := kindTarget(k); got != want {
			return &schema.Error{Pos: wf.TargetPos, Path: "target",
				Msg: fmt.Sprintf("target %q, but step %s would run with the %s kinds (mlflow run --target %s)", want, st.Name, got, want)}
		}
	}
	return nil
}
