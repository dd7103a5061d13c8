package azureml

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/azure"
	"github.com/mlflow-go/mlflow/internal/store"
)

// A dry run executes each step's own code against dryDoer, which sends
// nothing: it hands every request to a callback and answers as a
// workspace holding none of what the workflow creates would, values known
// only at run time written as ${{ ... }} placeholders. So what --dry-run
// prints is what a run sends, by construction, not a second description
// of it that could drift.

type dryDoer struct {
	ws   azure.Workspace
	seen func(azure.Request)
	put  map[string]map[string]any // what was PUT, by URL without query
}

func placeholder(s string) string { return "${{ " + s + " }}" }

func (d *dryDoer) Do(ctx context.Context, r azure.Request, out any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.seen(r)
	u := stripQuery(r.URL)
	var answer any
	switch {
	case r.Method == "PUT":
		m := map[string]any{}
		if b, ok := r.Body.(map[string]any); ok {
			for k, v := range b {
				m[k] = v
			}
		}
		d.put[u] = m
		answer = withState(m, u)
	case r.Method == "GET" && d.put[u] != nil:
		answer = withState(d.put[u], u)
	case r.Method == "GET" && u == stripQuery(d.ws.URL("")):
		answer = map[string]any{"location": placeholder("workspace.location")}
	case r.Method == "GET" && strings.HasSuffix(u, "/datastores"):
		answer = map[string]any{"value": []any{map[string]any{"name": placeholder("datastore"), "properties": map[string]any{
			"datastoreType": "AzureBlob", "accountName": placeholder("datastore.account"),
			"containerName": placeholder("datastore.container"), "endpoint": "core.windows.net", "protocol": "https"}}}}
	case r.Method == "GET" && strings.Contains(u, ".blob."):
		answer = map[string]any{}
	case r.Method == "GET":
		return &azure.Error{Status: http.StatusNotFound, Code: "ResourceNotFound", Message: "dry run: assumed absent", Method: r.Method, URL: r.URL}
	default:
		answer = map[string]any{}
	}
	if out == nil {
		return nil
	}
	b, err := json.Marshal(answer)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// withState is a created resource as Azure shows it once it is ready.
func withState(body map[string]any, u string) map[string]any {
	m := map[string]any{}
	for k, v := range body {
		m[k] = v
	}
	props := map[string]any{}
	if p, ok := m["properties"].(map[string]any); ok {
		for k, v := range p {
			props[k] = v
		}
	}
	if strings.Contains(u, "/jobs/") {
		props["status"] = "Completed"
	} else {
		props["provisioningState"] = "Succeeded"
	}
	if strings.Contains(u, "/onlineEndpoints/") || strings.Contains(u, "/batchEndpoints/") {
		name := u[strings.LastIndex(u, "/")+1:]
		props["scoringUri"] = placeholder("endpoint " + name + " scoringUri")
	}
	m["properties"] = props
	return m
}

// DryRunLine is one request as --dry-run prints it.
type DryRunLine struct {
	Step   string `json:"step"`
	Method string `json:"method"`
	URL    string `json:"url"`
	Body   any    `json:"body,omitempty"`
}

func lineOf(r azure.Request) DryRunLine {
	l := DryRunLine{Step: r.Step, Method: r.Method, URL: r.URL, Body: r.Body}
	if b, ok := r.Body.([]byte); ok {
		if utf8.Valid(b) && len(b) <= 4096 {
			l.Body = string(b)
		} else {
			l.Body = fmt.Sprintf("${{ %d bytes, %s }}", len(b), store.Digest(b))
		}
	}
	return l
}

// DryRun goes through the plan's steps in order as a run on target azureml
// would, against a workspace without any of the workflow's resources, and
// calls seen with every request, sending none. No credential is needed.
func DryRun(ctx context.Context, p *engine.Plan, s Settings, seen func(azure.Request)) error {
	env := &Env{Settings: s, dry: true}
	env.doer = &dryDoer{ws: s.Workspace, seen: seen, put: map[string]map[string]any{}}
	env.made = true
	outputs := map[string]engine.Outputs{}
	for _, name := range p.Order {
		n := p.Nodes[name]
		var k *kind
		switch x := n.Kind.(type) {
		case *kind:
			k = x
		case *reconcilingKind:
			k = &x.kind
		case *measuringKind:
			k = &x.kind
		default:
			return fmt.Errorf("step %s: kind %s is not an azureml kind", name, n.Step.Kind)
		}
		cfg, err := engine.Resolve(n.Step.Config, outputs)
		if err != nil {
			return fmt.Errorf("step %s: %w", name, err)
		}
		req := &engine.Request{RunID: placeholder("run"), Step: name, Kind: n.Step.Kind, Workflow: p.Workflow, Config: cfg, Log: io.Discard}
		c := &call{Env: env, req: req, doer: env.doer, step: name}
		outs, err := k.run(ctx, c)
		if err != nil {
			return fmt.Errorf("step %s: %w", name, err)
		}
		outputs[name] = outs
	}
	return nil
}

// WriteDryRun prints DryRun's requests as JSON lines.
func WriteDryRun(ctx context.Context, p *engine.Plan, s Settings, w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var werr error
	err := DryRun(ctx, p, s, func(r azure.Request) {
		if werr == nil {
			werr = enc.Encode(lineOf(r))
		}
	})
	if err != nil {
		return err
	}
	return werr
}

// Change is one Azure resource a step creates or changes.
type Change struct {
	Method string `json:"method"`
	// Resource is the path under the workspace ("onlineEndpoints/bank"),
	// or a blob's URL.
	Resource string `json:"resource"`
}

// Changes lists, per step, the resources a run would create or change
// (PUTs and DELETEs; reads, key listings and scoring calls are left out),
// each once, in the order they would be sent.
func Changes(ctx context.Context, p *engine.Plan, s Settings) (map[string][]Change, error) {
	out := map[string][]Change{}
	seen := map[string]bool{}
	base := stripQuery(s.Workspace.URL(""))
	err := DryRun(ctx, p, s, func(r azure.Request) {
		if r.Method != "PUT" && r.Method != "DELETE" {
			return
		}
		res := strings.TrimPrefix(strings.TrimPrefix(stripQuery(r.URL), base), "/")
		k := r.Step + " " + r.Method + " " + res
		if seen[k] {
			return
		}
		seen[k] = true
		out[r.Step] = append(out[r.Step], Change{Method: r.Method, Resource: res})
	})
	return out, err
}
