package serve_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlflow-go/mlflow/internal/server/reqlog"
	"github.com/mlflow-go/mlflow/internal/server/serve"
)

// TestMLflowContract holds /invocations to what MLflow's scoring server
// answers where its clients and tests depend on it: 415s are text/plain
// with its texts, error bodies carry stack_trace.
func TestMLflowContract(t *testing.T) {
	h := newHandler(t, serve.Options{Endpoint: "bankmarketing"})
	good := `{"dataframe_records": [` + row + `]}`
	for _, c := range []struct{ ctype, want string }{
		{"application/json; charset=latin-1", "The scoring server only supports UTF-8"},
		{"application/json; format=pandas-split", "Unrecognized content type parameters: format. "},
		{"text/csv; format=x; orient=y", "Unrecognized content type parameters: format, orient. "},
		{"text/plain", "This predictor only supports the following content types: Types: ['text/csv', 'application/json']. Got 'text/plain'."},
	} {
		w := do(h, call{method: "POST", path: "/invocations", ctype: c.ctype, key: key1, body: good})
		if w.Code != 415 || !strings.HasPrefix(w.Body.String(), c.want) || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
			t.Errorf("%s: %d %s %s\nwant 415 text/plain %s", c.ctype, w.Code, w.Header().Get("Content-Type"), w.Body, c.want)
		}
	}
	// Charset utf-8, any case, is fine.
	if w := do(h, call{method: "POST", path: "/invocations", ctype: "application/json; charset=UTF-8", key: key1, body: good}); w.Code != 200 {
		t.Errorf("charset UTF-8: %d %s", w.Code, w.Body)
	}
	for _, c := range []call{
		{method: "POST", path: "/invocations", ctype: "application/json", key: key1, body: `{"records": []}`},
		{method: "POST", path: "/invocations", ctype: "application/json", key: "nope", body: good},
		{method: "GET", path: "/invocations"},
	} {
		w := do(h, c)
		var e map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
			t.Errorf("%s %s: %v: %s", c.method, c.body, err, w.Body)
			continue
		}
		if _, ok := e["stack_trace"].(string); !ok || e["error_code"] == nil || e["message"] == nil {
			t.Errorf("%s %s: MLflow error body %s lacks error_code, message or stack_trace", c.method, c.body, w.Body)
		}
	}
}

// TestMLflowParams: MLflow refuses a params member that is not an object.
func TestMLflowParams(t *testing.T) {
	h := newHandler(t, serve.Options{Endpoint: "bankmarketing"})
	for _, params := range []string{`1`, `"x"`, `[1]`, `true`} {
		body := `{"dataframe_records": [` + row + `], "params": ` + params + `}`
		w := do(h, call{method: "POST", path: "/invocations", ctype: "application/json", key: key1, body: body})
		if w.Code != 400 || !strings.Contains(w.Body.String(), "Parameters must be a dictionary") {
			t.Errorf("params %s: %d %s", params, w.Code, w.Body)
		}
	}
	for _, params := range []string{`{}`, `{"k": [1, {"a": null}]}`, `null`} {
		body := `{"dataframe_records": [` + row + `], "params": ` + params + `}`
		if w := do(h, call{method: "POST", path: "/invocations", ctype: "application/json", key: key1, body: body}); w.Code != 200 {
			t.Errorf("params %s: %d %s", params, w.Code, w.Body)
		}
	}
}

