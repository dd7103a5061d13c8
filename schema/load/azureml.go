package load

import (
	"strconv"
	"strings"

	"cuelang.org/go/cue"

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
	steps, err := pipecheck.Closure(wf, strs(pub.Config["steps"]))
	if err != nil {
		return // the graph check has said which step is missing
	}
	for _, pr := range pipecheck.Check(wf, pub.Name, steps, strs(pub.Config["params"])) {
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
