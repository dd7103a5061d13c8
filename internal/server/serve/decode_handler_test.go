package serve_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/mlflow-go/mlflow/internal/server/fakemodel"
	"github.com/mlflow-go/mlflow/internal/server/serve"
)

// The decoder's defects of issue 10, through the handler with default
// options: each of these failed before the fix.

func decodeHandler(t testing.TB, opts serve.Options) *serve.Handler {
	t.Helper()
	if opts.Endpoint == "" {
		opts.Endpoint = "bankmarketing"
	}
	h := serve.New(opts)
	if err := h.Swap(fakemodel.New("bankmarketing", 3), fakemodel.Columns); err != nil {
		t.Fatal(err)
	}
	return h
}

func post(h http.Handler, path, ctype, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// exampleValues are fakemodel's example row as JSON values, in column
// order.
func exampleValues() []string {
	v := make([]string, len(fakemodel.Columns))
	for j, c := range fakemodel.Columns {
		b, _ := json.Marshal(c.Example)
		v[j] = string(b)
	}
	return v
}

// A 4 MB columnar body (one long column, under the body limit) made the
// decoder allocate a whole row per value: 20 columns * 8 bytes * 2M
// values, over 300 MB for one request. Memory must stay linear in the
// body.
func TestColumnarBodyMemory(t *testing.T) {
	const size = serve.DefaultMaxBody - 4096
	ones := strings.TrimSuffix(strings.Repeat("1,", size/2), ",")
	full := func() string {
		// Every column, as many rows as the body holds: a valid body.
		vals := exampleValues()
		longest := 0
		for _, v := range vals {
			longest = max(longest, len(v))
		}
		n := size / (len(vals) * (longest + 1))
		var b strings.Builder
		b.WriteString(`{"inputs": {`)
		for j, c := range fakemodel.Columns {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(`"` + c.Name + `": [` + strings.TrimSuffix(strings.Repeat(vals[j]+",", n), ",") + `]`)
		}
		b.WriteString("}}")
		return b.String()
	}()
	// status is the answer with the default row limit, then without one
	// (the body bound alone).
	cases := []struct {
		name, path, body string
		status           [2]int
	}{
		{"mlflow inputs, one column", "/invocations", `{"inputs": {"age": [` + ones + `]}}`, [2]int{413, 400}},
		{"mlflow inputs, every column", "/invocations", full, [2]int{200, 200}},
		{"oip tensor", "/v2/models/bankmarketing/infer", `{"inputs": [{"name": "age", "datatype": "INT64", "data": [` + ones + `]}]}`, [2]int{413, 400}},
		{"oip tensor [N, 1]", "/v2/models/bankmarketing/infer", `{"inputs": [{"name": "age", "datatype": "INT64", "data": [[` + strings.ReplaceAll(ones[:size/2], ",", "],[") + `]]}]}`, [2]int{413, 400}},
		{"azure positional", "/score", `{"data": [[` + strings.ReplaceAll(ones[:size/2], ",", "],[") + `]]}`, [2]int{400, 400}},
	}
	for i, opts := range []serve.Options{{}, {MaxRows: 1 << 40}} {
		h := decodeHandler(t, opts)
		for _, c := range cases {
			memCase(t, h, c.name, c.path, c.body, c.status[i])
		}
	}
}

func memCase(t *testing.T, h http.Handler, name, path, body string, status int) {
	t.Helper()
	c := struct{ name, path, body string }{name, path, body}
	{
		if len(c.body) > serve.DefaultMaxBody {
			t.Fatalf("%s: body of %d bytes is over the limit", c.name, len(c.body))
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		w := post(h, c.path, "application/json", c.body)
		runtime.ReadMemStats(&after)
		grew := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %d-byte body, %d MB allocated, status %d: %.200s", c.name, len(c.body), grew>>20, w.Code, w.Body)
		if grew > 64<<20 {
			t.Errorf("%s: a %d-byte body allocated %d MB, want under 64 MB", c.name, len(c.body), grew>>20)
		}
		if w.Code != status {
			t.Errorf("%s: status %d, want %d: %.300s", c.name, w.Code, status, w.Body)
		}
	}
}

// The CSV path parsed numbers with strconv, which takes what JSON does
// not; invalid UTF-8 passed on both paths.
func TestDecodeAgreesAcrossPaths(t *testing.T) {
	h := decodeHandler(t, serve.Options{})
	names := make([]string, len(fakemodel.Columns))
	for j, c := range fakemodel.Columns {
		names[j] = c.Name
	}
	vals := exampleValues()
	csvRow := func(age string) string {
		v := append([]string{age}, vals[1:]...)
		return strings.ReplaceAll(strings.Join(v, ","), `"`, "")
	}
	header := strings.Join(names, ",") + "\n"
	for _, bad := range []string{"NaN", "nan", "Inf", "-Infinity", "1_000", "0x1p3", "+1", "1.", " 1", ".5", "1e", "00"} {
		w := post(h, "/invocations", "text/csv", header+csvRow("29")+"\n"+csvRow(bad)+"\n")
		if w.Code != 400 || !strings.Contains(w.Body.String(), `record 1, column \"age\": want a number`) {
			t.Errorf("csv age %q: %d %s, want 400 naming record 1 and age", bad, w.Code, w.Body)
		}
	}
	if w := post(h, "/invocations", "text/csv", header+csvRow("2.9e1")+"\n"); w.Code != 200 {
		t.Errorf("csv age 2.9e1: %d %s", w.Code, w.Body)
	}

	row := strings.Replace(fakemodel.RowJSON, `"management"`, "\"manag\xffement\"", 1)
	for _, c := range []struct{ path, body, want string }{
		{"/score", `{"data": [` + fakemodel.RowJSON + `, ` + row + `]}`, `record 1, column \"job\": malformed JSON at byte`},
		{"/invocations", `{"dataframe_records": [` + row + `]}`, `invalid UTF-8`},
		{"/score", `{"data": [{"` + "\xc3" + `": 1}]}`, `invalid UTF-8`},
	} {
		if w := post(h, c.path, "application/json", c.body); w.Code != 400 || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("%s %q: %d %s, want 400 with %s", c.path, c.body, w.Code, w.Body, c.want)
		}
	}
	w := post(h, "/invocations", "text/csv", header+csvRow("29")+"\n"+strings.Replace(csvRow("30"), "management", "man\xe2\x28agement", 1)+"\n")
	if w.Code != 400 || !strings.Contains(w.Body.String(), "CSV line 3: invalid UTF-8") {
		t.Errorf("csv with invalid UTF-8: %d %s", w.Code, w.Body)
	}
}

// An OIP tensor's datatype was not checked against its column.
func TestOIPDatatype(t *testing.T) {
	h := decodeHandler(t, serve.Options{})
	tensor := func(name, dtype, data string) string {
		return `{"name": "` + name + `", "datatype": "` + dtype + `", "shape": [1], "data": [` + data + `]}`
	}
	body := func(age, job string) string {
		var ins []string
		for j, c := range fakemodel.Columns {
			dt := map[string]string{"integer": "INT64", "number": "FP32", "string": "BYTES"}[c.Type]
			ins = append(ins, tensor(c.Name, dt, exampleValues()[j]))
		}
		ins[0], ins[1] = age, job
		return `{"inputs": [` + strings.Join(ins, ", ") + `]}`
	}
	const path = "/v2/models/bankmarketing/infer"
	for _, c := range []struct{ age, job, want string }{
		{tensor("age", "BYTES", `"29"`), tensor("job", "BYTES", `"management"`), `tensor \"age\" has datatype BYTES, but column \"age\" is integer: send INT64`},
		{tensor("age", "BOOL", `true`), tensor("job", "BYTES", `"management"`), `tensor \"age\" has datatype BOOL`},
		{tensor("age", "INT32", `29`), tensor("job", "FP64", `1`), `tensor \"job\" has datatype FP64, but column \"job\" is string: send BYTES`},
	} {
		if w := post(h, path, "application/json", body(c.age, c.job)); w.Code != 400 || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("%.60s: %d %s, want 400 with %s", c.age, w.Code, w.Body, c.want)
		}
	}
	for _, dt := range []string{"INT8", "UINT16", "FP16", "FP64"} {
		if w := post(h, path, "application/json", body(tensor("age", dt, "29"), tensor("job", "BYTES", `"management"`))); w.Code != 200 {
			t.Errorf("age as %s: %d %s", dt, w.Code, w.Body)
		}
	}
}

