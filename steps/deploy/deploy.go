// Package deploy is the deploy step kind: put a model behind an
// authenticated REST endpoint of the local workspace server, starting the
// server when it is not running. Redeploying swaps the model atomically
// (no request fails); a deploy of what is already served does nothing.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/models"
	"github.com/mlflow-go/mlflow/internal/server"
	"github.com/mlflow-go/mlflow/internal/server/serve"
	"github.com/mlflow-go/mlflow/internal/store"
)

// Config is the deploy step's config; schema/load/cue/deploy.cue declares
// the same fields.
type Config struct {
	// Model is the automl step's model output, or a string: NAME,
	// NAME:VERSION or a model file relative to the workflow.
	Model artifact.ModelRef `json:"model"`
	Name  string            `json:"name"`
	Auth  string            `json:"auth,omitempty"` // "key" (default) | "none"
	Tags  map[string]string `json:"tags,omitempty"`
	// ClassicResponse is how /score answers {"data"}: "string" (Azure's
	// double-encoded answer, the default) or "object".
	ClassicResponse string `json:"classic_response,omitempty"`
	// StrictColumns refuses requests with columns the model does not have.
	StrictColumns bool `json:"strict_columns,omitempty"`
}

// Step implements the deploy kind.
type Step struct {
	// Load resolves a model; tests swap in a fake. nil: the registry.
	Load func(ctx context.Context, s *store.Store, ref string) (serve.Model, error)
	// Ensure finds or starts the workspace server; tests swap in one
	// running in process. nil: server.Ensure.
	Ensure func(ctx context.Context, s *store.Store) (*server.Info, error)
}

// New returns the deploy kind.
func New() *Step { return &Step{} }

func (*Step) Kind() string    { return "deploy" }
func (*Step) Version() string { return "1" }

func (st *Step) load(ctx context.Context, s *store.Store, ref string) (serve.Model, error) {
	if st.Load != nil {
		return st.Load(ctx, s, ref)
	}
	m, _, _, err := server.LoadModel(ctx, s, ref)
	return m, err
}

func (st *Step) ensure(ctx context.Context, s *store.Store) (*server.Info, error) {
	if st.Ensure != nil {
		return st.Ensure(ctx, s)
	}
	return server.Ensure(ctx, s)
}

// desired reads the config into the endpoint record it asks for.
func (st *Step) desired(ctx context.Context, req *engine.Request) (*endpoints.Endpoint, error) {
	var c Config
	if err := req.Decode(&c); err != nil {
		return nil, err
	}
	if c.Model.IsZero() {
		return nil, errors.New("model: required (a model output or NAME[:VERSION])")
	}
	if err := endpoints.ValidName(c.Name); err != nil {
		return nil, fmt.Errorf("name: %w", err)
	}
	switch c.Auth {
	case "":
		c.Auth = "key"
	case "key", "none":
	default:
		return nil, fmt.Errorf("auth %q: want \"key\" or \"none\"", c.Auth)
	}
	switch c.ClassicResponse {
	case "":
		c.ClassicResponse = serve.ClassicString
	case serve.ClassicString, serve.ClassicObject:
	default:
		return nil, fmt.Errorf("classic_response %q: want \"string\" or \"object\"", c.ClassicResponse)
	}
	var ref endpoints.ModelRef
	if m := c.Model.Output; m != nil {
		ref = endpoints.ModelRef{Name: m.Name, Version: m.Version, Digest: m.Digest, Path: m.Path}
	} else if models.IsFileRef(c.Model.Ref) {
		ref.Path = c.Model.Ref
		if req.Workflow != nil && !filepath.IsAbs(ref.Path) {
			ref.Path = filepath.Join(req.Workflow.Dir, ref.Path)
		}
	} else {
		name, version, err := models.ParseRef(c.Model.Ref)
		if err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
		ref.Name, ref.Version = name, version
	}
	var description string
	if req.Workflow != nil && req.Workflow.Steps[req.Step] != nil {
		// description is a common step field, kept out of Config by the loader.
		description = req.Workflow.Steps[req.Step].Description
	}
	return &endpoints.Endpoint{
		Name: c.Name, Model: ref, Auth: c.Auth, Description: description, Tags: c.Tags,
		ClassicResponse: c.ClassicResponse, StrictColumns: c.StrictColumns, State: endpoints.Running,
	}, nil
}

