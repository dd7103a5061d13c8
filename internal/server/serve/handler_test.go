package serve_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/internal/server/fakemodel"
	"github.com/mlflow-go/mlflow/internal/server/reqlog"
	"github.com/mlflow-go/mlflow/internal/server/serve"
)

const (
	key1 = "primary-key-0123456789abcdefghijklmnopqrstu"
	key2 = "secondary-key-0123456789abcdefghijklmnopqrs"
)

var row = fakemodel.RowJSON

// row2 is a customer the fake model answers "yes" for.
var row2 = strings.Replace(strings.Replace(row, `"duration": 135`, `"duration": 900`, 1), `"poutcome": "nonexistent"`, `"poutcome": "success"`, 1)

func newHandler(t testing.TB, opts serve.Options) *serve.Handler {
	h := serve.New(opts)
	if err := h.Swap(fakemodel.New("bankmarketing", 3), fakemodel.Columns); err != nil {
		t.Fatal(err)
	}
	h.SetKeys(key1, key2)
	return h
}

type call struct {
	method, path, ctype, key, body string
	hdr                            map[string]string
}

func do(h http.Handler, c call) *httptest.ResponseRecorder {
	req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	for k, v := range c.hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestGoodPaths(t *testing.T) {
	h := newHandler(t, serve.Options{Endpoint: "bankmarketing"})
	two := `[` + row + `, ` + row2 + `]`
	cases := []struct {
		name string
		call
		want string
	}{
		{"classic string", call{method: "POST", path: "/score", ctype: "application/json", key: key1, body: `{"data": ` + two + `}`}, `"{\"result\": [\"no\", \"yes\"]}"`},
		{"secondary key", call{method: "POST", path: "/score", ctype: "application/json", key: key2, body: `{"data": [` + row + `]}`}, `"{\"result\": [\"no\"]}"`},
		{"Inputs", call{method: "POST", path: "/score", ctype: "application/json; charset=utf-8", key: key1, body: `{"Inputs": {"data": ` + two + `}, "GlobalParameters": {"method": "predict"}}`}, `{"Results": ["no", "yes"]}`},
		{"Inputs GlobalParameters number", call{method: "POST", path: "/score", ctype: "application/json", key: key1, body: `{"Inputs": {"data": [` + row + `]}, "GlobalParameters": 1.0}`}, `{"Results": ["no"]}`},
		{"GET score", call{method: "GET", path: "/score?data=" + urlq(`[`+row2+`]`), key: key1}, `"{\"result\": [\"yes\"]}"`},
		{"dataframe_records", call{method: "POST", path: "/invocations", ctype: "application/json", key: key1, body: `{"dataframe_records": ` + two + `}`}, `{"predictions": ["no", "yes"]}`},
		{"instances", call{method: "POST", path: "/invocations", ctype: "application/json", key: key1, body: `{"instances": ` + two + `}`}, `{"predictions": ["no", "yes"]}`},
		{"csv", call{method: "POST", path: "/invocations", ctype: "text/csv", key: key1, body: csvBody()}, `{"predictions": ["no"]}`},
		{"oip", call{method: "POST", path: "/v2/models/bankmarketing/infer", ctype: "application/json", key: key1, body: oipBody()}, `{"model_name":"bankmarketing","model_version":"3","id":"42","outputs":[{"name":"predict","shape":[1],"datatype":"BYTES","data":["no"]}]}`},
		{"oip version", call{method: "POST", path: "/v2/models/bankmarketing/versions/3/infer", key: key1, body: oipBody()}, `"data":["no"]`},
		{"liveness", call{method: "GET", path: "/"}, "Healthy"},
		{"version", call{method: "GET", path: "/version"}, "dev"},
		{"ping", call{method: "GET", path: "/ping"}, "\n"},
		{"v2", call{method: "GET", path: "/v2"}, `"extensions":[]`},
		{"v2 ready", call{method: "GET", path: "/v2/health/ready"}, `{"ready":true}`},
		{"model ready", call{method: "GET", path: "/v2/models/bankmarketing/ready"}, `{"name":"bankmarketing","ready":true}`},
		{"model meta", call{method: "GET", path: "/v2/models/bankmarketing"}, `{"name":"age","datatype":"INT64","shape":[-1]}`},
		{"readyz", call{method: "GET", path: "/readyz"}, "ok\n"},
		{"docs", call{method: "GET", path: "/docs"}, `<option value="swagger.json" data-name="azure">`},
	}
	for _, c := range cases {
		w := do(h, c.call)
		if w.Code != 200 {
			t.Errorf("%s: status %d: %s", c.name, w.Code, w.Body)
			continue
		}
		if got := w.Body.String(); got != c.want && !(len(c.want) < len(got) && strings.Contains(got, c.want)) {
			t.Errorf("%s: got %s\nwant %s", c.name, got, c.want)
		}
	}
	// dataframe_split and columnar inputs carry the same rows.
	var rec map[string]any
	json.Unmarshal([]byte(row2), &rec)
	var cols []string
	var vals []any
	inputs := map[string]any{}
	for _, c := range fakemodel.Columns {
		cols = append(cols, c.Name)
		vals = append(vals, rec[c.Name])
		inputs[c.Name] = []any{rec[c.Name]}
	}
	split, _ := json.Marshal(map[string]any{"dataframe_split": map[string]any{"columns": cols, "data": [][]any{vals}}})
	colsBody, _ := json.Marshal(map[string]any{"inputs": inputs})
	for _, b := range [][]byte{split, colsBody} {
		w := do(h, call{method: "POST", path: "/invocations", ctype: "application/json", key: key1, body: string(b)})
		if w.Body.String() != `{"predictions": ["yes"]}` {
			t.Errorf("%s: %d %s", b, w.Code, w.Body)
		}
	}
}

func urlq(s string) string {
	r := httptest.NewRequest("GET", "/", nil).URL
	q := r.Query()
	q.Set("x", s)
	return strings.TrimPrefix(q.Encode(), "x=")
}

func csvBody() string {
	var names, vals []string
	var rec map[string]any
	json.Unmarshal([]byte(row), &rec)
	for _, c := range fakemodel.Columns {
		names = append(names, c.Name)
		b, _ := json.Marshal(rec[c.Name])
		vals = append(vals, strings.Trim(string(b), `"`))
	}
	return strings.Join(names, ",") + "\n" + strings.Join(vals, ",") + "\n"
}

func oipBody() string {
	var rec map[string]any
	json.Unmarshal([]byte(row), &rec)
	var ins []map[string]any
	for _, c := range fakemodel.Columns {
		dt := map[string]string{"integer": "INT64", "number": "FP64", "string": "BYTES"}[c.Type]
		ins = append(ins, map[string]any{"name": c.Name, "shape": []int{1}, "datatype": dt, "data": []any{rec[c.Name]}})
	}
	b, _ := json.Marshal(map[string]any{"id": "42", "parameters": map[string]any{"content_type": "pd"}, "inputs": ins})
	return string(b)
}

func TestPredictProba(t *testing.T) {
	h := newHandler(t, serve.Options{Endpoint: "bankmarketing", ClassicResponse: serve.ClassicObject})
	w := do(h, call{method: "POST", path: "/score", ctype: "application/json", key: key1, body: `{"data": [` + row + `], "method": "predict_proba"}`})
	var got struct{ Result [][]float64 }
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || len(got.Result) != 1 || len(got.Result[0]) != 2 {
		t.Fatalf("%d %s: %v", w.Code, w.Body, err)
	}
	if s := got.Result[0][0] + got.Result[0][1]; s < 0.999 || s > 1.001 || got.Result[0][0] < 0.5 {
		t.Errorf("probabilities %v", got.Result[0])
	}
	w = do(h, call{method: "POST", path: "/score", ctype: "application/json", key: key1, body: `{"Inputs": {"data": [` + row + `]}, "GlobalParameters": {"method": "predict_proba"}}`})
	if !strings.HasPrefix(w.Body.String(), `{"Results": [[0.8`) {
		t.Errorf("Results proba: %s", w.Body)
	}
}

func TestBadInput(t *testing.T) {
	h := newHandler(t, serve.Options{Endpoint: "bankmarketing", MaxBody: 4096})
	missing := strings.Replace(row, `"job": "management", `, "", 1)
	wrong := strings.Replace(row, `"age": 29`, `"age": "old"`, 1)
	cases := []struct {
		name string
		call
		status int
		want   string
	}{
		{"malformed", call{method: "POST", path: "/score", ctype: "application/json", key: key1, body: `{"data": [{"age": 1,}]}`}, 400, `{"message": "malformed JSON at byte 20`},
		{"empty data", call{method: "POST", path: "/score", ctype: "application/json", key: key1, body: `{"data": []}`}, 400, `no records`},
		{"missing column", call{method: "POST", path: "/score", ctype: "application/json", key: key1, body: `{"data": [` + row + `, ` + missing + `]}`}, 400, `record 1: missing column \"job\"`},
		{"wrong type", call{method: "POST", path: "/score", ctype: "application/json", key: key1, body: `{"data": [` + wrong + `]}`}, 400, `record 0, column \"age\": want an integer, got \"old\"`},
		{"unknown shape", call{method: "POST", path: "/score", ctype: "application/json", key: key1, body: `{"rows": [` + row + `]}`}, 400, `A value is not provided for the 'data' parameter`},
		{"unknown mlflow shape", call{method: "POST", path: "/invocations", ctype: "application/json", key: key1, body: `{"records": []}`}, 400, `{"error_code": "BAD_REQUEST", "message": "The input must be a JSON dictionary with exactly one of`},
		{"too large", call{method: "POST", path: "/score", ctype: "application/json", key: key1, body: `{"data": [` + strings.Repeat(row+",", 30) + row + `]}`}, 413, `over the 4096-byte limit`},
		{"wrong method", call{method: "PUT", path: "/score", key: key1}, 405, `{"message": "method PUT is not allowed`},
		{"wrong method mlflow", call{method: "GET", path: "/invocations"}, 405, `"error_code": "BAD_REQUEST"`},
		{"no key", call{method: "POST", path: "/score", ctype: "application/json", body: `{"data": [` + row + `]}`}, 401, `{"message": "no key`},
		{"wrong key", call{method: "POST", path: "/score", ctype: "application/json", key: "nope", body: `{"data": [` + row + `]}`}, 401, `{"message": "invalid key"}`},
		{"wrong key mlflow", call{method: "POST", path: "/invocations", ctype: "application/json", key: "nope", body: `{}`}, 401, `{"error_code": "UNAUTHENTICATED"`},
		{"wrong key oip", call{method: "POST", path: "/v2/models/bankmarketing/infer", ctype: "application/json", key: key1 + "x", body: `{}`}, 401, `{"error": "invalid key"}`},
		{"content type", call{method: "POST", path: "/score", ctype: "application/x-www-form-urlencoded", key: key1, body: `x=1`}, 415, `Expects Content-Type to be application/json`},
		{"mlflow content type", call{method: "POST", path: "/invocations", ctype: "text/html", key: key1, body: `{}`}, 415, `This predictor only supports`},
		{"long request id", call{method: "POST", path: "/score", ctype: "application/json", key: key1, body: `{}`, hdr: map[string]string{"x-request-id": strings.Repeat("a", 101)}}, 431, `request id`},
		{"unknown oip model", call{method: "POST", path: "/v2/models/other/infer", ctype: "application/json", key: key1, body: oipBody()}, 404, `Model with name other does not exist.`},
		{"bad swagger version", call{method: "GET", path: "/swagger.json?version=9"}, 404, `swagger version 9`},
	}
	for _, c := range cases {
		w := do(h, c.call)
		if w.Code != c.status || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("%s: %d %s\nwant %d %s", c.name, w.Code, w.Body, c.status, c.want)
		}
		if c.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", c.name)
		}
	}
	// The server keeps serving after all that.
	if w := do(h, call{method: "POST", path: "/score", ctype: "application/json", key: key1, body: `{"data": [` + row + `]}`}); w.Code != 200 {
		t.Errorf("after bad input: %d %s", w.Code, w.Body)
	}
	h.SetStopped(true)
	w := do(h, call{method: "POST", path: "/score", ctype: "application/json", key: key1, body: `{"data": [` + row + `]}`})
	if w.Code != 503 || !strings.Contains(w.Body.String(), "endpoint bankmarketing is stopped") {
		t.Errorf("stopped: %d %s", w.Code, w.Body)
	}
	if w := do(h, call{method: "GET", path: "/readyz"}); w.Code != 503 {
		t.Errorf("stopped readyz: %d", w.Code)
	}
	h.SetStopped(false)
	if w := do(h, call{method: "POST", path: "/score", ctype: "application/json", key: key1, body: `{"data": [` + row + `]}`}); w.Code != 200 {
		t.Errorf("restarted: %d %s", w.Code, w.Body)
	}
}