// Asking OIP for both outputs answered only one.
func TestOIPOutputs(t *testing.T) {
	h := decodeHandler(t, serve.Options{})
	var ins []string
	for j, c := range fakemodel.Columns {
		dt := map[string]string{"integer": "INT64", "number": "FP64", "string": "BYTES"}[c.Type]
		ins = append(ins, `{"name": "`+c.Name+`", "datatype": "`+dt+`", "shape": [1], "data": [`+exampleValues()[j]+`]}`)
	}
	in := `"inputs": [` + strings.Join(ins, ", ") + `]`
	const path = "/v2/models/bankmarketing/infer"
	for _, c := range []struct {
		outputs string
		want    []string
	}{
		{``, []string{"predict"}},
		{`, "outputs": [{"name": "predict_proba"}]`, []string{"predict_proba"}},
		{`, "outputs": [{"name": "predict"}, {"name": "predict_proba"}]`, []string{"predict", "predict_proba"}},
		{`, "outputs": [{"name": "predict_proba", "parameters": {}}, {"name": "predict"}]`, []string{"predict_proba", "predict"}},
	} {
		w := post(h, path, "application/json", `{`+in+c.outputs+`}`)
		var got struct {
			Outputs []struct {
				Name     string
				Shape    []int
				Datatype string
				Data     []any
			}
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got); w.Code != 200 || err != nil {
			t.Fatalf("%s: %d %s (%v)", c.outputs, w.Code, w.Body, err)
		}
		var names []string
		for _, o := range got.Outputs {
			names = append(names, o.Name)
			want := 1
			if o.Name == "predict_proba" {
				want = 2
			}
			if len(o.Data) != want {
				t.Errorf("%s: output %s has %d values, want %d", c.outputs, o.Name, len(o.Data), want)
			}
		}
		if strings.Join(names, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: outputs %v, want %v", c.outputs, names, c.want)
		}
	}
	if w := post(h, path, "application/json", `{`+in+`, "outputs": [{"name": "predict"}, {"name": "predict"}]}`); w.Code != 400 || !strings.Contains(w.Body.String(), "predict is asked for twice") {
		t.Errorf("predict twice: %d %s", w.Code, w.Body)
	}
}

