package fakeazure

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The REST spec declares a pipeline's `jobs` (and a component's `componentSpec`) as free
// objects, so the validator of spec.go lets any node through. Azure's pipeline runner
// does not: it executes its own node types only, in the shape Azure's Python SDK
// (azure-ai-ml) writes them. The fake checks that shape (docs/azureml.md, "The published
// pipeline"): the fields each node type needs, and that every ${{parent...}} binding
// resolves to an input the pipeline declares or to an output of one of its nodes.

// binding matches the pipeline bindings of a node's values.
var binding = regexp.MustCompile(`\$\{\{\s*parent\.(inputs\.([A-Za-z0-9_]+)|jobs\.([A-Za-z0-9_]+)\.outputs\.([A-Za-z0-9_]+)|outputs\.([A-Za-z0-9_]+))\s*\}\}`)

// nodeName is what Azure takes as a node's (and a pipeline input's) name.
var nodeName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// automlTasks are the tabular AutoML tasks a node can run, by the SDK's task names.
var automlTasks = map[string]bool{"classification": true, "regression": true, "forecasting": true}

// checkComponentSpec checks a component version's spec: a command component needs a
// command and an environment; a pipeline component's nodes must be nodes Azure runs.
// It is called under s.mu.
func (s *Server) checkComponentSpec(spec map[string]any) []string {
	switch t, _ := spec["type"].(string); t {
	case "command":
		var errs []string
		for _, f := range []string{"command", "environment"} {
			if v, _ := spec[f].(string); v == "" {
				errs = append(errs, "componentSpec."+f+": required for a command component")
			}
		}
		return errs
	case "pipeline":
		inputs, _ := spec["inputs"].(map[string]any)
		outputs, _ := spec["outputs"].(map[string]any)
		return s.checkNodes("componentSpec.", spec["jobs"], keys(inputs), keys(outputs))
	case "":
		return []string{"componentSpec.type: required"}
	default:
		return nil // other component types are not played
	}
}

// checkPipelineJob checks a pipeline job's nodes against its own inputs and outputs, and
// that each data input it binds names a data version of the workspace (under s.mu).
func (s *Server) checkPipelineJob(props map[string]any) []string {
	inputs, _ := props["inputs"].(map[string]any)
	outputs, _ := props["outputs"].(map[string]any)
	errs := s.checkNodes("", props["jobs"], keys(inputs), keys(outputs))
	for _, k := range sortedKeys(inputs) {
		in, _ := inputs[k].(map[string]any)
		uri, _ := in["uri"].(string)
		id := strings.TrimPrefix(uri, "azureml:")
		if !strings.HasPrefix(strings.ToLower(id), strings.ToLower(workspacePath)+"/") {
			continue
		}
		if s.res[s.key(id[len(workspacePath)+1:])] == nil {
			errs = append(errs, fmt.Sprintf("inputs.%s.uri: %s was not found in workspace %s", k, uri, WorkspaceName))
		}
	}
	return errs
}

// checkNodes checks the nodes of a pipeline whose inputs and outputs are declared.
func (s *Server) checkNodes(at string, jobs any, inputs, outputs map[string]bool) []string {
	nodes, ok := jobs.(map[string]any)
	if !ok || len(nodes) == 0 {
		return []string{at + "jobs: a pipeline needs at least one node"}
	}
	var errs []string
	nodeOutputs := map[string]map[string]bool{}
	for _, name := range sortedKeys(nodes) {
		n, ok := nodes[name].(map[string]any)
		p := at + "jobs." + name
		if !ok {
			errs = append(errs, p+": a node is an object")
			continue
		}
		if !nodeName.MatchString(name) {
			errs = append(errs, p+": a node's name is lower-case letters, digits and _, not starting with a digit")
		}
		outs, e := s.checkNode(p, n)
		errs = append(errs, e...)
		nodeOutputs[name] = outs
	}
	for _, name := range sortedKeys(nodes) {
		n, _ := nodes[name].(map[string]any)
		walkStrings(n, at+"jobs."+name, func(path, v string) {
			for _, m := range binding.FindAllStringSubmatch(v, -1) {
				switch {
				case m[2] != "" && !inputs[m[2]]:
					errs = append(errs, fmt.Sprintf("%s: %s binds input %q, which the pipeline does not declare", path, m[0], m[2]))
				case m[3] == name:
					errs = append(errs, fmt.Sprintf("%s: %s binds the node's own output", path, m[0]))
				case m[3] != "" && nodeOutputs[m[3]] == nil:
					errs = append(errs, fmt.Sprintf("%s: %s binds node %q, which the pipeline does not have", path, m[0], m[3]))
				case m[3] != "" && !nodeOutputs[m[3]][m[4]]:
					errs = append(errs, fmt.Sprintf("%s: %s binds output %q, which node %s does not have", path, m[0], m[4], m[3]))
				case m[5] != "" && !outputs[m[5]]:
					errs = append(errs, fmt.Sprintf("%s: %s binds output %q, which the pipeline does not declare", path, m[0], m[5]))
				}
			}
		})
	}
	return errs
}

