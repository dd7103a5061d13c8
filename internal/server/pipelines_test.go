package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/pipelines"
	"github.com/mlflow-go/mlflow/internal/server"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema/load"
	"github.com/mlflow-go/mlflow/steps/exec"
	"github.com/mlflow-go/mlflow/steps/publish"
)

const pipelineWorkflow = `name: "w"
params: {n: 1, f: "d.txt", wait: "0", label: "x"}
steps: {
	a: {kind: "exec", command: ["sh", "-c", "sleep \(params.wait); cat \(params.f) > /dev/null"], inputs: [params.f]}
	b: {kind: "exec", command: ["echo", "\(params.n)"], needs: ["a"]}
	pub: {kind: "publish", name: "p", steps: ["b"], params: ["n", "f", "wait"], SCHEDULE}
}
`

// publishIn writes the workflow (with schedule, a CUE field or "") in a new folder and runs
// it, which publishes pipeline p on whatever server serves the workspace when it is needed.
func publishIn(t testing.TB, schedule string) (*store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	src := strings.Replace(pipelineWorkflow, "SCHEDULE", schedule, 1)
	if err := os.WriteFile(filepath.Join(dir, "wf.cue"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "d.txt"), []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(filepath.Join(dir, ".mlflow"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func runPublish(t testing.TB, s *store.Store, dir string) {
	t.Helper()
	wf, err := load.File(filepath.Join(dir, "wf.cue"), load.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub := &publish.Step{Ensure: func(ctx context.Context, s *store.Store) (*server.Info, error) { return server.Find(ctx, s) }}
	plan, err := engine.NewPlan(wf, engine.NewRegistry(exec.New(), pub))
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := engine.Run(context.Background(), plan, s, engine.Options{}); err != nil {
		t.Fatalf("publish run: %v (%+v)", err, rec)
	}
}

// serveFor runs a workspace server able to run pipelines until stop (or the test's end).
func serveFor(t testing.TB, s *store.Store, onEvent func(engine.Event)) (server.Info, func()) {
	t.Helper()
	ready := make(chan server.Info, 1)
	srv, err := server.New(s, server.Options{Addr: "127.0.0.1:0", Version: "test", Steps: []engine.Step{exec.New()},
		OnPipelineEvent: onEvent, Ready: func(in server.Info) { ready <- in }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case in := <-ready:
		return in, stop
	case err := <-done:
		t.Fatalf("server: %v", err)
	}
	panic("unreachable")
}

func call(t testing.TB, method, url, key, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: %d, not JSON: %s", method, url, resp.StatusCode, b)
	}
	return resp.StatusCode, resp.Header, out
}

func message(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// waitRun polls the run until it ends and returns it.
func waitRun(t testing.TB, base, key, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		code, _, out := call(t, "GET", base+"/runs/"+id, key, "")
		if code != 200 {
			t.Fatalf("GET run %s: %d %v", id, code, out)
		}
		if st := out["status"]; st != "NotStarted" && st != "Running" {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("run %s did not end in 30s", id)
	return nil
}

func TestPipelineREST(t *testing.T) {
	s, dir := publishIn(t, "")
	in, _ := serveFor(t, s, nil)
	runPublish(t, s, dir)
	k, err := pipelines.ReadKeys(s, "p")
	if err != nil {
		t.Fatal(err)
	}
	base := in.PipelineURL("p")

	// Ours, then Azure's v1 body with its values as strings.
	var ids []string
	for _, body := range []string{
		`{"parameters": {"n": 7}}`,
		`{"ExperimentName": "bank", "ParameterAssignments": {"n": "8"}, "Description": "from a v1 script", "RunSource": "SDK"}`,
		``,
	} {
		code, h, out := call(t, "POST", base+"/runs", k.Secondary, body)
		if code != 202 || out["status"] != "NotStarted" || out["Id"] == "" || out["Id"] != out["run_id"] {
			t.Fatalf("trigger %s: %d %v", body, code, out)
		}
		id := out["Id"].(string)
		if h.Get("Location") != base+"/runs/"+id {
			t.Errorf("Location %q", h.Get("Location"))
		}
		ids = append(ids, id)
	}
	for i, id := range ids {
		run := waitRun(t, base, k.Primary, id)
		steps, _ := run["steps"].(map[string]any)
		b, _ := steps["b"].(map[string]any)
		if run["status"] != "Completed" || run["trigger"] != "rest" || b["state"] != "succeeded" {
			t.Fatalf("run %d: %v", i, run)
		}
		rec, err := engine.GetRun(context.Background(), s, id)
		if err != nil || rec.Trigger != "rest" {
			t.Fatalf("engine record of %s: %+v %v", id, rec, err)
		}
	}
	code, _, out := call(t, "GET", base+"/runs", k.Primary, "")
	if list, _ := out["value"].([]any); code != 200 || len(list) != 3 {
		t.Fatalf("list: %d %v", code, out)
	}
	code, _, out = call(t, "GET", base, k.Primary, "")
	if code != 200 || out["version"] != 1.0 || out["trigger_uri"] != base+"/runs" {
		t.Fatalf("show: %d %v", code, out)
	}

	// Bad input, each with its answer.
	for _, c := range []struct {
		method, path, key, body string
		code                    int
		msg                     string
	}{
		{"POST", "/pipelines/nosuch/runs", k.Primary, `{}`, 404, "pipeline nosuch does not exist"},
		{"GET", "/pipelines/nosuch/runs/x", k.Primary, ``, 404, "pipeline nosuch does not exist"},
		{"POST", "/pipelines/p/runs", "", `{}`, 401, "needs one of its keys"},
		{"POST", "/pipelines/p/runs", "wrong", `{}`, 401, "needs one of its keys"},
		{"GET", "/pipelines/p/runs", "wrong", ``, 401, "needs one of its keys"},
		{"POST", "/pipelines/p/runs", k.Primary, `{"parameters": {"zz": 1}}`, 400, `parameter "zz": unknown parameter (parameters: n, f, wait)`},
		{"POST", "/pipelines/p/runs", k.Primary, `{"parameters": {"n": "seven"}}`, 400, `parameter "n": want an integer, got "seven"`},
		{"POST", "/pipelines/p/runs", k.Primary, `{"parameters": {"f": "../../../../etc/passwd"}}`, 400, `parameter "f": the value reaches steps.a.command[2] as "sleep 0; cat ../../../../etc/passwd > /dev/null", which leaves the published snapshot`},
		{"POST", "/pipelines/p/runs", k.Primary, `{"parameters": {"f": "/etc/passwd"}}`, 400, "leaves the published snapshot"},
		{"POST", "/pipelines/p/runs", k.Primary, `{"parameters": `, 400, "body: malformed JSON"},
		{"POST", "/pipelines/p/runs", k.Primary, `[1]`, 400, "body: malformed JSON"},
		{"POST", "/pipelines/p/runs", k.Primary, `{"params": {}}`, 400, `body: unknown field "params"`},
		{"POST", "/pipelines/p/runs", k.Primary, `{"parameters": {}, "ParameterAssignments": {}}`, 400, "send one"},
		{"POST", "/pipelines/p/runs", k.Primary, `{"parameters": [1]}`, 400, "parameters: want an object"},
		{"GET", "/pipelines/p/runs/nosuch", k.Primary, ``, 404, "pipeline p has no run nosuch"},
		{"POST", "/pipelines/p/runs/" + ids[0] + "/cancel", k.Primary, ``, 409, "has finished"},
	} {
		code, _, out := call(t, c.method, in.URL+c.path, c.key, c.body)
		if code != c.code || !strings.Contains(message(out), c.msg) {
			t.Errorf("%s %s %s: %d %q, want %d %q", c.method, c.path, c.body, code, message(out), c.code, c.msg)
		}
	}
	if _, err := pipelines.SetDisabled(context.Background(), s, "p", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	if code, _, out := call(t, "POST", base+"/runs", k.Primary, `{}`); code != 409 || !strings.Contains(message(out), "is disabled") {
		t.Errorf("trigger while disabled: %d %v", code, out)
	}

	// The OpenAPI document parses and names every route; the Swagger UI page loads it.
	code, _, spec := call(t, "GET", in.URL+"/pipelines/openapi.json", "", "")
	paths, _ := spec["paths"].(map[string]any)
	for _, p := range []string{"/pipelines/{name}", "/pipelines/{name}/runs", "/pipelines/{name}/runs/{id}", "/pipelines/{name}/runs/{id}/cancel"} {
		if paths[p] == nil {
			t.Errorf("openapi.json (%d) has no %s", code, p)
		}
	}
	// One pipeline's document types its parameters.
	code, _, spec = call(t, "GET", base+"/openapi.json", k.Primary, "")
	b, _ := json.Marshal(spec)
	if code != 200 || !strings.Contains(string(b), `"parameters":{"additionalProperties":false,"properties":{"f":{"default":"d.txt","type":"string"},"n":{"default":1,"type":["integer","string"]}`) {
		t.Errorf("the pipeline's openapi.json (%d): %s", code, b)
	}
	if code, _, _ := call(t, "GET", base+"/openapi.json", "", ""); code != 401 {
		t.Errorf("the pipeline's openapi.json without a key: %d", code)
	}
	resp, err := http.Get(in.URL + "/pipelines/docs/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `value="openapi.json"`) {
		t.Errorf("docs page: %d", resp.StatusCode)
	}
}

// A one-second schedule across a server restart: every fire time while a server ran has
// one run, none has two, and none that passed while no server ran is replayed.
func TestScheduleRestartOneSecond(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 8 seconds")
	}
	s, dir := publishIn(t, `schedule: {every: "1s"}`)
	type span struct{ from, to time.Time }
	var up []span
	_, stop := serveFor(t, s, nil)
	from := time.Now()
	runPublish(t, s, dir)
	time.Sleep(3500 * time.Millisecond)
	stop()
	up = append(up, span{from, time.Now()})
	time.Sleep(2 * time.Second) // down: two fire times pass
	_, stop = serveFor(t, s, nil)
	from = time.Now()
	time.Sleep(3500 * time.Millisecond)
	stop()
	up = append(up, span{from, time.Now()})

	p, err := pipelines.Get(context.Background(), s, "p")
	if err != nil {
		t.Fatal(err)
	}
	runs, err := pipelines.ListRuns(context.Background(), s, "p", 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[time.Time]string{}
	for _, r := range runs {
		if r.Trigger != "schedule" {
			t.Errorf("run %s trigger %s", r.ID, r.Trigger)
		}
		if prev, ok := seen[r.ScheduledFor]; ok {
			t.Errorf("fire time %s doubled: runs %s and %s", r.ScheduledFor, prev, r.ID)
		}
		seen[r.ScheduledFor] = r.ID
	}
	anchor := p.Created
	// Fire times a server saw whole (with 200 ms of slack at each end) must have run; fire
	// times no server saw must not.
	for f := anchor.Add(time.Second); f.Before(up[1].to); f = f.Add(time.Second) {
		inside, outside := false, true
		for _, u := range up {
			if f.After(u.from.Add(200*time.Millisecond)) && f.Before(u.to.Add(-200*time.Millisecond)) {
				inside = true
			}
			if !f.Before(u.from.Add(-200*time.Millisecond)) && !f.After(u.to.Add(200*time.Millisecond)) {
				outside = false
			}
		}
		_, ran := seen[f]
		switch {
		case inside && !ran:
			t.Errorf("fire time %s (a server was up) has no run", f.Format("15:04:05.000"))
		case outside && ran:
			t.Errorf("fire time %s (no server was up) ran", f.Format("15:04:05.000"))
		}
	}
	t.Logf("%d scheduled runs over two 3.5 s spans with a 2 s stop between", len(runs))
	if len(runs) < 5 {
		t.Errorf("only %d runs", len(runs))
	}
}

// BenchmarkTriggerToFirstStep is the latency from a trigger's POST to the run's first step
// starting, through the HTTP server, the key check, the parameter check (a load of the
// published workflow) and the queue.
func BenchmarkTriggerToFirstStep(b *testing.B) {
	s, dir := publishIn(b, "")
	started := make(chan string, 16)
	finished := make(chan string, 16)
	in, _ := serveFor(b, s, func(e engine.Event) {
		switch e.Type {
		case "step_started":
			if e.Step == "a" {
				started <- e.RunID
			}
		case "run_finished":
			finished <- e.RunID
		}
	})
	runPublish(b, s, dir)
	k, err := pipelines.ReadKeys(s, "p")
	if err != nil {
		b.Fatal(err)
	}
	url := in.PipelineURL("p") + "/runs"
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		code, _, out := call(b, "POST", url, k.Primary, fmt.Sprintf(`{"parameters": {"n": %d}}`, i))
		if code != 202 {
			b.Fatalf("trigger: %d %v", code, out)
		}
		if id := <-started; id != out["Id"] {
			b.Fatalf("first step of %s, triggered %s", id, out["Id"])
		}
		total += time.Since(t0)
		b.StopTimer()
		<-finished
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs-to-first-step/op")
}