func TestHeadersAndStability(t *testing.T) {
	h := newHandler(t, serve.Options{Endpoint: "bankmarketing"})
	c := call{method: "POST", path: "/score", ctype: "application/json", key: key1, body: `{"data": [` + row + `]}`}
	first := do(h, c)
	for k, want := range map[string]string{"X-Ms-Run-Function-Failed": "False", "Access-Control-Allow-Origin": "*", "Content-Type": "application/json"} {
		if got := first.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if id := first.Header().Get("X-Ms-Request-Id"); len(id) != 36 || first.Header().Get("X-Request-Id") != id {
		t.Errorf("request id %q", id)
	}
	if first.Header().Get("X-Ms-Run-Fn-Exec-Ms") == "" {
		t.Error("no x-ms-run-fn-exec-ms")
	}
	for i := 0; i < 20; i++ {
		if w := do(h, c); !bytes.Equal(w.Body.Bytes(), first.Body.Bytes()) {
			t.Fatalf("answer changed: %s vs %s", w.Body, first.Body)
		}
	}
	c.hdr = map[string]string{"x-ms-request-id": "abc", "x-ms-client-request-id": "client-1"}
	w := do(h, c)
	if w.Header().Get("X-Request-Id") != "abc" || w.Header().Get("X-Ms-Client-Request-Id") != "client-1" {
		t.Errorf("echo: %v", w.Header())
	}
	if w := do(h, call{method: "OPTIONS", path: "/score"}); w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("OPTIONS: %d %v", w.Code, w.Header())
	}
}