// checkNode checks one node's own fields and returns the outputs it offers downstream.
func (s *Server) checkNode(p string, n map[string]any) (map[string]bool, []string) {
	var errs []string
	req := func(f string) string {
		v, _ := n[f].(string)
		if v == "" {
			errs = append(errs, p+"."+f+": required")
		}
		return v
	}
	nodeOuts, _ := n["outputs"].(map[string]any)
	switch t, _ := n["type"].(string); t {
	case "automl":
		task := req("task")
		if task != "" && !automlTasks[task] {
			errs = append(errs, fmt.Sprintf("%s.task: %q is not a tabular AutoML task (classification, regression, forecasting)", p, task))
		}
		req("training_data")
		req("target_column_name")
		// The SDK's AutoML node fields are snake_case: the REST job's camelCase names
		// here are fields Azure's node loader does not know.
		for _, f := range []string{"taskType", "trainingData", "targetColumnName", "primaryMetric", "limitSettings"} {
			if _, ok := n[f]; ok {
				errs = append(errs, fmt.Sprintf("%s.%s: an AutoML node's fields are snake_case (the standalone job's camelCase names are not read here)", p, f))
			}
		}
		outs := keys(nodeOuts)
		outs["best_model"] = true
		return outs, errs
	case "command", "pipeline":
		id := strings.TrimPrefix(req("componentId"), "azureml:")
		if id == "" {
			return keys(nodeOuts), errs
		}
		comp := s.componentSpec(id)
		if comp == nil {
			errs = append(errs, fmt.Sprintf("%s.componentId: component %s was not found in workspace %s", p, id, WorkspaceName))
			return keys(nodeOuts), errs
		}
		if ct, _ := comp["type"].(string); ct != t {
			errs = append(errs, fmt.Sprintf("%s.componentId: a %s node runs a %s component, not a %s one", p, t, t, ct))
		}
		declIn, _ := comp["inputs"].(map[string]any)
		declOut, _ := comp["outputs"].(map[string]any)
		given, _ := n["inputs"].(map[string]any)
		for _, k := range sortedKeys(given) {
			in, _ := given[k].(map[string]any)
			switch {
			case declIn[k] == nil:
				errs = append(errs, fmt.Sprintf("%s.inputs.%s: the component declares no such input", p, k))
			case in == nil || in["job_input_type"] == nil:
				errs = append(errs, fmt.Sprintf("%s.inputs.%s: a node input is {job_input_type, value} or {job_input_type, uri}", p, k))
			case in["value"] == nil && in["uri"] == nil:
				errs = append(errs, fmt.Sprintf("%s.inputs.%s: neither value nor uri", p, k))
			}
		}
		for _, k := range sortedKeys(declIn) {
			d, _ := declIn[k].(map[string]any)
			if given[k] == nil && d["optional"] != true && d["default"] == nil {
				errs = append(errs, fmt.Sprintf("%s.inputs.%s: the component's input %s is required and not bound", p, k, k))
			}
		}
		for _, k := range sortedKeys(nodeOuts) {
			if declOut[k] == nil {
				errs = append(errs, fmt.Sprintf("%s.outputs.%s: the component declares no such output", p, k))
			}
		}
		return keys(declOut), errs
	case "":
		errs = append(errs, p+".type: required")
	default:
		errs = append(errs, fmt.Sprintf("%s.type: %q is not a node type Azure's pipeline runner executes (the fake plays command, automl and pipeline)", p, t))
	}
	return nil, errs
}

// componentSpec is the spec of a component version given by ARM id (under s.mu).
func (s *Server) componentSpec(id string) map[string]any {
	if !strings.HasPrefix(strings.ToLower(id), strings.ToLower(workspacePath)+"/") {
		return nil
	}
	res := s.res[s.key(id[len(workspacePath)+1:])]
	props, _ := res["properties"].(map[string]any)
	spec, _ := props["componentSpec"].(map[string]any)
	return spec
}

// walkStrings calls f with every string under v and its path.
func walkStrings(v any, path string, f func(path, s string)) {
	switch x := v.(type) {
	case string:
		f(path, x)
	case map[string]any:
		for _, k := range sortedKeys(x) {
			walkStrings(x[k], path+"."+k, f)
		}
	case []any:
		for i, e := range x {
			walkStrings(e, fmt.Sprintf("%s[%d]", path, i), f)
		}
	}
}

func keys(m map[string]any) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// inputRef matches ${{inputs.X}} in a command component's command.
var inputRef = regexp.MustCompile(`\$\{\{\s*inputs\.([A-Za-z0-9_]+)\s*\}\}`)

