package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/mlflow-go/mlflow/schema"
)

// Plan is a workflow's DAG with each step bound to its kind.
type Plan struct {
	Workflow *schema.Workflow
	Nodes    map[string]*Node
	// Order is a topological order, ties broken by name, so that plans and
	// logs read the same on every run.
	Order []string
}

// Node is one step in the plan.
type Node struct {
	Step       *schema.Step
	Kind       Step
	Deps       []string // sorted
	Dependents []string // sorted
}

// Registry maps kind names to implementations.
type Registry map[string]Step

// NewRegistry indexes kinds by name.
func NewRegistry(kinds ...Step) Registry {
	r := Registry{}
	for _, k := range kinds {
		r[k.Kind()] = k
	}
	return r
}

// NewPlan builds the DAG. The schema has already rejected cycles and
// dangling references; they are checked again because a Workflow can be
// built by hand (tests, the pipeline trigger).
func NewPlan(wf *schema.Workflow, reg Registry) (*Plan, error) {
	if err := CheckTarget(wf); err != nil {
		return nil, err
	}
	if err := checkRegistry(wf, reg); err != nil {
		return nil, err
	}
	p := &Plan{Workflow: wf, Nodes: map[string]*Node{}}
	names := make([]string, 0, len(wf.Steps))
	for name := range wf.Steps {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		st := wf.Steps[name]
		if st == nil {
			return nil, fmt.Errorf("workflow %s: step %q has no definition", wf.File, name)
		}
		k, ok := reg[st.Kind]
		if !ok {
			built := make([]string, 0, len(reg))
			for k := range reg {
				built = append(built, k)
			}
			sort.Strings(built)
			return nil, &schema.Error{Pos: st.Pos, Path: "steps." + name + ".kind",
				Msg: fmt.Sprintf("step kind %q is not built into this mlflow yet (built in: %s)", st.Kind, strings.Join(built, ", "))}
		}
		p.Nodes[name] = &Node{Step: st, Kind: k}
	}
	for _, name := range names {
		n := p.Nodes[name]
		seen := map[string]bool{}
		for _, d := range n.Step.Needs {
			if _, ok := p.Nodes[d]; !ok {
				return nil, &schema.Error{Pos: n.Step.Pos, Path: "steps." + name, Msg: fmt.Sprintf("depends on step %q, which does not exist", d)}
			}
			if !seen[d] {
				seen[d] = true
				n.Deps = append(n.Deps, d)
				p.Nodes[d].Dependents = append(p.Nodes[d].Dependents, name)
			}
		}
		sort.Strings(n.Deps)
	}
	for _, n := range p.Nodes {
		sort.Strings(n.Dependents)
	}
	// Kahn's algorithm, always taking the smallest ready name.
	indeg := map[string]int{}
	var ready []string
	for _, name := range names {
		indeg[name] = len(p.Nodes[name].Deps)
		if indeg[name] == 0 {
			ready = append(ready, name)
		}
	}
	for len(ready) > 0 {
		sort.Strings(ready)
		name := ready[0]
		ready = ready[1:]
		p.Order = append(p.Order, name)
		for _, d := range p.Nodes[name].Dependents {
			if indeg[d]--; indeg[d] == 0 {
				ready = append(ready, d)
			}
		}
	}
	if len(p.Order) != len(names) {
		var left []string
		for _, name := range names {
			if indeg[name] > 0 {
				left = append(left, name)
			}
		}
		return nil, &schema.Error{Pos: wf.Steps[left[0]].Pos, Msg: "dependency cycle among steps " + strings.Join(left, ", ")}
	}
	return p, nil
}

// Resolve replaces every Ref and Template in a step's config with the
// upstream outputs. A reference to an output that is missing is an error:
// the step kind broke its declared contract.
func Resolve(cfg map[string]any, outputs map[string]Outputs) (map[string]any, error) {
	v, err := resolveValue(cfg, outputs)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

func resolveValue(v any, outputs map[string]Outputs) (any, error) {
	switch x := v.(type) {
	case schema.Ref:
		return lookupRef(x, outputs)
	case *schema.Ref:
		return lookupRef(*x, outputs)
	case schema.Template:
		var b strings.Builder
		for _, part := range x.Parts {
			switch p := part.(type) {
			case string:
				b.WriteString(p)
			case schema.Ref:
				val, err := lookupRef(p, outputs)
				if err != nil {
					return nil, err
				}
				if s, ok := val.(string); ok {
					b.WriteString(s)
				} else {
					js, _ := json.Marshal(val)
					b.Write(js)
				}
			}
		}
		return b.String(), nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := resolveValue(e, outputs)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := resolveValue(e, outputs)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	default:
		return v, nil
	}
}

func lookupRef(r schema.Ref, outputs map[string]Outputs) (any, error) {
	outs, ok := outputs[r.Step]
	if !ok {
		return nil, fmt.Errorf("%s: step %s has no outputs", r, r.Step)
	}
	v, ok := outs[r.Output]
	if !ok {
		return nil, fmt.Errorf("%s: step %s did not produce output %q", r, r.Step, r.Output)
	}
	return v, nil
}

// keyLines writes the labelled lines a step's cache key hashes, in the
// go command's style: plain text, so a key can be printed and diffed
// (MLFLOW_DEBUG=cachehash).
func keyLines(w io.Writer, n *Node, cfg map[string]any) error {
	// The step name is part of the key, unlike the go command's action IDs:
	// kinds may derive names from it (a dataset registers under its step
	// name by default), so two identically configured steps are not one.
	fmt.Fprintf(w, "step %s\n", n.Step.Name)
	fmt.Fprintf(w, "kind %s\n", n.Step.Kind)
	fmt.Fprintf(w, "version %s\n", n.Kind.Version())
	js, err := canonicalJSON(cfg)
	if err != nil {
		return fmt.Errorf("config is not serialisable: %w", err)
	}
	fmt.Fprintf(w, "config %s\n", js)
	return nil
}

// canonicalJSON encodes v with every object's keys sorted. Upstream outputs
// reach a config as Go structs (fields in declaration order) after a run and
// as maps (keys sorted) after a cache hit; both must key alike, so v is
// decoded into generic values and encoded again, which sorts every object.
func canonicalJSON(v any) ([]byte, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var g any
	if err := json.Unmarshal(js, &g); err != nil {
		return nil, err
	}
	return json.Marshal(g)
}

// hashKey turns key lines into "sha256:<hex>".
func hashKey(lines string) string {
	sum := sha256.Sum256([]byte(lines))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// CheckTarget refuses a target this mlflow cannot run on: running such a
// workflow locally instead would report success for work never done where
// the file asks for it. "azureml" runs with the kinds of
// internal/azure/azureml, which cmd/mlflow chooses for it.
func CheckTarget(wf *schema.Workflow) error {
	switch wf.Target {
	case "", "local", "azureml":
		return nil
	}
	return &schema.Error{Pos: wf.TargetPos, Path: "target",
		Msg: fmt.Sprintf("target %q is not built into this mlflow; targets: local, azureml", wf.Target)}
}