func TestSpecs(t *testing.T) {
	h := newHandler(t, serve.Options{Endpoint: "bankmarketing", Prefix: "/endpoints/bankmarketing"})
	w := do(h, call{method: "GET", path: "/swagger.json"})
	var sw struct {
		Swagger  string
		BasePath string
		Schemes  []string
		Paths    map[string]map[string]struct{ OperationID string }
		Defs     map[string]struct {
			Example    json.RawMessage
			Properties map[string]json.RawMessage
		} `json:"definitions"`
		Security map[string]map[string]string `json:"securityDefinitions"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &sw); err != nil {
		t.Fatal(err)
	}
	if sw.Swagger != "2.0" || sw.BasePath != "/endpoints/bankmarketing" || sw.Schemes[0] != "http" {
		t.Errorf("header fields: %+v", sw)
	}
	if sw.Paths["/score"]["post"].OperationID != "RunMLService" || sw.Paths["/"]["get"].OperationID != "ServiceHealthCheck" || sw.Paths["/swagger.json"]["get"].OperationID != "GetSwaggerSpec" {
		t.Errorf("paths: %+v", sw.Paths)
	}
	if sw.Security["Bearer"]["in"] != "header" {
		t.Errorf("security: %v", sw.Security)
	}
	compact := func(r json.RawMessage) string {
		var b bytes.Buffer
		json.Compact(&b, r)
		return b.String()
	}
	// One example record: each input's Example, in column order.
	var want bytes.Buffer
	json.Compact(&want, []byte(`{"GlobalParameters":{"method":"predict"},"Inputs":{"data":[`+row+`]}}`))
	if ex := compact(sw.Defs["ServiceInput"].Example); ex != want.String() {
		t.Errorf("ServiceInput example:\n got %s\nwant %s", ex, want.String())
	}
	if ex := compact(sw.Defs["ServiceOutput"].Example); ex != `{"Results":["no"]}` {
		t.Errorf("ServiceOutput example (the model's answer for the example): %s", ex)
	}
	// Azure's generated spec types Results as a numpy.ndarray.
	var results struct{ Format string }
	json.Unmarshal(sw.Defs["ServiceOutput"].Properties["Results"], &results)
	if results.Format != "numpy.ndarray" {
		t.Errorf("ServiceOutput.Results format %q, want numpy.ndarray", results.Format)
	}
	for _, v := range []string{"3", "3.1"} {
		w := do(h, call{method: "GET", path: "/swagger.json?version=" + v})
		if w.Code != 200 || !strings.Contains(w.Body.String(), `"oneOf"`) || !strings.Contains(w.Body.String(), `"openapi": "3.`) {
			t.Errorf("version %s: %d %.200s", v, w.Code, w.Body)
		}
	}
	w = do(h, call{method: "GET", path: "/openapi.json"})
	var oa struct {
		OpenAPI string
		Paths   map[string]json.RawMessage
	}
	json.Unmarshal(w.Body.Bytes(), &oa)
	for _, p := range []string{"/score", "/invocations", "/v2/models/{m}/infer", "/metrics", "/docs", "/readyz"} {
		if oa.Paths[p] == nil {
			t.Errorf("openapi.json lacks %s", p)
		}
	}
	if oa.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", oa.OpenAPI)
	}
	if w := do(h, call{method: "GET", path: "/docs/swagger-ui-bundle.js"}); w.Code != 200 || w.Body.Len() < 100000 {
		t.Errorf("bundle: %d %d bytes", w.Code, w.Body.Len())
	}
}

