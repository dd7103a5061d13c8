package azureml

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/azure/azureml/pipecheck"
	"github.com/mlflow-go/mlflow/schema"
	"github.com/mlflow-go/mlflow/steps/automl"
	"github.com/mlflow-go/mlflow/steps/exec"
	"github.com/mlflow-go/mlflow/steps/publish"
)

// A published pipeline's nodes are written as Azure's pipeline runner reads them, which
// the REST spec leaves free-form: the shape Azure's Python SDK (azure-ai-ml) sends, with
// snake_case keys inside a node (docs/azureml.md, "The published pipeline"):
//
//   - a dataset step is not a node but an input of the pipeline (type mltable), bound at
//     publication to the data asset's latest version on Azure;
//   - automl is an AutoML node ({type: automl, task, training_data, target_column_name,
//     primary_metric, limits, ...}) with the task settings the standalone job sends,
//     its model the node's best_model output;
//   - evaluate and exec are command nodes ({type: command, componentId, inputs, outputs}),
//     each running a command component registered first (a node cannot hold its
//     command inline on the wire);
//   - references between steps become bindings, ${{parent.inputs.X}} for a dataset and
//     ${{parent.jobs.A.outputs.B}} for a node's output.
//
// Azure orders nodes by their data only: a `needs` without a reference becomes an
// optional input of the command component bound to the upstream node's output.

// pipelineParts is a pipeline component's spec, in parts.
type pipelineParts struct {
	inputs   map[string]any // the component's inputs, in a component spec's shape
	jobs     map[string]any // its nodes
	commands []commandComponent
	data     map[string]string // pipeline input -> the data asset it is bound to
	// outputs are the component's outputs, each AutoML node's best model, and models
	// the model each is registered as by a job that names it (the schedule's).
	outputs map[string]any
	models  map[string]string
}

// commandComponent is a command component a command node runs.
type commandComponent struct {
	step, name, version string
	spec                map[string]any
}

// nodeOutput is, per kind, the Azure output that stands for a step's output inside
// a pipeline, and the type an input bound to it declares.
var nodeOutput = map[string]struct{ output, azure, typ string }{
	"dataset":  {"dataset", "", "mltable"},
	"automl":   {"model", "best_model", "mlflow_model"},
	"evaluate": {"metrics", "metrics", "uri_folder"},
	"exec":     {"", "done", "uri_folder"},
}

// azureName is a step's name as a node or input name.
func azureName(s string) string { return pipecheck.NodeName(s) }

// stepAt names a step with its place in the file, for errors about the step itself.
func stepAt(st *schema.Step) string {
	if p := st.Pos.String(); p != "" {
		return p + ": step " + st.Name
	}
	return "step " + st.Name
}

// problemError is a pipecheck problem as the step's error, naming the step's place.
func problemError(wf *schema.Workflow, pr pipecheck.Problem) error {
	at := "step " + pr.Step
	if st := wf.Steps[pr.Step]; st != nil {
		at = stepAt(st)
	}
	if len(pr.Field) > 0 {
		at += ": " + strings.Join(pr.Field, ".")
	}
	return fmt.Errorf("%s: %s", at, pr.Msg)
}

