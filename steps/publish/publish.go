// Package publish is the publish step kind: it publishes some of the workflow's steps as a
// pipeline of the workspace server (docs/steps.md#publish), which runs it when a REST
// trigger or its schedule asks. What is published is a snapshot of the workflow's folder,
// by digest: an edit of the file changes nothing until it is published again. Publishing
// the same definition again does nothing; a changed one becomes the pipeline's next
// version, the one triggers run.
package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/pipelines"
	"github.com/mlflow-go/mlflow/internal/server"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema"
	"github.com/mlflow-go/mlflow/schema/load"
)

// Config is the publish step's config; schema/load/cue/publish.cue declares the same fields.
type Config struct {
	Name        string    `json:"name"`
	Steps       []string  `json:"steps"`
	Params      []string  `json:"params,omitempty"`
	Auth        string    `json:"auth,omitempty"` // "key" (default) | "none"
	Schedule    *Schedule `json:"schedule,omitempty"`
	Concurrency string    `json:"concurrency,omitempty"` // "queue" (default) | "skip"
}

// Schedule is the config's schedule: cron in timezone, or every.
type Schedule struct {
	Cron     string `json:"cron,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	Every    string `json:"every,omitempty"`
	Catchup  string `json:"catchup,omitempty"` // "none" (default) | "one"
}

// Step implements the publish kind.
type Step struct {
	// Ensure finds or starts the workspace server; tests swap in one running in process.
	// nil: server.Ensure.
	Ensure func(ctx context.Context, s *store.Store) (*server.Info, error)
	// Now is the publication time (a new schedule counts from it); nil: time.Now.
	Now func() time.Time
}

// New returns the publish kind.
func New() *Step { return &Step{} }

func (*Step) Kind() string    { return "publish" }
func (*Step) Version() string { return "1" }

func (st *Step) now() time.Time {
	if st.Now != nil {
		return st.Now()
	}
	return time.Now()
}

func (st *Step) ensure(ctx context.Context, s *store.Store) (*server.Info, error) {
	if st.Ensure != nil {
		return st.Ensure(ctx, s)
	}
	return server.Ensure(ctx, s)
}

// plan is a publication as the config asks for it, before its snapshot is stored.
type plan struct {
	def     pipelines.Definition
	dir     string // the snapshot's folder: the workflow's
	entries []pipelines.Entry
	exclude map[string]bool
}

func (st *Step) desired(ctx context.Context, req *engine.Request) (*plan, error) {
	var c Config
	if err := req.Decode(&c); err != nil {
		return nil, err
	}
	if err := pipelines.ValidName(c.Name); err != nil {
		return nil, fmt.Errorf("name: %w", err)
	}
	wf := req.Workflow
	if wf == nil || wf.File == "" {
		return nil, errors.New("publish needs the workflow's file: it publishes a snapshot of its folder")
	}
	rel, err := filepath.Rel(wf.Dir, wf.File)
	if err != nil || !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("workflow file %s is not in its folder %s", wf.File, wf.Dir)
	}
	if len(c.Steps) == 0 {
		return nil, errors.New("steps: name at least one step to publish")
	}
	steps, err := wf.Closure(c.Steps)
	if err != nil {
		return nil, fmt.Errorf("steps: %w", err)
	}
	for _, n := range steps {
		switch {
		case n == req.Step:
			return nil, fmt.Errorf("steps: a publish step cannot publish itself (a published step needs it)")
		case wf.Steps[n].Kind == "publish":
			return nil, fmt.Errorf("steps: %s is a publish step: a pipeline does not publish pipelines", n)
		}
	}
	def := pipelines.Definition{Name: c.Name, Workflow: wf.Name, File: filepath.ToSlash(rel), Steps: steps, Auth: c.Auth, Concurrency: c.Concurrency}
	if req.Workflow.Steps[req.Step] != nil {
		// description is a common step field, kept out of Config by the loader.
		def.Description = req.Workflow.Steps[req.Step].Description
	}
	switch def.Auth {
	case "":
		def.Auth = "key"
	case "key", "none":
	default:
		return nil, fmt.Errorf("auth %q: want \"key\" or \"none\"", c.Auth)
	}
	switch def.Concurrency {
	case "":
		def.Concurrency = "queue"
	case "queue", "skip":
	default:
		return nil, fmt.Errorf("concurrency %q: want \"queue\" or \"skip\"", c.Concurrency)
	}
	if c.Schedule != nil {
		sc := &pipelines.Schedule{Cron: c.Schedule.Cron, Timezone: c.Schedule.Timezone, Every: c.Schedule.Every, Catchup: c.Schedule.Catchup}
		switch sc.Catchup {
		case "":
			sc.Catchup = "none"
		case "none", "one":
		default:
			return nil, fmt.Errorf("schedule.catchup %q: want \"none\" or \"one\"", sc.Catchup)
		}
		if err := sc.Check(); err != nil {
			return nil, fmt.Errorf("schedule: %w", err)
		}
		def.Schedule = sc
	}
	for _, name := range c.Params {
		v, ok := wf.Params[name]
		if !ok {
			return nil, fmt.Errorf("params: the workflow has no param %q", name)
		}
		typ := paramType(v)
		if typ == "" {
			return nil, fmt.Errorf("params: %s is %T: a trigger can set string, number and boolean params only", name, v)
		}
		def.Params = append(def.Params, pipelines.Param{Name: name, Type: typ})
	}
	exclude := written(wf)
	entries, err := pipelines.Manifest(ctx, wf.Dir, req.Store.Root, exclude)
	if err != nil {
		return nil, err
	}
	def.Snapshot = pipelines.ManifestDigest(entries)
	return &plan{def: def, dir: wf.Dir, entries: entries, exclude: exclude}, nil
}

// written lists the files the workflow's exec steps declare as outputs, relative to its
// folder: a run writes them, maybe while publish takes its snapshot, so they are left out
// (else every run could publish a new version), and a pipeline's run writes its own.
func written(wf *schema.Workflow) map[string]bool {
	out := map[string]bool{}
	for _, st := range wf.Steps {
		if st.Kind != "exec" {
			continue
		}
		dir, _ := st.Config["dir"].(string)
		list, _ := st.Config["outputs"].([]any)
		for _, o := range list {
			p, ok := o.(string)
			if !ok || filepath.IsAbs(p) || filepath.IsAbs(dir) {
				continue
			}
			if rel := filepath.Join(dir, p); filepath.IsLocal(rel) {
				out[filepath.ToSlash(rel)] = true
			}
		}
	}
	return out
}

func paramType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int, int64:
		return "integer"
	case float64:
		return "number"
	case bool:
		return "boolean"
	}
	return ""
}

// defaults fills each param's default from the snapshot's own file: a -p given to the
// publishing run is not what later triggers get.
func defaults(req *engine.Request, p *plan) error {
	if len(p.def.Params) == 0 {
		return nil
	}
	var digest string
	for _, e := range p.entries {
		if e.Path == p.def.File {
			digest = e.Digest
		}
	}
	src, err := req.Store.Get(digest)
	if err != nil {
		return fmt.Errorf("snapshot of %s: %w", p.def.File, err)
	}
	wf, err := load.Bytes(req.Workflow.File, src, load.Options{})
	if err != nil {
		return fmt.Errorf("the workflow file changed while it was published: %w", err)
	}
	for i := range p.def.Params {
		p.def.Params[i].Default = wf.Params[p.def.Params[i].Name]
	}
	return nil
}

// Key adds the snapshot: an edit of any file of the folder is a new publication.
func (st *Step) Key(ctx context.Context, req *engine.Request, w io.Writer) error {
	if req.Workflow == nil || req.Workflow.Dir == "" {
		return nil
	}
	entries, err := pipelines.Manifest(ctx, req.Workflow.Dir, req.Store.Root, written(req.Workflow))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "snapshot %s\n", pipelines.ManifestDigest(entries))
	return err
}

// Reconcile leaves a pipeline alone when its newest version has the same definition and
// the server runs; only a changed description is written.
func (st *Step) Reconcile(ctx context.Context, req *engine.Request) (engine.Outputs, bool, error) {
	p, err := st.desired(ctx, req)
	if err != nil {
		return nil, false, err
	}
	have, err := pipelines.Get(ctx, req.Store, p.def.Name)
	if errors.Is(err, pipelines.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if !req.Store.Has(p.def.Snapshot) {
		return nil, false, nil
	}
	if err := defaults(req, p); err != nil {
		return nil, false, nil // Run stores the snapshot again and says what is wrong
	}
	if have.Digest() != p.def.Digest() {
		return nil, false, nil
	}
	if p.def.Auth == "key" {
		if _, err := pipelines.ReadKeys(req.Store, p.def.Name); err != nil {
			return nil, false, nil
		}
	}
	in, err := server.Find(ctx, req.Store)
	if err != nil {
		return nil, false, nil
	}
	got, _, err := pipelines.Publish(ctx, req.Store, p.def, st.now())
	if err != nil {
		return nil, false, err
	}
	req.Logf("pipeline %s version %d is already published: left alone", got.Name, got.Version)
	return outputs(in, got), true, nil
}

// Run stores the snapshot, records the definition (a new version when it changed), makes
// the keys and has the server read its schedules again.
func (st *Step) Run(ctx context.Context, req *engine.Request) (engine.Outputs, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := st.desired(ctx, req)
	if err != nil {
		return nil, err
	}
	digest, err := pipelines.Snapshot(ctx, req.Store, p.dir, p.exclude)
	if err != nil {
		return nil, err
	}
	if digest != p.def.Snapshot {
		return nil, errors.New("the workflow's folder changed while it was published: publish again")
	}
	if err := defaults(req, p); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p.def.Auth == "key" {
		if _, err := pipelines.EnsureKeys(req.Store, p.def.Name); err != nil {
			return nil, err
		}
	}
	got, added, err := pipelines.Publish(ctx, req.Store, p.def, st.now())
	if err != nil {
		return nil, err
	}
	in, err := st.ensure(ctx, req.Store)
	if err != nil {
		return nil, err
	}
	if err := server.Admin(ctx, req.Store, in, "POST", "/admin/pipelines/reload", nil); err != nil {
		return nil, fmt.Errorf("server %s: %w", in.URL, err)
	}
	if added {
		req.Logf("pipeline %s version %d published (%d steps, snapshot %s)", got.Name, got.Version, len(got.Steps), short(got.Snapshot))
	} else {
		req.Logf("pipeline %s version %d is already published", got.Name, got.Version)
	}
	return outputs(in, got), nil
}

func outputs(in *server.Info, p *pipelines.Pipeline) engine.Outputs {
	return engine.Outputs{"pipeline": artifact.Pipeline{
		Name:       p.Name,
		Version:    p.Version,
		TriggerURI: in.PipelineURL(p.Name) + "/runs",
		Schedule:   p.Schedule.String(),
	}}
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
