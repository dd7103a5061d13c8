package deploy_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/server"
	"github.com/mlflow-go/mlflow/internal/server/fakemodel"
	"github.com/mlflow-go/mlflow/internal/server/serve"
	"github.com/mlflow-go/mlflow/internal/server/wstest"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema"
	"github.com/mlflow-go/mlflow/schema/load"
	"github.com/mlflow-go/mlflow/steps/deploy"
)

// fakes are the "registry" of the test: ref -> model.
type fakes struct {
	mu    sync.Mutex
	m     map[string]*fakemodel.Model
	loads atomic.Int64
}

func (f *fakes) load(ctx context.Context, s *store.Store, ref string) (serve.Model, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loads.Add(1)
	m, ok := f.m[ref]
	if !ok {
		return nil, fmt.Errorf("model %s: not found", ref)
	}
	return m, nil
}

// setup starts a workspace server in process over a fresh workspace.
func setup(t *testing.T) (*store.Store, *fakes, *deploy.Step, *server.Info) {
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := &fakes{m: map[string]*fakemodel.Model{}}
	for v := 1; v <= 2; v++ {
		m := fakemodel.New("bank", v)
		if v == 2 {
			m.Bias = 10 // version 2 answers "yes" to everything
		}
		f.m[fmt.Sprintf("bank:%d", v)] = m
	}
	in := wstest.Start(t, s, server.Options{Version: "test",
		Load: func(ctx context.Context, s *store.Store, ref string) (serve.Model, []serve.Input, error) {
			m, err := f.load(ctx, s, ref)
			return m, fakemodel.Columns, err
		},
	})
	st := &deploy.Step{Load: f.load, Ensure: func(ctx context.Context, s *store.Store) (*server.Info, error) { return server.Find(ctx, s) }}
	return s, f, st, &in
}

// request is a deploy of version with extra config fields; "description", a common step
// field, goes to the workflow's step, as the loader puts it.
func request(s *store.Store, version int, extra map[string]any) *engine.Request {
	cfg := map[string]any{
		"model": map[string]any{"name": "bank", "version": float64(version), "digest": fakemodel.New("bank", version).Digest(), "task": "classification"},
		"name":  "bank",
	}
	wf := &schema.Workflow{Name: "w", Steps: map[string]*schema.Step{"deploy": {Name: "deploy", Kind: "deploy"}}}
	for k, v := range extra {
		if k == "description" {
			wf.Steps["deploy"].Description = v.(string)
			continue
		}
		cfg[k] = v
	}
	return &engine.Request{RunID: "r1", Step: "deploy", Kind: "deploy", Workflow: wf, Config: cfg, Store: s, Log: io.Discard}
}

func score(t testing.TB, uri, key string) (int, string) {
	req, _ := http.NewRequest("POST", uri, strings.NewReader(`{"data": [`+fakemodel.RowJSON+`]}`))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDeployReconcileRedeploy(t *testing.T) {
	s, f, st, in := setup(t)
	ctx := context.Background()
	req := request(s, 1, map[string]any{"description": "bank marketing", "tags": map[string]any{"team": "a"}})
	if _, ok, err := st.Reconcile(ctx, req); ok || err != nil {
		t.Fatalf("first reconcile: ok=%v err=%v", ok, err)
	}
	outs, err := st.Run(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	ep := outs["endpoint"].(artifact.Endpoint)
	uri := ep.ScoringURI
	if uri != in.URL+"/endpoints/bank/score" || ep.SwaggerURI != in.URL+"/endpoints/bank/swagger.json" ||
		ep.DocsURI != in.URL+"/endpoints/bank/docs/" || ep.Model != "bank:1" {
		t.Errorf("outputs: %+v", ep)
	}
	keys, err := endpoints.ReadKeys(s, "bank")
	if err != nil {
		t.Fatal(err)
	}
	if code, body := score(t, uri, keys.Primary); code != 200 || body != `"{\"result\": [\"no\"]}"` {
		t.Fatalf("score: %d %s", code, body)
	}
	if code, _ := score(t, uri, ""); code != 401 {
		t.Errorf("no key: %d", code)
	}

	// Same model and config: left alone, even with a new description.
	loads := f.loads.Load()
	req = request(s, 1, map[string]any{"description": "changed"})
	outs2, ok, err := st.Reconcile(ctx, req)
	if !ok || err != nil {
		t.Fatalf("unchanged reconcile: ok=%v err=%v", ok, err)
	}
	if outs2["endpoint"].(artifact.Endpoint).ScoringURI != uri || f.loads.Load() != loads {
		t.Errorf("reconcile did work: %v, %d loads", outs2, f.loads.Load()-loads)
	}
	if e, _ := endpoints.Get(ctx, s, "bank"); e.Description != "changed" {
		t.Errorf("description not updated: %q", e.Description)
	}

	// A new model under load: no request fails, answers switch to v2.
	var failures, yes, total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	deadline := time.Now().Add(10 * time.Second)
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 20000 && time.Now().Before(deadline); n++ {
				select {
				case <-stop:
					return
				default:
				}
				code, body := score(t, uri, keys.Primary)
				total.Add(1)
				if code != 200 {
					failures.Add(1)
				}
				if strings.Contains(body, "yes") {
					yes.Add(1)
				}
			}
		}()
	}
	// Conditions, not sleeps: requests are flowing before the swap, and the new model has
	// answered after it, however slow the machine (the race detector on a loaded runner).
	waitFor := func(what string, cond func() bool) {
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 10 s (%d requests, %d failed)", what, total.Load(), failures.Load())
			}
		}
	}
	waitFor("requests before the redeploy", func() bool { return total.Load() >= 200 })
	req = request(s, 2, nil)
	if _, ok, _ := st.Reconcile(ctx, req); ok {
		t.Fatal("reconcile of a new model said ok")
	}
	if _, err := st.Run(ctx, req); err != nil {
		t.Fatal(err)
	}
	waitFor("answers of the new model", func() bool { return yes.Load() >= 200 })
	close(stop)
	wg.Wait()
	t.Logf("%d requests during the redeploy", total.Load())
	if failures.Load() != 0 {
		t.Errorf("%d of %d requests failed during the redeploy", failures.Load(), total.Load())
	}
	if yes.Load() == 0 || total.Load() < 10 {
		t.Errorf("the new model answered %d of %d", yes.Load(), total.Load())
	}

	// Key rotation takes effect without a restart.
	old := keys.Primary
	if _, err := endpoints.Regenerate(s, "bank", "primary"); err != nil {
		t.Fatal(err)
	}
	if err := server.Reload(ctx, s, "bank"); err != nil {
		t.Fatal(err)
	}
	if code, _ := score(t, uri, old); code != 401 {
		t.Errorf("old primary still works: %d", code)
	}
	if code, _ := score(t, uri, keys.Secondary); code != 200 {
		t.Errorf("secondary after rotating primary: %d", code)
	}

	// A stopped endpoint answers 503 and a redeploy brings it back.
	if _, err := endpoints.SetState(ctx, s, "bank", endpoints.Stopped); err != nil {
		t.Fatal(err)
	}
	server.Reload(ctx, s, "bank")
	if code, body := score(t, uri, keys.Secondary); code != 503 || !strings.Contains(body, "stopped") {
		t.Errorf("stopped: %d %s", code, body)
	}
	if _, ok, _ := st.Reconcile(ctx, req); ok {
		t.Error("reconcile of a stopped endpoint said ok")
	}
	if _, err := st.Run(ctx, req); err != nil {
		t.Fatal(err)
	}
	if code, _ := score(t, uri, keys.Secondary); code != 200 {
		t.Errorf("redeployed: %d", code)
	}
}

