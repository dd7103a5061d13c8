package benchmark

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema"
)

func request(t *testing.T, cfg map[string]any) (*engine.Request, *store.Store) {
	t.Helper()
	dir := t.TempDir()
	s, err := store.Open(filepath.Join(dir, ".mlflow"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	// Config as the engine hands it: JSON values.
	b, _ := json.Marshal(cfg)
	var m map[string]any
	json.Unmarshal(b, &m)
	return &engine.Request{RunID: "r1", Step: "load", Kind: "benchmark", Workflow: &schema.Workflow{Name: "w", Dir: dir},
		Config: m, Store: s, Log: io.Discard, Progress: engine.NopProgress{}}, s
}

// recorder is a server that keeps what it was sent.
type recorder struct {
	*httptest.Server
	mu     sync.Mutex
	auth   []string
	bodies []string
}

func newRecorder(t *testing.T, status int) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.auth = append(rec.auth, r.Header.Get("Authorization"))
		rec.bodies = append(rec.bodies, string(b))
		rec.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, `{"Results": ["no"]}`)
	}))
	t.Cleanup(rec.Close)
	return rec
}

// sent is what the server was sent so far. The lock orders the reads after the handler's
// writes: a client that has its answer does not make them visible to the race detector.
func (rec *recorder) sent() (auth, bodies []string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.auth), slices.Clone(rec.bodies)
}

// An endpoint output is loaded with its key; the report and its picture
// are kept in the run's folder.
func TestEndpointOutputSendsItsKey(t *testing.T) {
	rec := newRecorder(t, 200)
	ep := artifact.Endpoint{Name: "bank", ScoringURI: rec.URL + "/score", SwaggerURI: "s", OpenAPIURI: "o", DocsURI: "d", Model: "bank:1"}
	req, s := request(t, map[string]any{"endpoint": ep, "requests": 4, "concurrency": 2, "keepalive": true,
		"payload": map[string]any{"inline": map[string]any{"data": []any{map[string]any{"age": 29}}}}})
	keys, err := endpoints.EnsureKeys(s, "bank")
	if err != nil {
		t.Fatal(err)
	}
	outs, err := New().Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	rep := outs["report"].(artifact.Report)
	if rep.Requests != 4 || rep.Successes != 4 || rep.Status["200"] != 4 {
		t.Errorf("report %+v", rep)
	}
	auth, bodies := rec.sent()
	for i, a := range auth {
		if a != "Bearer "+keys.Primary {
			t.Errorf("request %d: Authorization %q, want the endpoint's primary key", i, a)
		}
		if bodies[i] != `{"data":[{"age":29}]}` {
			t.Errorf("request %d: body %s", i, bodies[i])
		}
	}
	b, err := os.ReadFile(rep.Path)
	if err != nil {
		t.Fatal(err)
	}
	var saved artifact.Report
	if err := artifact.Decode(b, &saved); err != nil || saved.Requests != 4 {
		t.Errorf("report.json: %v %+v", err, saved)
	}
	if svg, err := os.ReadFile(rep.Histogram); err != nil || !strings.HasPrefix(string(svg), "<svg") {
		t.Errorf("latency.svg: %v %.40s", err, svg)
	}
}

func TestPayloadForms(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "data.json"), []byte(`{"data": [{"a": 1}]}`), 0o644)
	for _, tc := range []struct {
		payload any
		want    string
	}{
		{"data.json", `{"data": [{"a": 1}]}`},
		{map[string]any{"inline": "a,b\n1,2\n"}, "a,b\n1,2\n"},
		{map[string]any{"inline": []any{1, "x"}}, `[1,"x"]`},
	} {
		rec := newRecorder(t, 200)
		req, _ := request(t, map[string]any{"endpoint": rec.URL, "requests": 1, "payload": tc.payload})
		req.Workflow.Dir = dir
		if _, err := New().Run(context.Background(), req); err != nil {
			t.Fatalf("%v: %v", tc.payload, err)
		}
		if _, bodies := rec.sent(); len(bodies) != 1 || bodies[0] != tc.want {
			t.Errorf("payload %v sent %q, want %q", tc.payload, bodies, tc.want)
		}
	}
	rec := newRecorder(t, 200)
	req, _ := request(t, map[string]any{"endpoint": rec.URL, "requests": 1, "payload": "nosuch.json"})
	if _, err := New().Run(context.Background(), req); err == nil || !strings.Contains(err.Error(), "nosuch.json: no such file") {
		t.Errorf("missing payload file: %v", err)
	}
}