// extraColumnBodies are one request per protocol form with a column the
// model does not have ("y", or pandas' unnamed index in CSV), and the
// answer the same request gets without it.
func extraColumnBodies() []struct{ name, path, ctype, body, want string } {
	extra := strings.Replace(fakemodel.RowJSON, `{`, `{"y": "extra", `, 1)
	names := []string{"y"}
	vals := []string{`"extra"`}
	for j, c := range fakemodel.Columns {
		names = append(names, c.Name)
		vals = append(vals, exampleValues()[j])
	}
	split := `{"dataframe_split": {"columns": ["` + strings.Join(names, `", "`) + `"], "data": [[` + strings.Join(vals, ", ") + `]]}}`
	var cols, tensors []string
	for j, n := range names {
		cols = append(cols, `"`+n+`": [`+vals[j]+`]`)
		dt := "BYTES"
		if j > 0 {
			dt = map[string]string{"integer": "INT64", "number": "FP64", "string": "BYTES"}[fakemodel.Columns[j-1].Type]
		}
		tensors = append(tensors, `{"name": "`+n+`", "datatype": "`+dt+`", "data": [`+vals[j]+`]}`)
	}
	csv := "," + strings.Join(names[1:], ",") + "\n0," + strings.ReplaceAll(strings.Join(vals[1:], ","), `"`, "") + "\n"
	return []struct{ name, path, ctype, body, want string }{
		{"azure data", "/score", "application/json", `{"data": [` + extra + `]}`, `"{\"result\": [\"no\"]}"`},
		{"azure Inputs", "/score", "application/json", `{"Inputs": {"data": [` + extra + `]}}`, `{"Results": ["no"]}`},
		{"dataframe_records", "/invocations", "application/json", `{"dataframe_records": [` + extra + `]}`, `{"predictions": ["no"]}`},
		{"instances", "/invocations", "application/json", `{"instances": [` + extra + `]}`, `{"predictions": ["no"]}`},
		{"inputs records", "/invocations", "application/json", `{"inputs": [` + extra + `]}`, `{"predictions": ["no"]}`},
		{"inputs columns", "/invocations", "application/json", `{"inputs": {` + strings.Join(cols, ", ") + `}}`, `{"predictions": ["no"]}`},
		{"dataframe_split", "/invocations", "application/json", split, `{"predictions": ["no"]}`},
		{"csv index", "/invocations", "text/csv", csv, `{"predictions": ["no"]}`},
		{"oip", "/v2/models/bankmarketing/infer", "application/json", `{"inputs": [` + strings.Join(tensors, ", ") + `]}`, `"data":["no"]`},
	}
}

