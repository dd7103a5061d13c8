// Package azureml runs a workflow's steps on Azure Machine Learning: each
// step kind becomes the ARM (and Blob Storage, and scoring) requests of
// docs/azureml.md, sent through an azure.Doer, and answers with the same
// typed outputs (internal/artifact) as the local kinds, so a workflow reads
// the same on either target.
//
// The kinds are engine.Steps: the engine plans, caches and runs them as it
// does the local ones; cmd/mlflow picks them for target azureml. Their cache
// keys carry the target and the workspace, so a local result (or another
// workspace's) is never taken for this one's.
package azureml

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/azure"
)

// Env is what every azureml kind of one run shares.
type Env struct {
	Settings
	// Doer sends the requests. It is made on first use (NewDoer), so that
	// planning and --dry-run need no credential.
	NewDoer func() (azure.Doer, error)
	// Poll is the wait between two GETs of a running job (default 15s).
	Poll time.Duration
	// HTTP calls scoring endpoints for benchmark (nil: a client with a
	// 60s timeout). consume and logs go through the Doer.
	HTTP *http.Client
	// Now is the clock (tests).
	Now func() time.Time

	dry bool
	// mu guards the client, made once for the steps that run at once.
	mu   sync.Mutex
	doer azure.Doer
	err  error
	made bool
}

func (e *Env) getDoer() (azure.Doer, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.made {
		e.made = true
		if e.NewDoer == nil {
			e.err = errors.New("azureml: no client configured")
		} else {
			e.doer, e.err = e.NewDoer()
		}
	}
	return e.doer, e.err
}

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Env) poll() time.Duration {
	if e.Poll > 0 {
		return e.Poll
	}
	return 15 * time.Second
}

// Kinds returns the azureml implementation of every step kind.
func Kinds(env *Env) []engine.Step {
	return []engine.Step{
		&kind{env: env, name: "dataset", run: runDataset, key: keyDataset},
		&kind{env: env, name: "automl", run: runAutoML},
		&kind{env: env, name: "evaluate", run: runEvaluate},
		&reconcilingKind{kind{env: env, name: "deploy", run: runDeploy}, reconcileDeploy},
		&kind{env: env, name: "consume", run: runConsume, key: keyConsume},
		&measuringKind{kind{env: env, name: "logs", run: runLogs}},
		&measuringKind{kind{env: env, name: "benchmark", run: runBenchmark}},
		&kind{env: env, name: "exec", run: runExec},
		&reconcilingKind{kind{env: env, name: "publish", run: runPublish}, reconcilePublish},
	}
}

// kind is one step kind on Azure.
type kind struct {
	env  *Env
	name string
	run  func(ctx context.Context, c *call) (engine.Outputs, error)
	key  func(ctx context.Context, req *engine.Request, w io.Writer) error
}

func (k *kind) Kind() string   { return k.name }
func (k *kind) Target() string { return "azureml" }

// Version is part of every cache key; "azureml-" keeps it apart from the
// local kinds' versions as well.
func (k *kind) Version() string { return "azureml-1" }

// Key puts the workspace into the cache key: the same config on another
// workspace (or locally) is other work.
func (k *kind) Key(ctx context.Context, req *engine.Request, w io.Writer) error {
	fmt.Fprintf(w, "target azureml\nworkspace %s%s\n", strings.TrimSuffix(k.env.Workspace.Cloud.ResourceManager, "/"), k.env.Workspace.ID())
	fmt.Fprintf(w, "compute %s\ninstance_type %s\n", k.env.Compute, k.env.InstanceType)
	if k.key != nil {
		return k.key(ctx, req, w)
	}
	return nil
}

func (k *kind) Run(ctx context.Context, req *engine.Request) (engine.Outputs, error) {
	c, err := k.call(req)
	if err != nil {
		return nil, err
	}
	return k.run(ctx, c)
}

func (k *kind) call(req *engine.Request) (*call, error) {
	d, err := k.env.getDoer()
	if err != nil {
		return nil, err
	}
	return &call{Env: k.env, req: req, doer: d, step: req.Step}, nil
}

// reconcilingKind is deploy and publish: what exists on Azure is their
// truth, not the cache.
type reconcilingKind struct {
	kind
	reconcile func(ctx context.Context, c *call) (engine.Outputs, bool, error)
}

func (k *reconcilingKind) Reconcile(ctx context.Context, req *engine.Request) (engine.Outputs, bool, error) {
	c, err := k.call(req)
	if err != nil {
		return nil, false, err
	}
	return k.reconcile(ctx, c)
}

// measuringKind is logs and benchmark: what they measure changes without
// their inputs changing.
type measuringKind struct{ kind }

func (*measuringKind) NoCache() bool { return true }

// call is one step's run: its request and the way to Azure.
type call struct {
	*Env
	req  *engine.Request
	doer azure.Doer
	step string
}

// arm sends a request to the workspace's ARM path sub.
func (c *call) arm(ctx context.Context, method, sub string, body, out any, lro bool) error {
	return c.send(ctx, azure.Request{Step: c.step, Method: method, URL: c.Workspace.URL(sub), Body: body, LRO: lro}, out)
}

func (c *call) send(ctx context.Context, r azure.Request, out any) error {
	if r.Step == "" {
		r.Step = c.step
	}
	return c.doer.Do(ctx, r, out)
}

// notFound is true for Azure's 404.
func notFound(err error) bool {
	var ae *azure.Error
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// location is the workspace's region, which every tracked resource
// (endpoints, deployments) must name.
func (c *call) location(ctx context.Context) (string, error) {
	var ws struct {
		Location string `json:"location"`
	}
	if err := c.arm(ctx, "GET", "", nil, &ws, false); err != nil {
		return "", err
	}
	if ws.Location == "" {
		return "", fmt.Errorf("workspace %s: Azure answered without its location", c.Workspace.Name)
	}
	return ws.Location, nil
}

// id is the ARM id of a resource under the workspace.
func (c *call) id(sub string) string { return c.Workspace.ID() + "/" + sub }

// seg escapes one path segment; a dry run's ${{ ... }} placeholders stay
// readable.
func seg(s string) string {
	if strings.Contains(s, "${{") {
		return s
	}
	return url.PathEscape(s)
}

// jobName is the Azure job name of this step in this run: unique per run,
// so a retried run never collides with the job of a failed one, and
// readable in Studio.
func (c *call) jobName() string {
	if c.dry {
		return "mlflow-" + c.step + "-" + c.req.RunID
	}
	id := strings.ToLower(c.req.RunID)
	var b strings.Builder
	for _, r := range "mlflow-" + c.step + "-" + id {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + 'a' - 'A')
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

// tags mark what mlflow creates, so Studio shows which run and step made it.
func (c *call) tags() map[string]string {
	t := map[string]string{"mlflow.run": c.req.RunID, "mlflow.step": c.step}
	if c.req.Workflow != nil {
		t["mlflow.workflow"] = c.req.Workflow.Name
	}
	return t
}

func (c *call) description() string {
	if c.req.Workflow != nil {
		if st := c.req.Workflow.Steps[c.step]; st != nil {
			return st.Description
		}
	}
	return ""
}