func TestDeployErrors(t *testing.T) {
	s, _, st, _ := setup(t)
	ctx := context.Background()
	for _, c := range []struct {
		extra map[string]any
		want  string
	}{
		{map[string]any{"auth": "basic"}, `auth "basic": want "key" or "none"`},
		{map[string]any{"name": "bad name!"}, `endpoint name "bad name!": use 3 to 32 letters`},
		{map[string]any{"name": strings.Repeat("a", 33)}, `use 3 to 32 letters`},
		{map[string]any{"name": "bank_model"}, `use 3 to 32 letters`},
		{map[string]any{"replicas": 2}, `unknown field "replicas"`},
		{map[string]any{"model": "nosuch:3"}, `model nosuch:3: not found`},
		{map[string]any{"model": nil}, `model: required`},
		{map[string]any{"model": "bank:x"}, `version "x" is not a positive number`},
		{map[string]any{"classic_response": "xml"}, `classic_response "xml"`},
	} {
		_, err := st.Run(ctx, request(s, 1, c.extra))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.extra, err, c.want)
		}
	}
	// A digest that does not match the model is refused.
	req := request(s, 1, nil)
	req.Config["model"].(map[string]any)["digest"] = "sha256:0000"
	if _, err := st.Run(ctx, req); err == nil || !strings.Contains(err.Error(), "has digest") {
		t.Errorf("digest mismatch: %v", err)
	}
}

func TestAuthNone(t *testing.T) {
	s, _, st, _ := setup(t)
	outs, err := st.Run(context.Background(), request(s, 1, map[string]any{"auth": "none", "name": "open"}))
	if err != nil {
		t.Fatal(err)
	}
	if code, body := score(t, outs["endpoint"].(artifact.Endpoint).ScoringURI, ""); code != 200 {
		t.Errorf("auth none: %d %s", code, body)
	}
}

// The schema and the endpoints package agree on which endpoint names are valid, so
// `mlflow validate` accepts exactly what a run accepts.
func TestNameRuleMatchesSchema(t *testing.T) {
	for _, name := range []string{"ab", "abc", "bank", "Bank-2", "a-b", "ab-", "-ab", "1ab", "bank_model", "bank.model",
		strings.Repeat("a", 32), strings.Repeat("a", 33), "ba nk", "../../victim"} {
		src := fmt.Sprintf("name: w\nsteps:\n  d:\n    kind: deploy\n    model: m:1\n    name: %q\n", name)
		_, loadErr := load.Bytes("w.yaml", []byte(src), load.Options{})
		goErr := endpoints.ValidName(name)
		if (loadErr == nil) != (goErr == nil) {
			t.Errorf("name %q: schema says %v, endpoints.ValidName says %v", name, loadErr, goErr)
		}
	}
}