// Extra columns were refused on every protocol, where MLflow's scoring
// server and Azure's scripts ignore them. They are counted, once per
// request that sent them.
func TestExtraColumnsIgnored(t *testing.T) {
	h := decodeHandler(t, serve.Options{})
	bodies := extraColumnBodies()
	for _, c := range bodies {
		if w := post(h, c.path, c.ctype, c.body); w.Code != 200 || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("%s: %d %s, want 200 with %s", c.name, w.Code, w.Body, c.want)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if want := fmt.Sprintf(`mlflow_serve_ignored_columns_total{endpoint="bankmarketing"} %d`, len(bodies)); !strings.Contains(w.Body.String(), want) {
		t.Errorf("metrics lack %s", want)
	}
}

// TestColumnarBodyAnswers checks that the bounded columnar path still
// decodes a large valid body.
func TestColumnarBodyAnswers(t *testing.T) {
	h := decodeHandler(t, serve.Options{})
	const n = 5000
	var cols []string
	for j, c := range fakemodel.Columns {
		cols = append(cols, `"`+c.Name+`": [`+strings.TrimSuffix(strings.Repeat(exampleValues()[j]+",", n), ",")+`]`)
	}
	w := post(h, "/invocations", "application/json", `{"inputs": {`+strings.Join(cols, ", ")+`}}`)
	var got struct{ Predictions []string }
	if err := json.Unmarshal(w.Body.Bytes(), &got); w.Code != 200 || err != nil || len(got.Predictions) != n {
		t.Fatalf("%d rows: %d %.200s (%v)", n, w.Code, w.Body, err)
	}
	if !bytes.Equal(w.Body.Bytes()[:17], []byte(`{"predictions": [`)) {
		t.Errorf("answer %.40s", w.Body)
	}
}

// A strict endpoint refuses what the default one ignores, naming the
// column, on every protocol.
func TestStrictColumns(t *testing.T) {
	h := decodeHandler(t, serve.Options{StrictColumns: true})
	for _, c := range extraColumnBodies() {
		want := `unknown column \"y\"`
		if c.name == "csv index" {
			want = `CSV header: unknown column \"\"`
		}
		if w := post(h, c.path, c.ctype, c.body); w.Code != 400 || !strings.Contains(w.Body.String(), want) {
			t.Errorf("%s: %d %s, want 400 with %s", c.name, w.Code, w.Body, want)
		}
	}
}

// MaxRows is the endpoint's row limit, 413 past it on every form.
func TestMaxRows(t *testing.T) {
	h := decodeHandler(t, serve.Options{MaxRows: 2})
	for _, c := range benchBodies() {
		if !strings.HasSuffix(c.name, "/100") {
			continue
		}
		if w := post(h, c.path, c.ctype, c.body); w.Code != 413 || !strings.Contains(w.Body.String(), "more than 2 rows, this endpoint's limit (max_rows)") {
			t.Errorf("%s: %d %.300s, want 413 naming the limit", c.name, w.Code, w.Body)
		}
	}
	two := `{"data": [` + fakemodel.RowJSON + `, ` + fakemodel.RowJSON + `]}`
	if w := post(h, "/score", "application/json", two); w.Code != 200 {
		t.Errorf("2 rows: %d %s", w.Code, w.Body)
	}
}
