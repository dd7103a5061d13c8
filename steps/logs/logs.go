// Package logs is the logs step kind: fetch an endpoint's request log (the
// stand-in for Azure's Webservice.get_logs()) into a file of the run, with
// its summary figures as the step's output.
package logs

import (
	"context"
	"errors"
	"fmt"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/server/reqlog"
	"github.com/mlflow-go/mlflow/internal/store"
)

// Config is the logs step's config; schema/cue/logs.cue declares the same
// fields.
type Config struct {
	// Endpoint is the deploy step's endpoint output.
	Endpoint artifact.Endpoint `json:"endpoint"`
	// Tail keeps only the last Tail requests (0: all).
	Tail int `json:"tail,omitempty"`
}

// Step implements the logs kind.
type Step struct{}

// New returns the logs kind.
func New() *Step { return &Step{} }

func (*Step) Kind() string    { return "logs" }
func (*Step) Version() string { return "1" }

// NoCache: the log grows between runs, so a cached copy would be stale.
func (*Step) NoCache() bool { return true }

func (*Step) Run(ctx context.Context, req *engine.Request) (engine.Outputs, error) {
	var c Config
	if err := req.Decode(&c); err != nil {
		return nil, err
	}
	name := c.Endpoint.Name
	if name == "" {
		return nil, errors.New("endpoint must be a deploy step's endpoint output (with a name)")
	}
	if c.Tail < 0 {
		return nil, fmt.Errorf("tail %d: want 0 or more", c.Tail)
	}
	if _, err := endpoints.Get(ctx, req.Store, name); err != nil {
		return nil, err
	}
	es, err := reqlog.Tail(endpoints.LogPath(req.Store, name), c.Tail)
	if err != nil {
		return nil, err
	}
	var b []byte
	for i := range es {
		b = reqlog.Append(b, &es[i])
	}
	p, err := req.Store.Path("runs", req.RunID, req.Step, "requests.jsonl")
	if err != nil {
		return nil, err
	}
	if err := store.WriteFileAtomic(p, b, 0o644); err != nil {
		return nil, err
	}
	sum := reqlog.Summarize(es)
	req.Logf("endpoint %s: %d requests, %d errors, p50 %.3f ms", name, sum.Count, sum.Errors, sum.P50MS)
	return engine.Outputs{"log": artifact.Log{
		Path: p, Endpoint: name, Count: sum.Count, Status: sum.Status, Errors: sum.Errors,
		Rows: sum.Rows, P50MS: sum.P50MS, P99MS: sum.P99MS, First: sum.First, Last: sum.Last,
	}}, nil
}
