// Package engine plans a workflow as a DAG and executes it: bounded
// parallelism, retries, timeouts, cancellation and a content-addressed cache.
// It knows nothing about what a step kind does.
package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema"
)

// Step is a step kind. Implementations live in steps/<kind>.
type Step interface {
	Kind() string
	// Version is part of every cache key: bump it when equal inputs would
	// now give different outputs.
	Version() string
	Run(ctx context.Context, req *Request) (Outputs, error)
}

// Keyer adds inputs the config alone does not capture (the digest of a
// local file a step reads, say) to the step's cache key. Write labelled
// lines ("file data.csv sha256:...\n").
type Keyer interface {
	Key(ctx context.Context, req *Request, w io.Writer) error
}

// Reconciler is for side-effecting kinds (deploy, publish). Instead of a
// cache lookup the engine calls Reconcile; ok=true means the world already
// matches the config and outs describe it, so Run is not called.
type Reconciler interface {
	Reconcile(ctx context.Context, req *Request) (outs Outputs, ok bool, err error)
}

// NoCacher marks kinds whose results must never be cached (measurements).
type NoCacher interface {
	NoCache() bool
}

// Outputs maps output names to JSON-able values (shapes: docs/steps.md#output-types).
type Outputs map[string]any

// Request is everything a step gets. It is a struct so it can grow.
type Request struct {
	RunID    string
	Step     string           // step name
	Kind     string           // step kind
	Workflow *schema.Workflow // the whole workflow (Dir resolves relative paths)
	// Config is the step's kind-specific config with every reference
	// replaced by the upstream output value.
	Config   map[string]any
	Store    *store.Store
	Log      io.Writer // the step's log, kept with the run
	Progress Progress
	// scratch is created by TempDir on first use: most steps never need
	// one, and a mkdir is not free on every file system.
	scratch, scratchRoot string
	// Parallel is the run's --parallel value; CPU-heavy kinds size their
	// worker pools from it.
	Parallel int
}

// Decode fills v (a pointer to the kind's config struct) from Config,
// strictly: a field v does not declare is an error, so a config and its
// schema that drifted apart fail loudly instead of dropping a setting. The
// error names the field, not the step: the engine adds the step once.
func (r *Request) Decode(v any) error {
	b, err := json.Marshal(r.Config)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := artifact.Decode(b, v); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// TempDir returns a private scratch directory, created on first call and
// removed after the step.
func (r *Request) TempDir() (string, error) {
	if r.scratch == "" {
		root := r.scratchRoot
		if root == "" {
			root = os.TempDir()
		}
		d, err := os.MkdirTemp(root, "step-"+r.Step+"-")
		if err != nil {
			return "", err
		}
		r.scratch = d
	}
	return r.scratch, nil
}

// Logf writes one line to the step's log.
func (r *Request) Logf(format string, args ...any) {
	if r.Log != nil {
		fmt.Fprintf(r.Log, format+"\n", args...)
	}
}

// Progress reports long work. Implementations must be cheap and safe for
// concurrent use; the CLI draws a bar on a terminal and ignores it otherwise.
type Progress interface {
	// Update reports done out of total (any unit) and a short status.
	Update(done, total float64, status string)
}

// NopProgress discards progress.
type NopProgress struct{}

func (NopProgress) Update(float64, float64, string) {}

// Restorer is for kinds whose outputs also live outside the workspace
// (exec's output files). On a cache hit the engine calls Restore so the
// world looks as if the step had run; an error turns the hit into a miss.
type Restorer interface {
	Restore(ctx context.Context, req *Request, outs Outputs) error
}
