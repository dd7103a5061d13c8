package studio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/studio"
)

const execWorkflow = `name: "tiny"
steps: {
	hello: {kind: "exec", command: ["sh", "-c", "echo hello from the step"]}
	world: {kind: "exec", command: ["sh", "-c", "echo world"], needs: ["hello"]}
}
`

// TestNoSessionShowsNothing: without the token every page and API answers 401 and names
// nothing of the workspace; a wrong token is refused the same way.
func TestNoSessionShowsNothing(t *testing.T) {
	w := newWorkspace(t)
	w.write(t, "wf.cue", execWorkflow)
	rec := w.run(t, context.Background(), "wf.cue", "run-secret-1")
	c := &http.Client{}
	for _, p := range []string{"/ui/", "/ui/runs", "/ui/runs/" + rec.RunID, "/ui/api/runs", "/ui/api/runs/" + rec.RunID,
		"/ui/api/overview", "/ui/api/runs/" + rec.RunID + "/events", "/ui/?token=wrong", "/ui/api/runs?token=" + strings.Repeat("0", 64)} {
		code, body := get(t, c, w.url+p)
		if code != 401 {
			t.Errorf("GET %s without a session: %d, want 401", p, code)
		}
		for _, leak := range []string{rec.RunID, "tiny", "hello"} {
			if strings.Contains(body, leak) {
				t.Errorf("GET %s without a session shows %q: %s", p, leak, body)
			}
		}
	}
	resp, err := http.Post(w.url+"/ui/api/endpoints/x/key", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("POST key without a session: %d, want 401", resp.StatusCode)
	}
}

// TestLogin: the token sets an HttpOnly, SameSite=Strict cookie and is dropped from the
// address by a redirect; the session then opens pages and the API.
func TestLogin(t *testing.T) {
	w := newWorkspace(t)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(w.url + "/ui/runs?page=2&token=" + url.QueryEscape(w.token))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d, want 303", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != "/ui/runs?page=2" {
		t.Errorf("Location %q, want the same page without the token", loc)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 || cookies[0].Name != studio.CookieName || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookies %+v: want one HttpOnly SameSite=Strict session cookie", cookies)
	}
	if strings.Contains(cookies[0].Value, w.token) {
		t.Error("the cookie carries the token itself")
	}
	if len(w.token) < 64 {
		t.Errorf("token of %d characters: want at least 256 bits", len(w.token))
	}
	// /ui without the slash keeps the token.
	resp, err = c.Get(w.url + "/ui?token=" + url.QueryEscape(w.token))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/ui/?token=") {
		t.Errorf("/ui redirects to %q, want /ui/ with the token", loc)
	}
	lc := w.client(t)
	if code, body := get(t, lc, w.url+"/ui/api/runs"); code != 200 || !strings.Contains(body, `"total":0`) {
		t.Errorf("API with a session: %d %s", code, body)
	}
}

