// Package deploy is the deploy step kind: put a model behind an
// authenticated REST endpoint of the local workspace server, starting the
// server when it is not running. Redeploying swaps the model atomically
// (no request fails); a deploy of what is already served does nothing.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/server"
	"github.com/mlflow-go/mlflow/internal/server/serve"
	"github.com/mlflow-go/mlflow/internal/store"
)

// Config is the deploy step's config; schema/cue/deploy.cue declares the
// same fields.
type Config struct {
	// Model is the automl step's model output ({"name", "version",
	// "digest", ...}) or a reference string: NAME, NAME:VERSION or a file.
	Model       any               `json:"model"`
	Name        string            `json:"name"`
	Auth        string            `json:"auth"` // "key" (default) | "none"
	Description string            `json:"description"`
	Tags        map[string]string `json:"tags"`
	// ClassicResponse is how /score answers {"data"}: "string" (Azure's
	// double-encoded answer, the default) or "object".
	ClassicResponse string `json:"classic_response"`
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
func (st *Step) desired(ctx context.Context, req *engine.Request) (*endpoints.Endpoint, any, error) {
	var c Config
	if err := req.Decode(&c); err != nil {
		return nil, nil, err
	}
	if c.Name == "" {
		c.Name = req.Step
	}
	// description is a common step field, kept out of Config by the loader.
	if c.Description == "" && req.Workflow != nil && req.Workflow.Steps[req.Step] != nil {
		c.Description = req.Workflow.Steps[req.Step].Description
	}
	if err := endpoints.ValidName(c.Name); err != nil {
		return nil, nil, fmt.Errorf("step %s: name: %w", req.Step, err)
	}
	switch c.Auth {
	case "":
		c.Auth = "key"
	case "key", "none":
	default:
		return nil, nil, fmt.Errorf("step %s: auth %q: want \"key\" or \"none\"", req.Step, c.Auth)
	}
	switch c.ClassicResponse {
	case "":
		c.ClassicResponse = serve.ClassicString
	case serve.ClassicString, serve.ClassicObject:
	default:
		return nil, nil, fmt.Errorf("step %s: classic_response %q: want \"string\" or \"object\"", req.Step, c.ClassicResponse)
	}
	var ref endpoints.ModelRef
	switch m := c.Model.(type) {
	case string:
		if m == "" {
			return nil, nil, fmt.Errorf("step %s: model is empty", req.Step)
		}
		ref.Name = m
		if name, v, ok := strings.Cut(m, ":"); ok && !strings.ContainsAny(m, `/\`) {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, nil, fmt.Errorf("step %s: model %q: version %q is not a number", req.Step, m, v)
			}
			ref.Name, ref.Version = name, n
		} else if strings.ContainsAny(m, `/\`) || strings.HasSuffix(m, ".json") {
			ref.Name, ref.Path = "", m
			if req.Workflow != nil && !strings.HasPrefix(m, "/") {
				ref.Path = req.Workflow.Dir + "/" + m
			}
		}
	case map[string]any:
		ref.Name, _ = m["name"].(string)
		ref.Digest, _ = m["digest"].(string)
		ref.Path, _ = m["path"].(string)
		switch v := m["version"].(type) {
		case float64:
			ref.Version = int(v)
		case int:
			ref.Version = v
		case int64:
			ref.Version = int(v)
		}
		if ref.Name == "" && ref.Path == "" {
			return nil, nil, fmt.Errorf("step %s: model: the model output has no name or path", req.Step)
		}
	case nil:
		return nil, nil, fmt.Errorf("step %s: model is required", req.Step)
	default:
		return nil, nil, fmt.Errorf("step %s: model must be a model output or a NAME[:VERSION] string, got %T", req.Step, c.Model)
	}
	e := &endpoints.Endpoint{
		Name: c.Name, Model: ref, Auth: c.Auth, Description: c.Description, Tags: c.Tags,
		ClassicResponse: c.ClassicResponse, State: endpoints.Running,
	}
	return e, c.Model, nil
}

func outputs(in *server.Info, e *endpoints.Endpoint, model any) engine.Outputs {
	base := in.EndpointURL(e.Name)
	if model == nil {
		model = e.Model
	}
	return engine.Outputs{"endpoint": map[string]any{
		"name":        e.Name,
		"scoring_uri": base + "/score",
		"swagger_uri": base + "/swagger.json",
		"openapi_uri": base + "/openapi.json",
		"model":       model,
	}}
}

// Reconcile leaves a running endpoint alone when it already serves the
// same model digest with the same config; description and tags are
// updated in place since they change no answer.
func (st *Step) Reconcile(ctx context.Context, req *engine.Request) (engine.Outputs, bool, error) {
	want, model, err := st.desired(ctx, req)
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
	return outputs(in, have, model), true, nil
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
	e, model, err := st.desired(ctx, req)
	if err != nil {
		return nil, err
	}
	// Load the model here first: a bad model fails this step with a clear
	// error instead of failing inside the server.
	m, err := st.load(ctx, req.Store, e.Model.Ref())
	if err != nil {
		return nil, fmt.Errorf("step %s: model %s: %w", req.Step, e.Model.Ref(), err)
	}
	if e.Model.Digest != "" && m.Digest() != e.Model.Digest {
		return nil, fmt.Errorf("step %s: model %s has digest %s, the model output says %s", req.Step, e.Model.Ref(), m.Digest(), e.Model.Digest)
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
			return nil, fmt.Errorf("step %s: %w", req.Step, err)
		}
	}
	if err := endpoints.Put(ctx, req.Store, e); err != nil {
		return nil, fmt.Errorf("step %s: %w", req.Step, err)
	}
	in, err := st.ensure(ctx, req.Store)
	if err != nil {
		return nil, fmt.Errorf("step %s: %w", req.Step, err)
	}
	if err := server.Admin(ctx, req.Store, in, "POST", "/admin/endpoints/"+e.Name+"/reload", nil); err != nil {
		return nil, fmt.Errorf("step %s: server %s: %w", req.Step, in.URL, err)
	}
	req.Logf("endpoint %s serves %s (%s) at %s", e.Name, e.Model.Ref(), short(e.Model.Digest), in.EndpointURL(e.Name)+"/score")
	return outputs(in, e, model), nil
}