// resolvePipelineJob plays what Azure's runner does with a pipeline job's bindings before
// it runs a node: each node's inputs are taken from its parent's (the job's inputs, or a
// pipeline component's inputs with their defaults), down to the command components,
// whose ${{inputs.X}} it replaces in the command. It returns the nodes by path, or what
// did not resolve (under s.mu).
func (s *Server) resolvePipelineJob(props map[string]any) (map[string]any, []string) {
	parent := map[string]any{}
	inputs, _ := props["inputs"].(map[string]any)
	for k, v := range inputs {
		in, _ := v.(map[string]any)
		if x, ok := in["value"]; ok {
			parent[k] = x
		} else if x, ok := in["uri"]; ok {
			parent[k] = x
		}
	}
	out := map[string]any{}
	var errs []string
	s.resolveNodes("", props["jobs"], parent, out, &errs)
	return out, errs
}

func (s *Server) resolveNodes(at string, jobs any, parent map[string]any, out map[string]any, errs *[]string) {
	nodes, _ := jobs.(map[string]any)
	for _, name := range sortedKeys(nodes) {
		n, _ := nodes[name].(map[string]any)
		path := at + name
		given := map[string]any{}
		ins, _ := n["inputs"].(map[string]any)
		for _, k := range sortedKeys(ins) {
			in, _ := ins[k].(map[string]any)
			v, ok := in["value"]
			if !ok {
				v = in["uri"]
			}
			str, _ := v.(string)
			m := binding.FindStringSubmatch(str)
			switch {
			case m == nil:
				given[k] = v
			case m[2] != "":
				pv, ok := parent[m[2]]
				if !ok {
					*errs = append(*errs, fmt.Sprintf("%s.inputs.%s: %s has no value in this job", path, k, m[0]))
					continue
				}
				given[k] = pv
			default:
				// An upstream node's output: a folder the runner mounts.
				given[k] = strings.TrimSuffix(strings.TrimPrefix(m[0], "${{parent."), "}}")
			}
		}
		id, _ := n["componentId"].(string)
		comp := s.componentSpec(strings.TrimPrefix(id, "azureml:"))
		// A component's input the node leaves unbound takes its default.
		decl, _ := comp["inputs"].(map[string]any)
		for _, k := range sortedKeys(decl) {
			d, _ := decl[k].(map[string]any)
			if _, ok := given[k]; !ok && d["default"] != nil {
				given[k] = d["default"]
			}
		}
		node := map[string]any{"type": n["type"], "inputs": given}
		switch t, _ := n["type"].(string); t {
		case "pipeline":
			s.resolveNodes(path+"/", comp["jobs"], given, out, errs)
		case "command":
			cmd, _ := comp["command"].(string)
			node["command"] = inputRef.ReplaceAllStringFunc(cmd, func(ref string) string {
				k := inputRef.FindStringSubmatch(ref)[1]
				v, ok := given[k]
				if !ok {
					*errs = append(*errs, fmt.Sprintf("%s: the command reads %s, which has no value", path, ref))
					return ""
				}
				return fmt.Sprint(v)
			})
		case "automl":
			for _, f := range []string{"training_data", "validation_data", "test_data"} {
				str, _ := n[f].(string)
				if m := binding.FindStringSubmatch(str); m != nil && m[2] != "" {
					pv, ok := parent[m[2]]
					if !ok {
						*errs = append(*errs, fmt.Sprintf("%s.%s: %s has no value in this job", path, f, m[0]))
					}
					given[f] = pv
				}
			}
		}
		out[path] = node
	}
}

// registerJobOutputs plays what Azure does when a pipeline job completes: each job output
// with an assetName that one of the job's nodes writes (binds to ${{parent.outputs.X}})
// is registered as the next version of that asset, a model for an mlflow_model output
// (under s.mu).
func (s *Server) registerJobOutputs(job string, props map[string]any) {
	outs, _ := props["outputs"].(map[string]any)
	written := map[string]bool{}
	nodes, _ := props["jobs"].(map[string]any)
	for _, n := range nodes {
		nouts, _ := n.(map[string]any)["outputs"].(map[string]any)
		for _, o := range nouts {
			v, _ := o.(map[string]any)["value"].(string)
			if m := binding.FindStringSubmatch(v); m != nil && m[5] != "" {
				written[m[5]] = true
			}
		}
	}
	for _, k := range sortedKeys(outs) {
		o, _ := outs[k].(map[string]any)
		name, _ := o["assetName"].(string)
		if name == "" || !written[k] || o["jobOutputType"] != "mlflow_model" {
			continue
		}
		version := 1
		prefix := s.key("models/"+name+"/versions") + "/"
		for key := range s.res {
			if rest, ok := strings.CutPrefix(key, prefix); ok {
				if n, err := strconv.Atoi(rest); err == nil && n >= version {
					version = n + 1
				}
			}
		}
		uri := "azureml://jobs/" + job + "/outputs/" + k
		sub := fmt.Sprintf("models/%s/versions/%d", name, version)
		s.res[s.key(sub)] = s.stored(sub, map[string]any{"properties": map[string]any{"modelType": "mlflow_model", "modelUri": uri, "jobName": job}})
	}
}