// TestCSRF: a POST needs the page's CSRF token in a header and, when the browser names one,
// this server as its origin.
func TestCSRF(t *testing.T) {
	w := newWorkspace(t)
	c := w.client(t)
	_, page := get(t, c, w.url+"/ui/runs")
	i := strings.Index(page, `name="csrf-token" content="`)
	if i < 0 {
		t.Fatalf("no CSRF token in the page: %s", page)
	}
	csrf := page[i+len(`name="csrf-token" content="`):]
	csrf = csrf[:strings.IndexByte(csrf, '"')]
	post := func(hdr map[string]string) (int, string) {
		req, _ := http.NewRequest("POST", w.url+"/ui/api/endpoints/nosuch/key", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(nil); code != 403 || !strings.Contains(body, "X-CSRF-Token") {
		t.Errorf("POST without the CSRF token: %d %s, want 403 naming the header", code, body)
	}
	wrong := "0" + csrf[1:]
	if wrong == csrf {
		wrong = "1" + csrf[1:]
	}
	if code, _ := post(map[string]string{"X-CSRF-Token": wrong}); code != 403 {
		t.Errorf("POST with a wrong CSRF token: %d, want 403", code)
	}
	if code, _ := post(map[string]string{"X-CSRF-Token": csrf, "Origin": "http://evil.example"}); code != 403 {
		t.Errorf("POST from another origin: %d, want 403", code)
	}
	if code, body := post(map[string]string{"X-CSRF-Token": csrf, "Origin": w.url}); code != 404 || !strings.Contains(body, `endpoint \"nosuch\" does not exist`) {
		t.Errorf("POST with the CSRF token: %d %s, want 404 naming the endpoint", code, body)
	}
	// An endpoint without keys has none to reveal or rotate.
	if err := endpoints.Put(context.Background(), w.s, &endpoints.Endpoint{Name: "open", Auth: "none", State: endpoints.Stopped}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/ui/api/endpoints/open/key", "/ui/api/endpoints/open/regenerate?which=primary"} {
		req, _ := http.NewRequest("POST", w.url+path, nil)
		req.Header.Set("X-CSRF-Token", csrf)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 409 || !strings.Contains(string(b), "has auth none: it has no key") {
			t.Errorf("POST %s on an endpoint without keys: %d %s, want 409 saying it has no key", path, resp.StatusCode, b)
		}
	}
}

// TestRunsAPI: the runs list pages on the server and agrees with the CLI's engine.ListRuns;
// bad parameters and unknown runs are named.
func TestRunsAPI(t *testing.T) {
	w := newWorkspace(t)
	w.write(t, "wf.cue", execWorkflow)
	ctx := context.Background()
	for i := range 3 {
		w.run(t, ctx, "wf.cue", fmt.Sprintf("run-%d", i))
	}
	c := w.client(t)
	code, body := get(t, c, w.url+"/ui/api/runs?size=2&page=2")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var page struct {
		Total int                 `json:"total"`
		Runs  []studio.RunSummary `json:"runs"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatal(err)
	}
	cli, err := engine.ListRuns(ctx, w.s, 0)
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 3 || len(page.Runs) != 1 || page.Runs[0].RunID != cli[2].RunID || page.Runs[0].Steps != 2 {
		t.Errorf("page 2 of size 2: %+v, want total 3 and the CLI's third run %s", page, cli[2].RunID)
	}
	for q, want := range map[string]string{
		"page=0":    "query parameter page=\"0\"",
		"page=x":    "query parameter page=\"x\"",
		"size=1000": "query parameter size=\"1000\": want a whole number from 1 to 200",
	} {
		if code, body := get(t, c, w.url+"/ui/api/runs?"+q); code != 400 || !strings.Contains(body, strings.ReplaceAll(want, `"`, `\"`)) {
			t.Errorf("?%s: %d %s, want 400 with %s", q, code, body, want)
		}
	}
	if code, body := get(t, c, w.url+"/ui/api/runs/nosuch"); code != 404 || !strings.Contains(body, `run \"nosuch\" does not exist`) {
		t.Errorf("unknown run: %d %s", code, body)
	}
	code, body = get(t, c, w.url+"/ui/api/runs/run-1")
	if code != 200 || !strings.Contains(body, `"deps":{"hello":null,"world":["hello"]}`) {
		t.Errorf("run record: %d %s, want the planned dependencies", code, body)
	}
	code, body = get(t, c, w.url+"/ui/api/runs/run-0/steps/hello/log")
	if code != 200 || !strings.Contains(body, "hello from the step") {
		t.Errorf("step log: %d %s", code, body)
	}
	if code, body := get(t, c, w.url+"/ui/api/runs/run-1/steps/nosuch/log"); code != 404 || !strings.Contains(body, `run run-1 has no step \"nosuch\"`) {
		t.Errorf("unknown step: %d %s", code, body)
	}
	// A finished run's event stream sends the record once, then the end.
	code, body = get(t, c, w.url+"/ui/api/runs/run-1/events")
	if code != 200 || strings.Count(body, "event: run\n") != 1 || !strings.HasSuffix(body, "event: end\ndata: {}\n\n") {
		t.Errorf("events of a finished run: %d %q", code, body)
	}
}

// TestTokenFile: the token is created once, 0600, and shared by every caller.
func TestTokenFile(t *testing.T) {
	w := newWorkspace(t)
	again, err := studio.Token(w.s)
	if err != nil || again != w.token {
		t.Fatalf("second Token: %q, %v; want the first", again, err)
	}
	st, err := os.Stat(studio.TokenPath(w.s))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v; want mode 0600", st, err)
	}
	os.Chmod(studio.TokenPath(w.s), 0o644)
	if _, err := studio.Token(w.s); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("a world-readable token: %v, want refused", err)
	}
}

// insertRun records r as the engine does at the end of a run, for records no workflow here
// can produce cheaply (a benchmark's report).
func insertRun(t testing.TB, w *workspace, r *engine.RunRecord) {
	rec, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.DB.Exec(`INSERT INTO runs(id, workflow, file, trigger, status, started, duration_ms, record) VALUES(?, ?, ?, ?, ?, ?, ?, ?)`,
		r.RunID, r.Workflow, r.File, r.Trigger, r.Status, r.Started.Format(time.RFC3339Nano), r.DurationMS, string(rec)); err != nil {
		t.Fatal(err)
	}
}

// TestBenchmarkHistogram: a benchmark step's latency histogram is served as an image from
// the workspace, and only from there: a record naming another file gets a 404.
func TestBenchmarkHistogram(t *testing.T) {
	w := newWorkspace(t)
	if _, err := engine.ListRuns(context.Background(), w.s, 1); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(w.s.Root, "runs", "bench-run", "load")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	svg := `<svg xmlns="http://www.w3.org/2000/svg"><rect width="10" height="10"/></svg>`
	if err := os.WriteFile(filepath.Join(dir, "latency.svg"), []byte(svg), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(w.dir, "secret.svg")
	if err := os.WriteFile(outside, []byte("<svg>secret</svg>"), 0o644); err != nil {
		t.Fatal(err)
	}
	step := func(histogram string) *engine.StepRecord {
		return &engine.StepRecord{Kind: "benchmark", State: engine.StateSucceeded,
			Outputs: engine.Outputs{"report": map[string]any{"rps": 1000, "histogram": histogram}}}
	}
	insertRun(t, w, &engine.RunRecord{RunID: "bench-run", Workflow: "bench", Status: engine.StateSucceeded, Started: time.Now(),
		Steps: map[string]*engine.StepRecord{
			"load":   step(filepath.Join(dir, "latency.svg")),
			"escape": step(filepath.Join(w.s.Root, "..", "secret.svg")),
			"other":  step(outside),
		}})
	c := w.client(t)
	resp, err := c.Get(w.url + "/ui/api/runs/bench-run/steps/load/histogram.svg")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != svg || resp.Header.Get("Content-Type") != "image/svg+xml" ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("histogram: %d %s %q %v", resp.StatusCode, resp.Header.Get("Content-Type"), b, resp.Header)
	}
	for _, s := range []string{"escape", "other"} {
		code, body := get(t, c, w.url+"/ui/api/runs/bench-run/steps/"+s+"/histogram.svg")
		if code != 404 || strings.Contains(body, "secret") || !strings.Contains(body, "no latency histogram in the workspace") {
			t.Errorf("histogram outside the workspace (%s): %d %s", s, code, body)
		}
	}
}