// TestOIPPaths: the spec's literal server metadata path has a trailing
// slash, and a version the endpoint does not serve is not ready but
// missing.
func TestOIPPaths(t *testing.T) {
	h := newHandler(t, serve.Options{Endpoint: "bankmarketing"})
	for _, p := range []string{"/v2", "/v2/"} {
		w := do(h, call{method: "GET", path: p})
		var meta struct {
			Name       string
			Extensions []string
		}
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &meta) != nil || meta.Name != "mlflow" || meta.Extensions == nil {
			t.Errorf("GET %s: %d %s", p, w.Code, w.Body)
		}
	}
	for _, c := range []struct {
		path   string
		status int
		want   string
	}{
		{"/v2/models/bankmarketing/versions/3/ready", 200, `"ready":true`},
		{"/v2/models/bankmarketing/versions/4/ready", 404, `Model with name bankmarketing and version 4 does not exist.`},
		{"/v2/models/bankmarketing/versions/x/ready", 404, `version x does not exist`},
		{"/v2/models/other/versions/3/ready", 404, `Model with name other does not exist.`},
		{"/v2/models/bankmarketing/versions/4", 404, `version 4 does not exist`},
		{"/v2/models/bankmarketing/versions/3", 200, `"versions":["3"]`},
	} {
		w := do(h, call{method: "GET", path: c.path})
		if w.Code != c.status || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("GET %s: %d %s\nwant %d %s", c.path, w.Code, w.Body, c.status, c.want)
		}
	}
}

// TestRequestLogFullPath: a request that came through the workspace
// server's /endpoints/NAME mount is logged with its whole path, OIP
// included; one at the server root keeps its own.
func TestRequestLogFullPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "requests.jsonl")
	lw, err := reqlog.Open(path, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "/endpoints/bankmarketing"
	h := newHandler(t, serve.Options{Endpoint: "bankmarketing", Prefix: prefix, Log: lw})
	mount := http.StripPrefix(prefix, h)
	send := func(hd http.Handler, target, body string) {
		req := httptest.NewRequest("POST", target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key1)
		hd.ServeHTTP(httptest.NewRecorder(), req)
	}
	send(mount, prefix+"/score", `{"data": [`+row+`]}`)
	send(mount, prefix+"/v2/models/bankmarketing/infer", oipBody())
	send(h, "/v2/models/bankmarketing/infer", oipBody()) // the OIP route at the server root
	lw.Close()
	es, err := reqlog.Read(path)
	if err != nil || len(es) != 3 {
		t.Fatalf("%v, %d entries", err, len(es))
	}
	for i, want := range []string{prefix + "/score", prefix + "/v2/models/bankmarketing/infer", "/v2/models/bankmarketing/infer"} {
		if es[i].Path != want || es[i].Status != 200 {
			t.Errorf("entry %d: path %q status %d, want %q", i, es[i].Path, es[i].Status, want)
		}
	}
}

// TestCORS: the specs and docs hold model data and need no key, so no
// other origin may read them; /score allows a browser client on another
// origin only when it needs a key.
func TestCORS(t *testing.T) {
	h := newHandler(t, serve.Options{Endpoint: "bankmarketing"})
	const origin = "https://elsewhere.example"
	for _, c := range []call{
		{method: "GET", path: "/swagger.json"},
		{method: "GET", path: "/swagger.json?version=3"},
		{method: "GET", path: "/openapi.json"},
		{method: "GET", path: "/docs"},
		{method: "OPTIONS", path: "/swagger.json"},
		{method: "OPTIONS", path: "/openapi.json"},
		{method: "GET", path: "/v2/models/bankmarketing"},
		{method: "GET", path: "/metrics"},
	} {
		c.hdr = map[string]string{"Origin": origin}
		if w := do(h, c); w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s %s: Access-Control-Allow-Origin %q on an unauthenticated route", c.method, c.path, w.Header().Get("Access-Control-Allow-Origin"))
		}
	}
	score := call{method: "POST", path: "/score", ctype: "application/json", key: key1, body: `{"data": [` + row + `]}`, hdr: map[string]string{"Origin": origin}}
	if w := do(h, score); w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("/score with auth on: %d, Access-Control-Allow-Origin %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}
	if w := do(h, call{method: "OPTIONS", path: "/score", hdr: score.hdr}); w.Code != 200 || w.Header().Get("Access-Control-Allow-Headers") == "" {
		t.Errorf("preflight with auth on: %d %v", w.Code, w.Header())
	}
	h.SetKeys("", "")
	if w := do(h, score); w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("/score with auth off: %d, Access-Control-Allow-Origin %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}
	if w := do(h, call{method: "OPTIONS", path: "/score", hdr: score.hdr}); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight with auth off: %v", w.Header())
	}
}
