// Package pipecheck holds the rules target azureml applies to the loaded workflow alone
// (what a published pipeline can hold, how a deploy step names an Azure model), so that
// `mlflow validate` (schema/load) and the steps themselves (internal/azure/azureml)
// refuse the same things with the same words: validation reports them with the field's
// position, a step before it sends anything. It imports neither, so both can use it.
package pipecheck

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/mlflow-go/mlflow/schema"
)

// Problem is one reason the pipeline cannot be built on Azure.
type Problem struct {
	Step  string   // the step at fault
	Field []string // the field of that step at fault; nil for the step itself
	Msg   string
}

// ParamUse is a step's config value that a param sets: the file wrote
// ${{ params.P }} (or the CUE reference params.P) there.
type ParamUse struct {
	Step  string
	Field []string // the config path, list indexes in decimal: ["command", "2"]
	Param string
	// Whole: the value is the param itself, not text around it.
	Whole bool
	// Text is the string as the file wrote it, ${{ params.P }} and all; "" for a CUE
	// reference.
	Text string
}

// ParamExpr is ${{ params.P }} in a string, P its first group.
var ParamExpr = regexp.MustCompile(`\$\{\{\s*params\.([A-Za-z0-9_-]+)\s*\}\}`)

// Bindable says whether a published param that sets u can be bound to the pipeline's
// input at trigger time. Only a command takes inputs where a param's value can go: in an
// argument of an exec step's command, the param becomes ${{inputs.P}} of its command
// component (Azure replaces it in the command's text), bound to ${{parent.inputs.P}}. An AutoML node's settings are literals
// (the SDK's node schema takes only its data as bindings), the evaluation component's
// command is fixed, and a dataset is a data version bound at publication.
func Bindable(wf *schema.Workflow, u ParamUse) bool {
	st := wf.Steps[u.Step]
	return st != nil && st.Kind == "exec" && len(u.Field) == 2 && u.Field[0] == "command" && (u.Whole || u.Text != "")
}

// unbindable says why a kind's settings cannot follow a param at trigger time.
var unbindable = map[string]string{
	"automl":   "an AutoML node's settings are literals in an Azure pipeline (only its training data is an input)",
	"evaluate": "the evaluation component's settings are fixed when it is registered",
	"dataset":  "a dataset is the data version bound at publication, not rebuilt by the pipeline",
	"exec":     "only the arguments of an exec step's command take pipeline inputs",
}

// ModelRef splits a deploy step's model written as text: on Azure it must name a model
// registered there as NAME:VERSION (a local model file or an unversioned name means
// nothing to Azure). ok is false for anything else.
func ModelRef(s string) (name, version string, ok bool) {
	name, version, ok = strings.Cut(s, ":")
	if !ok || name == "" || version == "" || strings.ContainsAny(s, "/\\") {
		return "", "", false
	}
	return name, version, true
}

// ModelRefHelp says what ModelRef takes.
const ModelRefHelp = "on target azureml, name a model registered on Azure as NAME:VERSION, or an automl step's model output"

// Kinds are the step kinds Azure's pipeline runner can hold, as inputs or nodes.
var Kinds = map[string]bool{"dataset": true, "automl": true, "evaluate": true, "exec": true}

// NodeName is a step's name as a node or input name: Azure takes lower-case letters,
// digits and _, not starting with a digit.
func NodeName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out == "" || out[0] >= '0' && out[0] <= '9' {
		out = "_" + out
	}
	return out
}

// RefOf is the reference a config field holds, if it is exactly one.
func RefOf(v any) (schema.Ref, bool) {
	switch x := v.(type) {
	case schema.Ref:
		return x, true
	case *schema.Ref:
		return *x, x != nil
	}
	return schema.Ref{}, false
}

// firstRef is the first config field (in key order) that holds a reference anywhere.
func firstRef(cfg map[string]any) (string, bool) {
	var has func(v any) bool
	has = func(v any) bool {
		switch x := v.(type) {
		case schema.Ref, *schema.Ref, schema.Template:
			return true
		case map[string]any:
			for _, e := range x {
				if has(e) {
					return true
				}
			}
		case []any:
			for _, e := range x {
				if has(e) {
					return true
				}
			}
		}
		return false
	}
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if has(cfg[k]) {
			return k, true
		}
	}
	return "", false
}

// Target is the column an evaluate step scores: its own target, its dataset's, or its
// model's training target.
func Target(wf *schema.Workflow, st *schema.Step) string {
	if t, _ := st.Config["target"].(string); t != "" {
		return t
	}
	for _, f := range []string{"dataset", "model"} {
		if r, ok := RefOf(st.Config[f]); ok && wf.Steps[r.Step] != nil {
			if t, _ := wf.Steps[r.Step].Config["target"].(string); t != "" {
				return t
			}
		}
	}
	return ""
}