// Failures are counted, not fatal; an assert on them fails the step and
// names each constraint with what was measured.
func TestAssertFailsTheStep(t *testing.T) {
	rec := newRecorder(t, 503)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String() + "/score"
	ln.Close()

	for _, tc := range []struct {
		name   string
		url    string
		assert map[string]any
		want   []string // in the error; none: success
	}{
		{"non-2xx", rec.URL, map[string]any{"error_rate": 0, "status": map[string]any{"200": ">=1", "503": "<=4"}},
			[]string{"assert: error_rate = 1, want 0; status.200 = 0, want >=1 (report: "}},
		{"refused", closed, map[string]any{"failures": "<1", "requests": 4},
			[]string{"assert: failures = 4, want <1 (report: "}},
		{"refused, not asserted", closed, nil, nil},
		{"holds", rec.URL, map[string]any{"status": map[string]any{"503": 4}, "p99_ms": ">=0 & <60000"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := map[string]any{"endpoint": tc.url, "requests": 4}
			if tc.assert != nil {
				cfg["assert"] = tc.assert
			}
			req, _ := request(t, cfg)
			outs, err := New().Run(context.Background(), req)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if rep := outs["report"].(artifact.Report); rep.Requests != 4 {
					t.Errorf("report %+v", rep)
				}
				return
			}
			if err == nil {
				t.Fatal("the step succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestAssertParsing(t *testing.T) {
	for _, tc := range []struct {
		in      string
		value   float64
		holds   bool
		wantErr string
	}{
		{`{"p99_ms": "<5"}`, 4.9, true, ""},
		{`{"p99_ms": "<5"}`, 5, false, ""},
		{`{"p99_ms": " <= 5 "}`, 5, true, ""},
		{`{"p99_ms": ">=1 & <5"}`, 0.5, false, ""},
		{`{"p99_ms": "!=3"}`, 3, false, ""},
		{`{"p99_ms": 2.5}`, 2.5, true, ""},
		{`{"p99_ms": "2.5"}`, 2.5, true, ""},
		{`{"p99_ms": "fast"}`, 0, false, `assert.p99_ms: "fast" is not a bound`},
		{`{"p95_ms": "<5"}`, 0, false, "assert.p95_ms: not a report key (keys: bytes, duration_ms, error_rate,"},
		{`{"status": {"2xx": 1}}`, 0, false, "assert.status.2xx: not an HTTP status code"},
		{`{"p99_ms": true}`, 0, false, "assert.p99_ms: want a number or a bound"},
	} {
		var a Asserts
		err := json.Unmarshal([]byte(tc.in), &a)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		failed := a.Check(artifact.Report{P99MS: tc.value, Status: map[string]int{"200": 1}})
		if (len(failed) == 0) != tc.holds {
			t.Errorf("%s with p99 %v: failed %v, want holds=%v", tc.in, tc.value, failed, tc.holds)
		}
	}
}

// With no answer there is no latency: a report's zero p99 must not pass
// for a fast server.
func TestNoAnswerFailsLatencyAsserts(t *testing.T) {
	var a Asserts
	if err := json.Unmarshal([]byte(`{"p99_ms": "<5", "duration_ms": ">0", "failures": 3}`), &a); err != nil {
		t.Fatal(err)
	}
	got := a.Check(artifact.Report{Requests: 3, Failures: 3, DurationMS: 10, Errors: map[string]int{"timeout": 3}})
	if len(got) != 1 || got[0] != "p99_ms: no request was answered, want <5" {
		t.Errorf("failed = %q", got)
	}
}

func TestBadEndpoint(t *testing.T) {
	for _, tc := range []struct {
		endpoint any
		want     string
	}{
		{"ftp://h/x", `endpoint "ftp://h/x": want an http:// or https:// URL`},
		{map[string]any{"name": "bank", "url": "x"}, `endpoint: not an endpoint output: json: unknown field "url"`},
		{artifact.Endpoint{Name: "bank", SwaggerURI: "s"}, "endpoint: the endpoint output has no scoring_uri"},
	} {
		req, _ := request(t, map[string]any{"endpoint": tc.endpoint, "requests": 1})
		_, err := New().Run(context.Background(), req)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("endpoint %v: err = %v, want %q", tc.endpoint, err, tc.want)
		}
	}
}
