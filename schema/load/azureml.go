package load

import (
	"os"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"

	"github.com/mlflow-go/mlflow/internal/azure/azureml/pipecheck"
	"github.com/mlflow-go/mlflow/internal/azure/azureml/wintz"
	"github.com/mlflow-go/mlflow/schema"
)

// azureLocalOnly lists, per kind, the settings a step cannot keep on target
// azureml, with what each one stands for and the value that means "unset"
// (nil: any value is refused). They are refused rather than dropped: a run
// that silently ignored them would not be the run the file describes.
var azureLocalOnly = map[string][]struct {
	field, why string
	unset      any
}{
	"automl": {
		{"allowed_models", "Azure names its own algorithms (trainingSettings.allowedTrainingAlgorithms); this list names mlflow's", nil},
		{"blocked_models", "Azure names its own algorithms (trainingSettings.blockedTrainingAlgorithms); this list names mlflow's", nil},
		{"refit", "a setting of mlflow's own search", nil},
		{"max_inference_cost", "a setting of mlflow's own search", nil},
		{"memory", "a setting of mlflow's own search; size the compute instead", nil},
		{"seed", "Azure's AutoML takes no seed", nil},
	},
	"deploy": {
		{"auth", "a managed online endpoint always authenticates (authMode Key)", "key"},
		{"classic_response", "Azure's scoring script decides how it answers", "string"},
		{"strict_columns", "Azure's scoring script decides which columns it accepts", false},
	},
	"publish": {
		{"auth", "a batch endpoint always authenticates (Microsoft Entra token)", "key"},
		{"concurrency", "Azure starts every scheduled or triggered job", "queue"},
	},
	"exec": {
		{"dir", "the command runs on Azure, where the workflow's folder is not uploaded", nil},
		{"inputs", "the command runs on Azure, where local files are not uploaded", nil},
		{"outputs", "the command runs on Azure; its files stay in the job's outputs", nil},
	},
}

// checkAzureML refuses, with the position of the field at fault, what a
// step cannot do on Azure Machine Learning: settings only mlflow's own
// runners have, an exec without an environment, and schedules Azure would
// read differently from the file.
func (l *loader) checkAzureML(wf *schema.Workflow, infos map[string]*stepInfo) {
	for _, name := range wf.Order {
		info := infos[name]
		if info.kind == nil || !info.ok {
			continue
		}
		st := info.step
		at := func(field ...string) (schema.Pos, string) {
			sels := []cue.Selector{cue.Str("steps"), cue.Str(name)}
			for _, f := range field {
				sels = append(sels, cue.Str(f))
			}
			return l.userPos(sels), selPath(sels)
		}
		for _, lo := range azureLocalOnly[st.Kind] {
			v, ok := st.Config[lo.field]
			if !ok || v == nil || (lo.unset != nil && v == lo.unset) {
				continue
			}
			pos, path := at(lo.field)
			l.errorf(pos, path, "not available on target azureml: %s", lo.why)
		}
		switch st.Kind {
		case "deploy":
			if m, ok := st.Config["model"].(string); ok {
				if _, _, ok := pipecheck.ModelRef(m); !ok {
					pos, path := at("model")
					l.errorf(pos, path, "model %q: %s", m, pipecheck.ModelRefHelp)
				}
			}
		case "exec":
			if env, _ := st.Config["environment"].(string); env == "" {
				pos, path := at()
				l.errorf(pos, path, "an exec step needs an environment on target azureml: the Azure ML environment the command job runs in, e.g. environment: \"azureml://registries/azureml/environments/sklearn-1.5/labels/latest\"")
			}
		case "publish":
			sched, _ := st.Config["schedule"].(map[string]any)
			if c, ok := sched["cron"].(string); ok {
				if f := strings.Fields(c); len(f) == 5 && (f[2] != "*" || f[3] != "*") {
					pos, path := at("schedule", "cron")
					l.errorf(pos, path, "cron %q: Azure ML ignores the day-of-month and month fields (it would run on every day of every month); write them as *, or run this schedule locally", c)
				}
			}
			if tz, ok := sched["timezone"].(string); ok {
				if _, known := wintz.Name(tz); !known {
					pos, path := at("schedule", "timezone")
					l.errorf(pos, path, "time zone %q has no Windows name known to mlflow, which Azure ML schedules need (known: %s)", tz, strings.Join(wintz.Known(), ", "))
				}
			}
			if cu, _ := sched["catchup"].(string); cu != "" && cu != "none" {
				pos, path := at("schedule", "catchup")
				l.errorf(pos, path, "not available on target azureml: Azure never replays missed runs (catchup %q)", cu)
			}
			l.checkAzurePipeline(wf, st)
		}
	}
}

