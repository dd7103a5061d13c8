package engine

import (
	"context"
	"io"

	"github.com/mlflow-go/mlflow/internal/store"
)

// Actions a preview can predict for a step.
const (
	ActionCached    = "cached"    // a cache hit: will not run
	ActionRun       = "run"       // will run
	ActionReconcile = "reconcile" // side-effecting: compared with what exists, changed only if it differs
	ActionAlways    = "always"    // a measurement kind: never cached
)

// PlanEntry is what `mlflow plan` shows for one step.
type PlanEntry struct {
	Step   string   `json:"step"`
	Kind   string   `json:"kind"`
	Needs  []string `json:"needs"`
	Action string   `json:"action"`
	Reason string   `json:"reason,omitempty"`
	Key    string   `json:"cache_key,omitempty"`
}

// Preview predicts, without running anything, which steps the cache would
// skip. A step is a hit only if every upstream step is a hit too, because
// its key depends on what they produced.
func Preview(ctx context.Context, p *Plan, s *store.Store, opts Options) ([]PlanEntry, error) {
	if err := migrate(ctx, s); err != nil {
		return nil, err
	}
	outputs := map[string]Outputs{}
	entries := make([]PlanEntry, 0, len(p.Order))
	for _, name := range p.Order {
		n := p.Nodes[name]
		e := PlanEntry{Step: name, Kind: n.Step.Kind, Needs: append([]string{}, n.Deps...)}
		e.Action, e.Reason, e.Key = previewStep(ctx, p, s, n, outputs, opts)
		entries = append(entries, e)
	}
	return entries, nil
}

func previewStep(ctx context.Context, p *Plan, s *store.Store, n *Node, outputs map[string]Outputs, opts Options) (action, reason, key string) {
	if nc, ok := n.Kind.(NoCacher); ok && nc.NoCache() {
		return ActionAlways, "measurement: never cached", ""
	}
	if opts.NoCache {
		return ActionRun, "--no-cache", ""
	}
	if !n.Step.Cache {
		return ActionRun, "cache: false", ""
	}
	for _, d := range n.Deps {
		if _, ok := outputs[d]; !ok {
			return ActionRun, "upstream step " + d + " will run", ""
		}
	}
	if _, ok := n.Kind.(Reconciler); ok {
		return ActionReconcile, "compared with what is deployed", ""
	}
	deps := map[string]Outputs{}
	for _, d := range n.Deps {
		deps[d] = outputs[d]
	}
	cfg, err := Resolve(n.Step.Config, deps)
	if err != nil {
		return ActionRun, err.Error(), ""
	}
	req := &Request{Step: n.Step.Name, Kind: n.Step.Kind, Workflow: p.Workflow, Config: cfg, Store: s,
		Log: io.Discard, Progress: NopProgress{}, Parallel: opts.Parallel}
	key, err = cacheKey(ctx, n, req, cfg, opts.KeyDebug)
	if err != nil {
		return ActionRun, err.Error(), ""
	}
	outs, _, ok := cacheGet(ctx, s, key)
	if !ok {
		return ActionRun, "not in cache", key
	}
	outputs[n.Step.Name] = outs
	return ActionCached, "", key
}
