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
// skip, by the rules Run follows (policyOf, lookup). A step is a hit only
// if every upstream step is a hit too, because its key depends on what
// they produced. Unlike Run it restores nothing, so a hit that a kind's
// Restore would refuse (an exec output file that cannot be rewritten) is
// shown as cached.
func Preview(ctx context.Context, p *Plan, s *store.Store, opts Options) ([]PlanEntry, error) {
	if err := migrate(ctx, s); err != nil {
		return nil, err
	}
	outputs := map[string]Outputs{}
	cache := newEntries(ctx, s)
	defer cache.close()
	plan := make([]PlanEntry, 0, len(p.Order))
	for _, name := range p.Order {
		n := p.Nodes[name]
		e := PlanEntry{Step: name, Kind: n.Step.Kind, Needs: append([]string{}, n.Deps...)}
		e.Action, e.Reason, e.Key = previewStep(ctx, p, cache, n, outputs, opts)
		plan = append(plan, e)
	}
	return plan, nil
}

func previewStep(ctx context.Context, p *Plan, cache *entries, n *Node, outputs map[string]Outputs, opts Options) (action, reason, key string) {
	if pol := policyOf(n, opts.NoCache); pol.action != ActionCached {
		return pol.action, pol.reason, ""
	}
	for _, d := range n.Deps {
		if _, ok := outputs[d]; !ok {
			return ActionRun, "upstream step " + d + " will run", ""
		}
	}
	deps := make(map[string]Outputs, len(n.Deps))
	for _, d := range n.Deps {
		deps[d] = outputs[d]
	}
	cfg, err := Resolve(n.Step.Config, deps)
	if err != nil {
		return ActionRun, err.Error(), ""
	}
	req := &Request{Step: n.Step.Name, Kind: n.Step.Kind, Workflow: p.Workflow, Config: cfg, Store: cache.s,
		Log: io.Discard, Progress: NopProgress{}, Parallel: opts.Parallel}
	l, err := lookup(ctx, cache, n, req, opts.KeyDebug)
	if err != nil {
		return ActionRun, err.Error(), ""
	}
	if !l.hit() {
		return ActionRun, l.miss, l.key
	}
	outputs[n.Step.Name] = l.outs
	return ActionCached, "", l.key
}