// checkAzurePipeline reports what keeps a publish step's pipeline from being built on
// Azure, by the rules the step itself applies before it sends anything (pipecheck), at
// the field at fault.
func (l *loader) checkAzurePipeline(wf *schema.Workflow, pub *schema.Step) {
	strs := func(v any) []string {
		var out []string
		for _, e := range toList(v) {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	steps, err := wf.Closure(strs(pub.Config["steps"]))
	if err != nil {
		return // the graph check has said which step is missing
	}
	for _, pr := range pipecheck.Check(wf, pub.Name, steps, strs(pub.Config["params"]), l.paramUses(wf)) {
		sels := []cue.Selector{cue.Str("steps"), cue.Str(pr.Step)}
		for _, f := range pr.Field {
			if i, err := strconv.Atoi(f); err == nil {
				sels = append(sels, cue.Index(i))
			} else {
				sels = append(sels, cue.Str(f))
			}
		}
		l.errorf(l.userPos(sels), selPath(sels), "%s", pr.Msg)
	}
}

func toList(v any) []any {
	l, _ := v.([]any)
	return l
}

// paramUses lists where params set the steps' config values: a string the file wrote
// with ${{ params.P }} (found in the file as read, since substitution leaves no trace but
// the literal's position) or a CUE reference to params.P.
func (l *loader) paramUses(wf *schema.Workflow) []pipecheck.ParamUse {
	type written struct {
		param, text string
		whole       bool
	}
	at := map[[2]int][]written{}
	if f, err := l.parse(l.src); err == nil && f != nil {
		// A field's value is found at the field's own position, a list element's at its.
		valueAt := map[ast.Node]token.Pos{}
		ast.Walk(f, func(n ast.Node) bool {
			if fld, ok := n.(*ast.Field); ok {
				valueAt[fld.Value] = fld.Pos()
			}
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING || !strings.Contains(lit.Value, "${{") {
				return true
			}
			s, err := literal.Unquote(lit.Value)
			if err != nil {
				return true
			}
			ms := exprRe.FindAllStringSubmatch(s, -1)
			p := l.pos(lit.Pos())
			if fp, ok := valueAt[lit]; ok {
				p = l.pos(fp)
			}
			for _, m := range ms {
				if pm := paramRe.FindStringSubmatch(m[1]); pm != nil {
					k := [2]int{p.Line, p.Column}
					at[k] = append(at[k], written{pm[1], s, len(ms) == 1 && s == m[0]})
				}
			}
			return true
		}, nil)
	}
	var out []pipecheck.ParamUse
	var walk func(step string, field []string, v cue.Value)
	walk = func(step string, field []string, v cue.Value) {
		if _, path := v.ReferencePath(); len(path.Selectors()) == 2 && path.Selectors()[0].String() == "params" {
			out = append(out, pipecheck.ParamUse{Step: step, Field: field, Param: path.Selectors()[1].String(), Whole: true})
			return
		}
		switch v.IncompleteKind() {
		case cue.StructKind:
			it, err := v.Fields()
			if err != nil {
				return
			}
			for it.Next() {
				walk(step, append(append([]string(nil), field...), it.Selector().String()), it.Value())
			}
			return
		case cue.ListKind:
			it, err := v.List()
			if err != nil {
				return
			}
			for i := 0; it.Next(); i++ {
				walk(step, append(append([]string(nil), field...), strconv.Itoa(i)), it.Value())
			}
			return
		}
		p := l.pos(v.Pos())
		for _, w := range at[[2]int{p.Line, p.Column}] {
			out = append(out, pipecheck.ParamUse{Step: step, Field: field, Param: w.param, Whole: w.whole, Text: w.text})
		}
	}
	for _, name := range wf.Order {
		it, err := l.user.LookupPath(cue.MakePath(cue.Str("steps"), cue.Str(name))).Fields()
		if err != nil {
			continue
		}
		for it.Next() {
			if f := it.Selector().String(); !commonFields[f] {
				walk(name, []string{f}, it.Value())
			}
		}
	}
	return out
}

// ParamUses lists where the params of the workflow in path set its steps' settings, for
// a publish step on Azure that binds them to its pipeline's inputs.
func ParamUses(path string, opts Options) ([]pipecheck.ParamUse, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var uses []pipecheck.ParamUse
	err = withLoaded(path, src, opts, func(l *loader, wf *schema.Workflow) { uses = l.paramUses(wf) })
	return uses, err
}