func TestMetrics(t *testing.T) {
	h := newHandler(t, serve.Options{Endpoint: "bankmarketing"})
	do(h, call{method: "POST", path: "/score", ctype: "application/json", key: key1, body: `{"data": [` + row + `, ` + row2 + `]}`})
	do(h, call{method: "POST", path: "/score", ctype: "application/json", body: `{}`})
	w := do(h, call{method: "GET", path: "/metrics"})
	body := w.Body.String()
	for _, want := range []string{
		`mlflow_serve_requests_total{code="200",endpoint="bankmarketing",protocol="azure",route="/score"} 1`,
		`mlflow_serve_requests_total{code="401",endpoint="bankmarketing",protocol="azure",route="/score"} 1`,
		`mlflow_serve_rows_total{endpoint="bankmarketing"} 2`,
		`mlflow_serve_predictions_total{class="yes",endpoint="bankmarketing"} 1`,
		`mlflow_serve_auth_failures_total{endpoint="bankmarketing"} 1`,
		`mlflow_serve_model_info{digest="sha256:`,
		`mlflow_serve_request_duration_seconds_bucket{endpoint="bankmarketing",protocol="azure",le="0.001"}`,
		`mlflow_serve_inflight_requests{endpoint="bankmarketing"} 0`,
		`go_goroutines`, `process_`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestRequestLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "requests.jsonl")
	lw, err := reqlog.Open(path, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newHandler(t, serve.Options{Endpoint: "bankmarketing", Log: lw})
	do(h, call{method: "POST", path: "/score", ctype: "application/json", key: key1, body: `{"data": [` + row + `]}`})
	do(h, call{method: "POST", path: "/score", ctype: "application/json", key: "wrong-" + key2, body: `{"data": [` + row + `]}`})
	lw.Close()
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte(key1)) || bytes.Contains(raw, []byte(key2)) || bytes.Contains(raw, []byte("management")) {
		t.Fatalf("log holds a key or the body:\n%s", raw)
	}
	es, err := reqlog.Read(path)
	if err != nil || len(es) != 2 {
		t.Fatalf("%v %d entries:\n%s", err, len(es), raw)
	}
	if e := es[0]; e.Status != 200 || e.Rows != 1 || e.Auth != "ok" || e.Protocol != "azure" || e.Path != "/score" || e.RequestID == "" || e.BytesOut == 0 {
		t.Errorf("entry 0: %+v", e)
	}
	if e := es[1]; e.Status != 401 || e.Auth != "bad" || e.Error == "" {
		t.Errorf("entry 1: %+v", e)
	}
}

func TestRequestLogRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "requests.jsonl")
	lw, err := reqlog.Open(path, 2000, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		lw.Log(reqlog.Entry{Time: time.Now(), RequestID: "r", Method: "POST", Path: "/score", Status: 200})
	}
	lw.Close()
	if len(reqlog.Files(path, 2)) != 3 {
		t.Errorf("files: %v", reqlog.Files(path, 2))
	}
	for _, f := range reqlog.Files(path, 2) {
		if st, _ := os.Stat(f); st.Size() > 2000 {
			t.Errorf("%s is %d bytes", f, st.Size())
		}
	}
}

// TestSwapUnderLoad replaces the model while clients keep scoring: every
// request must succeed, and answers switch from the old model to the new.
func TestSwapUnderLoad(t *testing.T) {
	h := newHandler(t, serve.Options{Endpoint: "bankmarketing"})
	srv := httptest.NewServer(h)
	defer srv.Close()
	var failures, yes atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	deadline := time.Now().Add(5 * time.Second)
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 5000 && time.Now().Before(deadline); n++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", srv.URL+"/score", strings.NewReader(`{"data": [`+row+`]}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+key1)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				}
				if strings.Contains(string(b), "yes") {
					yes.Add(1)
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		time.Sleep(10 * time.Millisecond)
		m := fakemodel.New("bankmarketing", 4+i)
		m.Bias = float64(i%2) * 10 // every other model answers "yes"
		if err := h.Swap(m, fakemodel.Columns); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Errorf("%d requests failed during swaps", failures.Load())
	}
	if yes.Load() == 0 {
		t.Error("no answer came from a swapped-in model")
	}
}