// Check is every reason the publish step `publish`, holding steps (the closure of its
// `steps`) and publishing params, cannot become a pipeline on Azure: kinds Azure cannot
// run inside a pipeline, node inputs Azure has no binding for, two steps with one node
// name. Problems come in step order; nil means the pipeline can be built.
//
// uses are where params set step values: a published param that sets a value Azure
// cannot bind is refused, since triggering the pipeline with another value would change
// nothing.
func Check(wf *schema.Workflow, publish string, steps, params []string, uses []ParamUse) []Problem {
	var out []Problem
	add := func(step string, field []string, format string, args ...any) {
		out = append(out, Problem{Step: step, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	names := map[string]string{}
	for _, n := range steps {
		a := NodeName(n)
		if other, ok := names[a]; ok {
			add(n, nil, "its Azure node name %s is also step %s's: rename one", a, other)
		}
		names[a] = n
	}
	for _, n := range steps {
		st := wf.Steps[n]
		if st == nil {
			continue
		}
		switch st.Kind {
		case "dataset":
		case "automl":
			ref, ok := datasetRef(wf, st, "dataset")
			if !ok {
				add(n, []string{"dataset"}, "dataset must be a dataset step's output (${{ steps.D.outputs.dataset }}) to be published on Azure, where it becomes the pipeline's input")
				continue
			}
			for _, d := range st.Needs {
				if d != ref.Step {
					add(n, []string{"needs"}, "step %s, but an AutoML node of an Azure pipeline waits only for its training data: drop the need or publish without it", d)
					break
				}
			}
		case "evaluate":
			if _, ok := datasetRef(wf, st, "dataset"); !ok {
				add(n, []string{"dataset"}, "dataset must be a dataset step's output (${{ steps.D.outputs.dataset }}) to be published on Azure, where it becomes the pipeline's input")
			}
			m, ok := RefOf(st.Config["model"])
			if !ok || wf.Steps[m.Step] == nil || wf.Steps[m.Step].Kind != "automl" || m.Output != "model" {
				add(n, []string{"model"}, "model must be an automl step's output (${{ steps.T.outputs.model }}) to be published on Azure, where it becomes that node's best_model")
			} else if Target(wf, st) == "" {
				add(n, nil, "neither this step, its dataset nor its model names a target column: set target on this step")
			}
		case "exec":
			if f, ok := firstRef(st.Config); ok {
				add(n, []string{f}, "an exec step of a pipeline published on Azure cannot take other steps' outputs (its command component has no inputs for them)")
			}
			if env, _ := st.Config["environment"].(string); env == "" {
				add(n, nil, "environment is required on target azureml")
			}
		case "publish":
			add(n, nil, "a publish step, inside the pipeline of publish step %s: a pipeline does not publish pipelines", publish)
		default:
			add(n, nil, "a %s step, which Azure cannot run inside a published pipeline (publish step %s holds it; Azure runs command and AutoML nodes): publish the steps up to the model, and run step %s outside the pipeline", st.Kind, publish, n)
		}
	}
	published := map[string]bool{}
	for _, p := range params {
		published[p] = true
	}
	inPipeline := map[string]bool{}
	for _, n := range steps {
		inPipeline[n] = true
	}
	for _, u := range uses {
		if !published[u.Param] || !inPipeline[u.Step] || Bindable(wf, u) {
			continue
		}
		why := unbindable[wf.Steps[u.Step].Kind]
		if why == "" {
			continue // a kind refused above
		}
		add(u.Step, u.Field, "set by param %s, which publish step %s makes an input of its pipeline, but %s: a trigger that sets %s would change nothing here; write the value in the file, or drop %s from the published params", u.Param, publish, why, u.Param, u.Param)
	}
	for i, p := range params {
		if d, ok := names[NodeName(p)]; ok && wf.Steps[d] != nil && wf.Steps[d].Kind == "dataset" {
			add(publish, []string{"params", fmt.Sprint(i)}, "param %s has the name of the pipeline's input for dataset step %s: rename one", p, d)
		}
	}
	return out
}

// datasetRef is the reference field holds when it names a dataset step's dataset.
func datasetRef(wf *schema.Workflow, st *schema.Step, field string) (schema.Ref, bool) {
	r, ok := RefOf(st.Config[field])
	if !ok || wf.Steps[r.Step] == nil || wf.Steps[r.Step].Kind != "dataset" || r.Output != "dataset" {
		return r, false
	}
	return r, true
}