func outputs(in *server.Info, e *endpoints.Endpoint) engine.Outputs {
	base := in.EndpointURL(e.Name)
	return engine.Outputs{"endpoint": artifact.Endpoint{
		Name:       e.Name,
		ScoringURI: base + "/score",
		SwaggerURI: base + "/swagger.json",
		OpenAPIURI: base + "/openapi.json",
		DocsURI:    base + "/docs/",
		Model:      e.Model.Ref(),
	}}
}

// Reconcile leaves a running endpoint alone when it already serves the
// same model digest with the same config; description and tags are
// updated in place since they change no answer.
func (st *Step) Reconcile(ctx context.Context, req *engine.Request) (engine.Outputs, bool, error) {
	want, err := st.desired(ctx, req)
	if err != nil {
		return nil, false, err
	}
	if want.Model.Digest == "" {
		return nil, false, nil // a bare reference: resolve it in Run
	}
	have, err := endpoints.Get(ctx, req.Store, want.Name)
	if errors.Is(err, endpoints.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if have.State != endpoints.Running || have.ConfigDigest() != want.ConfigDigest() {
		return nil, false, nil
	}
	in, err := server.Find(ctx, req.Store)
	if err != nil {
		return nil, false, nil
	}
	var status struct {
		Endpoints []server.EndpointStatus `json:"endpoints"`
	}
	if err := server.Admin(ctx, req.Store, in, "GET", "/admin/status", &status); err != nil {
		return nil, false, nil
	}
	serving := false
	for _, e := range status.Endpoints {
		if e.Name == want.Name && e.Digest == want.Model.Digest && e.State == endpoints.Running {
			serving = true
		}
	}
	if !serving {
		return nil, false, nil
	}
	if have.Description != want.Description || !sameTags(have.Tags, want.Tags) {
		have.Description, have.Tags = want.Description, want.Tags
		if err := endpoints.Put(ctx, req.Store, have); err != nil {
			return nil, false, err
		}
	}
	req.Logf("endpoint %s already serves %s (%s): left alone", want.Name, want.Model.Ref(), short(want.Model.Digest))
	return outputs(in, have), true, nil
}

func sameTags(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

// Run records the endpoint, makes sure the server runs and has it load the
// model; the server swaps models atomically.
func (st *Step) Run(ctx context.Context, req *engine.Request) (engine.Outputs, error) {
	e, err := st.desired(ctx, req)
	if err != nil {
		return nil, err
	}
	// Load the model here first: a bad model fails this step with a clear
	// error instead of failing inside the server.
	m, err := st.load(ctx, req.Store, e.Model.Ref())
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", e.Model.Ref(), err)
	}
	if e.Model.Digest != "" && m.Digest() != e.Model.Digest {
		return nil, fmt.Errorf("model %s has digest %s, the model output says %s", e.Model.Ref(), m.Digest(), e.Model.Digest)
	}
	e.Model.Digest = m.Digest()
	if e.Model.Name == "" {
		e.Model.Name = m.Name()
	}
	if e.Model.Version == 0 && e.Model.Path == "" {
		e.Model.Version = m.Version()
	}
	if old, err := endpoints.Get(ctx, req.Store, e.Name); err == nil {
		e.Created = old.Created
	}
	if e.Auth == "key" {
		if _, err := endpoints.EnsureKeys(req.Store, e.Name); err != nil {
			return nil, err
		}
	}
	if err := endpoints.Put(ctx, req.Store, e); err != nil {
		return nil, err
	}
	in, err := st.ensure(ctx, req.Store)
	if err != nil {
		return nil, err
	}
	if err := server.Admin(ctx, req.Store, in, "POST", "/admin/endpoints/"+e.Name+"/reload", nil); err != nil {
		return nil, fmt.Errorf("server %s: %w", in.URL, err)
	}
	req.Logf("endpoint %s serves %s (%s) at %s", e.Name, e.Model.Ref(), short(e.Model.Digest), in.EndpointURL(e.Name)+"/score")
	return outputs(in, e), nil
}