// buildPipeline turns the published steps into Azure's nodes. What pipecheck refuses
// (validation reports it first, with the field's position) is refused here too, before
// anything is sent: leaving a step out would publish a pipeline that is not the one the
// file describes.
func buildPipeline(c *call, wf *schema.Workflow, pub string, cfg publish.Config, steps []string, uses []pipecheck.ParamUse) (*pipelineParts, error) {
	if probs := pipecheck.Check(wf, pub, steps, cfg.Params, uses); len(probs) > 0 {
		return nil, problemError(wf, probs[0])
	}
	pipeline := cfg.Name
	p := &pipelineParts{inputs: map[string]any{}, jobs: map[string]any{}, data: map[string]string{}, outputs: map[string]any{}, models: map[string]string{}}
	for _, n := range steps {
		st := wf.Steps[n]
		var err error
		switch st.Kind {
		case "dataset":
			name, _ := st.Config["name"].(string)
			if name == "" {
				name = n
			}
			p.inputs[azureName(n)] = map[string]any{"type": "mltable"}
			p.data[azureName(n)] = name
		case "automl":
			err = p.automlNode(c, wf, st)
		case "evaluate":
			err = p.evaluateNode(c, wf, st, pipeline)
		case "exec":
			err = p.execNode(c, wf, st, pipeline, boundArgs(wf, st.Name, cfg.Params, uses), cfg.Params)
		default:
			err = fmt.Errorf("%s: a %s step has no node (pipecheck lets it through)", stepAt(st), st.Kind)
		}
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// bind is a reference as an Azure binding inside the pipeline.
func bind(wf *schema.Workflow, at string, r schema.Ref) (string, error) {
	up := wf.Steps[r.Step]
	if up == nil {
		return "", fmt.Errorf("%s: no step %s", at, r.Step)
	}
	o, ok := nodeOutput[up.Kind]
	if !ok || o.output != r.Output {
		return "", fmt.Errorf("%s: %s has no Azure counterpart inside a pipeline", at, r)
	}
	if up.Kind == "dataset" {
		return "${{parent.inputs." + azureName(r.Step) + "}}", nil
	}
	return "${{parent.jobs." + azureName(r.Step) + ".outputs." + o.azure + "}}", nil
}

var refOf = pipecheck.RefOf

// decodePlain decodes a step's config without its references (nil in their place)
// into a kind's Config.
func decodePlain(cfg map[string]any, out any) error {
	var strip func(v any) any
	strip = func(v any) any {
		switch x := v.(type) {
		case schema.Ref, *schema.Ref, schema.Template:
			return nil
		case map[string]any:
			m := make(map[string]any, len(x))
			for k, e := range x {
				m[k] = strip(e)
			}
			return m
		case []any:
			l := make([]any, len(x))
			for i, e := range x {
				l[i] = strip(e)
			}
			return l
		}
		return v
	}
	b, err := json.Marshal(strip(cfg))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// datasetOf is the dataset step a config field refers to.
func datasetOf(wf *schema.Workflow, st *schema.Step, field string) (*schema.Step, schema.Ref, error) {
	r, ok := refOf(st.Config[field])
	if !ok || wf.Steps[r.Step] == nil || wf.Steps[r.Step].Kind != "dataset" {
		return nil, r, fmt.Errorf("%s: %s must be a dataset step's output (${{ steps.D.outputs.dataset }}) to be published on Azure, where it becomes the pipeline's input", stepAt(st), field)
	}
	return wf.Steps[r.Step], r, nil
}

func (p *pipelineParts) automlNode(c *call, wf *schema.Workflow, st *schema.Step) error {
	var cfg automl.Config
	if err := decodePlain(st.Config, &cfg); err != nil {
		return fmt.Errorf("%s: %v", stepAt(st), err)
	}
	ds, ref, err := datasetOf(wf, st, "dataset")
	if err != nil {
		return err
	}
	name, _ := ds.Config["name"].(string)
	target, _ := ds.Config["target"].(string)
	cfg.Dataset = artifact.Dataset{Name: name, Version: 1, Target: target}
	// The standalone job's body, so that the node asks Azure for the same search.
	body, metric, budget, err := autoMLBody(c, cfg)
	if err != nil {
		return fmt.Errorf("%s: %v", stepAt(st), err)
	}
	task := body["properties"].(map[string]any)["taskDetails"].(map[string]any)
	tt, _ := task["taskType"].(string)
	node := map[string]any{
		"type":               "automl",
		"task":               strings.ToLower(tt),
		"training_data":      "${{parent.inputs." + azureName(ref.Step) + "}}",
		"target_column_name": task["targetColumnName"],
		// The SDK writes Azure's metric names in snake_case inside a node
		// (AUCWeighted is auc_weighted): the workflow's names, lower-cased.
		"primary_metric": strings.ToLower(metric),
		"tags":           map[string]any{"mlflow.step": st.Name},
	}
	// Inside a pipeline the best model is a node output; bound to an output of the
	// pipeline, a job that gives that output an asset name registers it as a model
	// version, as the standalone step registers its own (the SDK's binding shape).
	out := azureName(st.Name) + "_best_model"
	node["outputs"] = map[string]any{"best_model": map[string]any{"type": "literal", "value": "${{parent.outputs." + out + "}}"}}
	p.outputs[out] = map[string]any{"type": "mlflow_model"}
	p.models[out] = cfg.Name
	if cfg.Name == "" {
		p.models[out] = st.Name
	}
	limits := map[string]any{}
	if budget > 0 {
		limits["timeout_minutes"] = wholeMinutes(budget)
	}
	if ls, ok := task["limitSettings"].(map[string]any); ok && ls["maxTrials"] != nil {
		limits["max_trials"] = ls["maxTrials"]
	}
	if len(limits) > 0 {
		node["limits"] = limits
	}
	if cv, ok := task["nCrossValidations"].(map[string]any); ok {
		node["n_cross_validations"] = cv["value"]
	}
	if v, ok := task["validationDataSize"]; ok {
		node["validation_data_size"] = v
	}
	if ts, ok := task["trainingSettings"].(map[string]any); ok {
		node["training"] = map[string]any{"enable_stack_ensemble": ts["enableStackEnsemble"], "enable_vote_ensemble": ts["enableVoteEnsemble"]}
	}
	c.nodeCompute(node)
	p.jobs[azureName(st.Name)] = node
	return nil
}

// wholeMinutes is d in minutes rounded up, at least one (AutoML's limits count minutes).
func wholeMinutes(d time.Duration) int {
	return max(int((d+time.Minute-1)/time.Minute), 1)
}

// nodeCompute says where a node runs: on the pipeline's default compute (the
// workspace's cluster, set on the job), or serverless on the instance type.
func (c *call) nodeCompute(node map[string]any) {
	if c.Compute != "" {
		return
	}
	it := c.InstanceType
	if it == "" {
		it = jobInstanceType
	}
	node["resources"] = map[string]any{"instance_type": it, "instance_count": 1}
}

// evaluateCommand is the evaluation job's command line; ${{inputs.model}},
// ${{inputs.data}} and ${{outputs.metrics}} are Azure's, in a standalone command job as
// in a command component.
func evaluateCommand(target, task string) string {
	script := base64.StdEncoding.EncodeToString([]byte(evaluateScript))
	return "python -c \"import base64;exec(base64.b64decode('" + script + "'))\" " +
		"${{inputs.model}} ${{inputs.data}} " + shellQuote([]string{target, task}) + " ${{outputs.metrics}}"
}

func (p *pipelineParts) evaluateNode(c *call, wf *schema.Workflow, st *schema.Step, pipeline string) error {
	_, dref, err := datasetOf(wf, st, "dataset")
	if err != nil {
		return err
	}
	mref, ok := refOf(st.Config["model"])
	if !ok || wf.Steps[mref.Step] == nil || wf.Steps[mref.Step].Kind != "automl" {
		return fmt.Errorf("%s: model must be an automl step's output (${{ steps.T.outputs.model }}) to be published on Azure, where it becomes that node's best_model", stepAt(st))
	}
	target := pipecheck.Target(wf, st)
	task, _ := wf.Steps[mref.Step].Config["task"].(string)
	if task == "" {
		task = "classification"
	}
	model, err := bind(wf, stepAt(st)+": model", mref)
	if err != nil {
		return err
	}
	data, _ := bind(wf, stepAt(st)+": dataset", dref)
	spec := map[string]any{
		"type":        "command",
		"command":     evaluateCommand(target, task),
		"environment": evaluateEnvironment,
		"inputs":      map[string]any{"model": map[string]any{"type": "mlflow_model"}, "data": map[string]any{"type": "mltable"}},
		"outputs":     map[string]any{"metrics": map[string]any{"type": "uri_folder"}},
	}
	inputs := map[string]any{"model": literal(model), "data": literal(data)}
	return p.commandNode(c, wf, st, pipeline, spec, inputs, map[string]bool{mref.Step: true, dref.Step: true}, nil)
}

// boundArgs are the arguments of an exec step's command that published params set, by
// index, with the uses that set them.
func boundArgs(wf *schema.Workflow, step string, params []string, uses []pipecheck.ParamUse) map[int]pipecheck.ParamUse {
	out := map[int]pipecheck.ParamUse{}
	for _, u := range uses {
		if u.Step != step || !slices.Contains(params, u.Param) || !pipecheck.Bindable(wf, u) {
			continue
		}
		if i, err := strconv.Atoi(u.Field[1]); err == nil {
			out[i] = u
		}
	}
	return out
}

// boundArg is an argument set by params with each published one as Azure's
// ${{inputs.P}} (other params keep their values), and the inputs it reads.
func boundArg(wf *schema.Workflow, u pipecheck.ParamUse, published []string) (string, []string) {
	if u.Text == "" {
		return "${{inputs." + azureName(u.Param) + "}}", []string{azureName(u.Param)}
	}
	var ins []string
	arg := pipecheck.ParamExpr.ReplaceAllStringFunc(u.Text, func(m string) string {
		p := pipecheck.ParamExpr.FindStringSubmatch(m)[1]
		if !slices.Contains(published, p) {
			return fmt.Sprint(wf.Params[p])
		}
		ins = append(ins, azureName(p))
		return "${{inputs." + azureName(p) + "}}"
	})
	return arg, ins
}

func (p *pipelineParts) execNode(c *call, wf *schema.Workflow, st *schema.Step, pipeline string, args map[int]pipecheck.ParamUse, published []string) error {
	var cfg exec.Config
	if err := decodePlain(st.Config, &cfg); err != nil {
		return fmt.Errorf("%s: %v", stepAt(st), err)
	}
	// A published param is Azure's ${{inputs.P}} in the command, which Azure replaces
	// with the value the pipeline job binds, inside the argument's quotes.
	argv := append([]string(nil), cfg.Command...)
	declared, inputs := map[string]any{}, map[string]any{}
	for i, u := range args {
		arg, ins := boundArg(wf, u, published)
		argv[i] = arg
		for _, in := range ins {
			declared[in] = map[string]any{"type": "string"}
			inputs[in] = literal("${{parent.inputs." + in + "}}")
		}
	}
	spec := map[string]any{
		"type":        "command",
		"command":     shellQuote(argv),
		"environment": cfg.Environment,
		// An output that nothing writes: what a later node's `needs` binds to.
		"outputs": map[string]any{"done": map[string]any{"type": "uri_folder"}},
	}
	if len(declared) > 0 {
		spec["inputs"] = declared
	}
	var env map[string]any
	if len(cfg.Env) > 0 {
		env = map[string]any{}
		for k, v := range cfg.Env {
			env[k] = v
		}
	}
	return p.commandNode(c, wf, st, pipeline, spec, inputs, nil, env)
}

func literal(binding string) map[string]any {
	return map[string]any{"job_input_type": "literal", "value": binding}
}

// commandNode registers spec as a command component and adds its node; each need not
// already bound becomes an optional input bound to the upstream node's output.
func (p *pipelineParts) commandNode(c *call, wf *schema.Workflow, st *schema.Step, pipeline string, spec, inputs map[string]any, bound map[string]bool, env map[string]any) error {
	declared, _ := spec["inputs"].(map[string]any)
	if declared == nil {
		declared = map[string]any{}
	}
	needs := append([]string(nil), st.Needs...)
	sort.Strings(needs)
	for _, d := range needs {
		if bound[d] {
			continue
		}
		up := wf.Steps[d]
		o, ok := nodeOutput[up.Kind]
		if !ok {
			return fmt.Errorf("%s: needs %s, a %s step, which is not part of an Azure pipeline", stepAt(st), d, up.Kind)
		}
		b := "${{parent.inputs." + azureName(d) + "}}"
		if up.Kind != "dataset" {
			b = "${{parent.jobs." + azureName(d) + ".outputs." + o.azure + "}}"
		}
		in := "after_" + azureName(d)
		declared[in] = map[string]any{"type": o.typ, "optional": true}
		inputs[in] = literal(b)
	}
	if len(declared) > 0 {
		spec["inputs"] = declared
	}
	name := azureName(pipeline) + "_" + azureName(st.Name)
	b, _ := json.Marshal(spec)
	sum := sha256.Sum256(b)
	// Component versions cannot change: the version is the spec's digest, so the same
	// spec is the same version, and a changed one a new version.
	version := hex.EncodeToString(sum[:8])
	spec["name"], spec["version"], spec["display_name"] = name, version, st.Name
	p.commands = append(p.commands, commandComponent{step: st.Name, name: name, version: version, spec: spec})
	node := map[string]any{
		"type":        "command",
		"componentId": c.id("components/" + seg(name) + "/versions/" + version),
		"inputs":      inputs,
		"tags":        map[string]any{"mlflow.step": st.Name},
	}
	if outs, ok := spec["outputs"].(map[string]any); ok {
		no := map[string]any{}
		for k, o := range outs {
			no[k] = map[string]any{"job_output_type": o.(map[string]any)["type"]}
		}
		node["outputs"] = no
	}
	if env != nil {
		node["environment_variables"] = env
	}
	c.nodeCompute(node)
	p.jobs[azureName(st.Name)] = node
	return nil
}