func TestLimits(t *testing.T) {
	h := serve.New(serve.Options{Endpoint: "bankmarketing", MaxInflight: 1})
	m := fakemodel.New("bankmarketing", 1)
	m.Hold = make(chan struct{})
	if err := h.Swap(m, fakemodel.Columns); err != nil {
		t.Fatal(err)
	}
	c := call{method: "POST", path: "/score", ctype: "application/json", body: `{"data": [` + row + `]}`}
	first := make(chan int)
	go func() { first <- do(h, c).Code }()
	// Wait until the first request holds the only slot: the in-flight
	// gauge says so.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(do(h, call{method: "GET", path: "/metrics"}).Body.String(), `mlflow_serve_inflight_requests{endpoint="bankmarketing"} 1`); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first request never got in flight")
		}
	}
	w := do(h, c)
	if w.Code != 429 || !strings.Contains(w.Body.String(), "too many requests in flight (limit 1)") || w.Header().Get("Retry-After") == "" {
		t.Errorf("429: %d %s %v", w.Code, w.Body, w.Header())
	}
	mc := c
	mc.path = "/invocations"
	mc.body = `{"instances": [` + row + `]}`
	if w := do(h, mc); w.Code != 429 || !strings.Contains(w.Body.String(), "REQUEST_LIMIT_EXCEEDED") {
		t.Errorf("mlflow 429: %d %s", w.Code, w.Body)
	}
	close(m.Hold)
	if code := <-first; code != 200 {
		t.Errorf("held request: %d", code)
	}

	h = serve.New(serve.Options{Endpoint: "bankmarketing", Timeout: time.Nanosecond})
	h.Swap(fakemodel.New("bankmarketing", 1), fakemodel.Columns)
	if w := do(h, c); w.Code != 408 || !strings.Contains(w.Body.String(), "timed out") {
		t.Errorf("azure timeout: %d %s", w.Code, w.Body)
	}
	c.path = "/invocations"
	c.body = `{"instances": [` + row + `]}`
	if w := do(h, c); w.Code != 504 || !strings.Contains(w.Body.String(), "DEADLINE_EXCEEDED") {
		t.Errorf("mlflow timeout: %d %s", w.Code, w.Body)
	}
}
