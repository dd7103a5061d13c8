package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema"
)

// cachePolicy is how the cache treats one step. Run and Preview both take
// it from policyOf, so `mlflow plan` says what `mlflow run` will do.
type cachePolicy struct {
	action string // ActionCached (look the key up), ActionReconcile, ActionRun or ActionAlways
	reason string // why the step runs whatever the cache holds
}

func policyOf(n *Node, noCache bool) cachePolicy {
	if nc, ok := n.Kind.(NoCacher); ok && nc.NoCache() {
		return cachePolicy{ActionAlways, "measurement: never cached"}
	}
	if noCache {
		return cachePolicy{ActionRun, "--no-cache"}
	}
	if !n.Step.Cache {
		return cachePolicy{ActionRun, "cache: false"}
	}
	if _, ok := n.Kind.(Reconciler); ok {
		// Its truth is the world (what is deployed), not a cache entry.
		return cachePolicy{ActionReconcile, "compared with what is deployed"}
	}
	return cachePolicy{ActionCached, ""}
}

// cacheLookup is what the cache holds for a step's key.
type cacheLookup struct {
	key  string
	outs Outputs   // set on a hit
	used time.Time // when the entry was last used
	miss string    // why it is not a hit
}

func (l cacheLookup) hit() bool { return l.miss == "" }

// lookup computes n's key and finds its entry. An entry is a hit only
// while the blobs its outputs name are present and whole: a workspace
// cleaned or damaged by hand must make the step run again, not hand a
// broken artifact downstream. The error is for a key that cannot be
// computed (an input that cannot be read, a timeout); anything wrong with
// the entry itself is a miss.
func lookup(ctx context.Context, e *entries, n *Node, req *Request, debugW io.Writer) (cacheLookup, error) {
	key, err := cacheKey(ctx, n, req, req.Config, debugW)
	if err != nil {
		return cacheLookup{}, err
	}
	l := cacheLookup{key: key}
	outs, used, ok := e.lookup(ctx, key)
	if !ok {
		l.miss = "not in cache"
		return l, nil
	}
	for _, d := range outputDigests(outs, nil) {
		if err := e.s.Verify(ctx, d); err != nil {
			if ctx.Err() != nil {
				return cacheLookup{}, context.Cause(ctx)
			}
			l.miss = "cached output " + err.Error()
			if errors.Is(err, store.ErrNotFound) {
				l.miss = "cached output blob " + d + " is missing"
			}
			return l, nil
		}
	}
	l.outs, l.used = outs, used
	return l, nil
}

// outputDigests collects every "digest" field holding a "sha256:..." value,
// at any depth. By convention such a field names a blob in the workspace (a
// dataset's columns, a model, a leaderboard, an exec output file); a kind
// must not use the name for a digest of something the store does not hold.
func outputDigests(v any, acc []string) []string {
	switch x := v.(type) {
	case Outputs:
		return outputDigests(map[string]any(x), acc)
	case map[string]any:
		for k, e := range x {
			if d, ok := e.(string); ok && k == "digest" && strings.HasPrefix(d, "sha256:") {
				acc = append(acc, d)
				continue
			}
			acc = outputDigests(e, acc)
		}
	case []any:
		for _, e := range x {
			acc = outputDigests(e, acc)
		}
	}
	return acc
}

func cacheKey(ctx context.Context, n *Node, req *Request, cfg map[string]any, debugW io.Writer) (string, error) {
	var b bytes.Buffer
	if err := keyLines(&b, n, cfg); err != nil {
		return "", err
	}
	if k, ok := n.Kind.(Keyer); ok {
		if err := k.Key(ctx, req, &b); err != nil {
			return "", fmt.Errorf("cache key: %w", err)
		}
	}
	key := hashKey(b.String())
	if debugW != nil {
		fmt.Fprintf(debugW, "cachehash %s %s:\n%s", n.Step.Name, key, b.String())
	}
	return key, nil
}

// StepKey is the cache key the engine would give kind run with req (req.Config already
// resolved): for conformance tests of step kinds, which must give equal keys for equal inputs.
func StepKey(ctx context.Context, kind Step, req *Request) (string, error) {
	n := &Node{Step: &schema.Step{Name: req.Step, Kind: req.Kind}, Kind: kind}
	return cacheKey(ctx, n, req, req.Config, nil)
}
