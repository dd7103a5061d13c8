package serve_test

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mlflow-go/mlflow/internal/server/fakemodel"
	"github.com/mlflow-go/mlflow/internal/server/serve"
)

// secretModel is the fake with training rows of its own, as the trained
// model keeps them: nothing of them may reach a spec.
type secretModel struct{ *fakemodel.Model }

func (secretModel) Examples() []map[string]any {
	r := fakemodel.Row()
	r["job"], r["age"], r["nr.employed"] = "secret-job", 12345, 4242.4242
	return []map[string]any{r}
}

// TestSpecsPublishNoTrainingRow: the specs and the docs page are read
// without a key; their examples come from each input's Example (a typical
// value), never from the model's training rows.
func TestSpecsPublishNoTrainingRow(t *testing.T) {
	h := serve.New(serve.Options{Endpoint: "bankmarketing"})
	ins := slices.Clone(fakemodel.Columns)
	for i := range ins {
		ins[i].Example = nil // no typical values: neutral ones
	}
	if err := h.Swap(secretModel{fakemodel.New("bankmarketing", 3)}, ins); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/swagger.json", "/swagger.json?version=3", "/swagger.json?version=3.1", "/openapi.json", "/openapi.json?protocol=azure", "/docs"} {
		w := do(h, call{method: "GET", path: p})
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", p, w.Code, w.Body)
		}
		for _, secret := range []string{"secret-job", "12345", "4242.4242"} {
			if strings.Contains(w.Body.String(), secret) {
				t.Errorf("%s publishes the training row's %s", p, secret)
			}
		}
	}
	// Neutral values: the first level, zero.
	w := do(h, call{method: "GET", path: "/openapi.json"})
	var doc struct {
		Components struct {
			Schemas map[string]struct{ Example json.RawMessage }
		}
	}
	json.Unmarshal(w.Body.Bytes(), &doc)
	var ex struct{ Data []map[string]any }
	json.Unmarshal(doc.Components.Schemas["ClassicInput"].Example, &ex)
	if len(ex.Data) != 1 || ex.Data[0]["job"] != "admin." || ex.Data[0]["age"] != 0.0 {
		t.Errorf("neutral example: %s", doc.Components.Schemas["ClassicInput"].Example)
	}
}

// TestSpecColumnOrder: a record's properties and the example record are
// listed in the model's column order, as Azure lists them.
func TestSpecColumnOrder(t *testing.T) {
	h := newHandler(t, serve.Options{Endpoint: "bankmarketing"})
	var names []string
	for _, c := range fakemodel.Columns {
		names = append(names, regexp.QuoteMeta(`"`+c.Name+`"`))
	}
	inOrder := regexp.MustCompile(`(?s)` + strings.Join(names, `.*?`))
	for _, c := range []struct{ path, from, to string }{
		{"/swagger.json", `"properties": {`, `"required"`},
		{"/openapi.json", `"Record": {`, `"required"`},
		{"/openapi.json", `"ClassicInput": {`, `"properties"`},
	} {
		body := do(h, call{method: "GET", path: c.path}).Body.String()
		i := strings.Index(body, c.from)
		if i < 0 {
			t.Fatalf("%s: no %s", c.path, c.from)
		}
		if !inOrder.MatchString(body[i:]) {
			t.Errorf("%s: after %s the columns are not in model order: %.600s", c.path, c.from, body[i:])
		}
	}
}

// TestAnswersMatchSpecs sends every protocol's requests and checks each
// answer (status, content type, body) against what the spec we publish for
// that route says, so a client generated from any of our specs decodes
// every answer we send.
func TestAnswersMatchSpecs(t *testing.T) {
	for _, classic := range []string{serve.ClassicString, serve.ClassicObject} {
		t.Run(classic, func(t *testing.T) {
			h := newHandler(t, serve.Options{Endpoint: "bankmarketing", ClassicResponse: classic})
			specs := map[string]*spec{}
			for _, p := range []string{"/swagger.json", "/swagger.json?version=3", "/swagger.json?version=3.1", "/openapi.json"} {
				w := do(h, call{method: "GET", path: p})
				var doc map[string]any
				if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				specs[p] = &spec{doc: doc}
				// The specs' own examples hold to their schemas.
				for _, e := range specs[p].examples() {
					if errs := specs[p].validate(e.schema, e.value, e.where); len(errs) > 0 {
						t.Errorf("%s: %s", p, strings.Join(errs, "\n"))
					}
				}
			}
			two := `[` + row + `, ` + row2 + `]`
			js := "application/json"
			score := []call{
				{method: "POST", path: "/score", ctype: js, key: key1, body: `{"Inputs": {"data": ` + two + `}, "GlobalParameters": {"method": "predict"}}`},
				{method: "POST", path: "/score", ctype: js, key: key1, body: `{"Inputs": {"data": ` + two + `}, "GlobalParameters": {"method": "predict_proba"}}`},
				{method: "POST", path: "/score", ctype: js, key: key1, body: `{"Inputs": {"data": [{"age": "x"}]}}`},
				{method: "POST", path: "/score", ctype: js, key: "wrong", body: `{"Inputs": {"data": ` + two + `}}`},
				{method: "GET", path: "/"},
				{method: "GET", path: "/swagger.json"},
				{method: "GET", path: "/swagger.json?version=7"},
			}
			classicCalls := []call{
				{method: "POST", path: "/score", ctype: js, key: key1, body: `{"data": ` + two + `}`},
				{method: "POST", path: "/score", ctype: js, key: key1, body: `{"data": ` + two + `, "method": "predict_proba"}`},
			}
			var split, columns string
			{
				var rec map[string]any
				encodingJSON(row2, &rec)
				var cols []string
				var vals []any
				inputs := map[string]any{}
				for _, c := range fakemodel.Columns {
					cols, vals = append(cols, c.Name), append(vals, rec[c.Name])
					inputs[c.Name] = []any{rec[c.Name]}
				}
				split = mustJSON(map[string]any{"dataframe_split": map[string]any{"columns": cols, "data": [][]any{vals}}})
				columns = mustJSON(map[string]any{"inputs": inputs})
			}
			all := []call{
				{method: "POST", path: "/invocations", ctype: js, key: key1, body: split},
				{method: "POST", path: "/invocations", ctype: js, key: key1, body: `{"dataframe_records": ` + two + `}`},
				{method: "POST", path: "/invocations", ctype: js, key: key1, body: `{"instances": ` + two + `}`},
				{method: "POST", path: "/invocations", ctype: js, key: key1, body: columns},
				{method: "POST", path: "/invocations", ctype: "text/csv", key: key1, body: csvBody()},
				{method: "POST", path: "/invocations", ctype: js, key: key1, body: `{"records": []}`},
				{method: "POST", path: "/invocations", ctype: "application/json; format=pandas-split", key: key1, body: `{}`},
				{method: "POST", path: "/invocations", ctype: js, key: "wrong", body: `{}`},
				{method: "GET", path: "/ping"},
				{method: "GET", path: "/health"},
				{method: "GET", path: "/version"},
				{method: "POST", path: "/v2/models/bankmarketing/infer", ctype: js, key: key1, body: oipBody()},
				{method: "POST", path: "/v2/models/bankmarketing/versions/3/infer", ctype: js, key: key1, body: oipWith(`[{"name": "predict_proba"}]`)},
				{method: "POST", path: "/v2/models/bankmarketing/infer", ctype: js, key: key1, body: oipWith(`[{"name": "predict"}, {"name": "predict_proba"}]`)},
				{method: "POST", path: "/v2/models/bankmarketing/infer", ctype: js, key: key1, body: `{"inputs": []}`},
				{method: "POST", path: "/v2/models/other/infer", ctype: js, key: key1, body: oipBody()},
				{method: "GET", path: "/v2"},
				{method: "GET", path: "/v2/"},
				{method: "GET", path: "/v2/health/live"},
				{method: "GET", path: "/v2/health/ready"},
				{method: "GET", path: "/v2/models/bankmarketing"},
				{method: "GET", path: "/v2/models/bankmarketing/ready"},
				{method: "GET", path: "/v2/models/bankmarketing/versions/3"},
				{method: "GET", path: "/v2/models/bankmarketing/versions/3/ready"},
				{method: "GET", path: "/v2/models/bankmarketing/versions/9/ready"},
				{method: "GET", path: "/livez"},
				{method: "GET", path: "/readyz"},
				{method: "GET", path: "/metrics"},
				{method: "GET", path: "/docs"},
				{method: "GET", path: "/openapi.json?protocol=mlflow"},
			}
			check := func(specPath string, calls []call) {
				sp := specs[specPath]
				for _, c := range calls {
					w := do(h, c)
					for _, e := range sp.check(c, w) {
						t.Errorf("%s %s (%.60s) against %s: %s", c.method, c.path, c.body, specPath, e)
					}
				}
			}
			check("/swagger.json", score)
			for _, p := range []string{"/swagger.json?version=3", "/swagger.json?version=3.1"} {
				check(p, append(score, classicCalls...))
			}
			check("/openapi.json", append(append(score, classicCalls...), all...))
		})
	}
}

func encodingJSON(s string, v any) {
	if err := json.Unmarshal([]byte(s), v); err != nil {
		panic(err)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// oipWith is oipBody asking for the given outputs.
func oipWith(outputs string) string {
	var b map[string]any
	encodingJSON(oipBody(), &b)
	var o any
	encodingJSON(outputs, &o)
	b["outputs"] = o
	return mustJSON(b)
}

// spec is a Swagger 2.0 or OpenAPI 3 document, with the subset of JSON
// Schema our specs use: $ref, type, enum, required, properties, items,
// oneOf, minItems, maxItems.
type spec struct{ doc map[string]any }

func (s *spec) swagger2() bool { return s.doc["swagger"] == "2.0" }

type example struct {
	where  string
	schema any
	value  any
}

// examples are the schemas' own examples.
func (s *spec) examples() []example {
	var out []example
	defs, _ := s.doc["definitions"].(map[string]any)
	if !s.swagger2() {
		comp, _ := s.doc["components"].(map[string]any)
		defs, _ = comp["schemas"].(map[string]any)
	}
	for name, d := range defs {
		if ex, ok := d.(map[string]any)["example"]; ok {
			out = append(out, example{"example of " + name, d, ex})
		}
	}
	return out
}

// operation finds the path template matching path (its {params} match one
// segment) and the method's operation.
func (s *spec) operation(method, path string) (map[string]any, string) {
	path, _, _ = strings.Cut(path, "?")
	paths, _ := s.doc["paths"].(map[string]any)
	for tmpl, item := range paths {
		re := "^" + regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(regexp.QuoteMeta(tmpl), `[^/]+`) + "$"
		if regexp.MustCompile(re).MatchString(path) {
			op, _ := item.(map[string]any)[strings.ToLower(method)].(map[string]any)
			return op, tmpl
		}
	}
	return nil, ""
}

// check returns what is wrong with answer w to c under this spec: a route
// or status the spec does not document, a content type it does not list,
// a body its schema refuses.
func (s *spec) check(c call, w *httptest.ResponseRecorder) []string {
	op, tmpl := s.operation(c.method, c.path)
	if op == nil {
		return []string{"route not documented"}
	}
	responses, _ := op["responses"].(map[string]any)
	status := fmt.Sprint(w.Code)
	resp, ok := responses[status].(map[string]any)
	if !ok {
		if resp, ok = responses["default"].(map[string]any); !ok {
			return []string{fmt.Sprintf("status %d not documented for %s (body %.200s)", w.Code, tmpl, w.Body)}
		}
	}
	mt, _, err := mime.ParseMediaType(w.Header().Get("Content-Type"))
	if err != nil {
		return []string{fmt.Sprintf("content type %q: %v", w.Header().Get("Content-Type"), err)}
	}
	var schema any
	if s.swagger2() {
		produces, _ := op["produces"].([]any)
		if produces == nil {
			produces, _ = s.doc["produces"].([]any)
		}
		if !slices.Contains(produces, any(mt)) {
			return []string{fmt.Sprintf("status %d answers %s, documented %v", w.Code, mt, produces)}
		}
		schema = resp["schema"]
	} else {
		content, _ := resp["content"].(map[string]any)
		media, ok := content[mt].(map[string]any)
		if !ok {
			var listed []string
			for k := range content {
				listed = append(listed, k)
			}
			return []string{fmt.Sprintf("status %d answers %s, documented %v", w.Code, mt, listed)}
		}
		schema = media["schema"]
	}
	if schema == nil {
		return nil
	}
	var body any = w.Body.String()
	if mt == "application/json" {
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			return []string{fmt.Sprintf("status %d: the body is not JSON: %v: %.200s", w.Code, err, w.Body)}
		}
	}
	return s.validate(schema, body, fmt.Sprintf("status %d body %.300s", w.Code, w.Body))
}

// validate checks v against schema; errors name where.
func (s *spec) validate(schema, v any, where string) []string {
	sc, ok := schema.(map[string]any)
	if !ok {
		return []string{where + ": schema is not an object"}
	}
	if ref, ok := sc["$ref"].(string); ok {
		var target any = s.doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			m, _ := target.(map[string]any)
			target = m[part]
		}
		if target == nil {
			return []string{where + ": unresolved " + ref}
		}
		return s.validate(target, v, where)
	}
	if alts, ok := sc["oneOf"].([]any); ok {
		n := 0
		var why []string
		for _, a := range alts {
			errs := s.validate(a, v, where)
			if len(errs) == 0 {
				n++
			}
			why = append(why, errs...)
		}
		if n != 1 {
			return []string{fmt.Sprintf("%s: matches %d of oneOf's %d schemas: %s", where, n, len(alts), strings.Join(why, "; "))}
		}
	}
	if t, ok := sc["type"].(string); ok && !isType(t, v) {
		return []string{fmt.Sprintf("%s: %v is not of type %s", where, short(v), t)}
	}
	if enum, ok := sc["enum"].([]any); ok && !slices.Contains(enum, v) {
		return []string{fmt.Sprintf("%s: %v is not one of %v", where, short(v), enum)}
	}
	var errs []string
	switch x := v.(type) {
	case map[string]any:
		req, _ := sc["required"].([]any)
		for _, r := range req {
			if _, ok := x[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required %v missing", where, r))
			}
		}
		props, _ := sc["properties"].(map[string]any)
		for k, pv := range x {
			if ps, ok := props[k]; ok {
				errs = append(errs, s.validate(ps, pv, where+"."+k)...)
			}
		}
	case []any:
		if m, ok := sc["minItems"].(float64); ok && float64(len(x)) < m {
			errs = append(errs, fmt.Sprintf("%s: %d items, minItems %v", where, len(x), m))
		}
		if m, ok := sc["maxItems"].(float64); ok && float64(len(x)) > m {
			errs = append(errs, fmt.Sprintf("%s: %d items, maxItems %v", where, len(x), m))
		}
		if items, ok := sc["items"]; ok {
			for i, e := range x {
				errs = append(errs, s.validate(items, e, fmt.Sprintf("%s[%d]", where, i))...)
			}
		}
	}
	return errs
}

func isType(t string, v any) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == float64(int64(f))
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "null":
		return v == nil
	}
	return false
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

// TestSpecViews: each protocol view of /openapi.json keeps its own
// operations and the schemas they use, every reference resolving.
func TestSpecViews(t *testing.T) {
	h := newHandler(t, serve.Options{Endpoint: "bankmarketing"})
	for _, c := range []struct {
		view       string
		has, hasnt []string
	}{
		{"azure", []string{"/score", "ServiceOutput", "ClassicInput"}, []string{"/invocations", "MLflowError", "OIPTensor"}},
		{"mlflow", []string{"/invocations", "/ping", "MLflowError", "Record"}, []string{"/score", "ServiceOutput", "OIPTensor"}},
		{"oip", []string{"/v2/models/{m}/infer", "OIPTensor", "OIPError"}, []string{"/score", "/invocations", "Record", "MLflowError"}},
	} {
		w := do(h, call{method: "GET", path: "/openapi.json?protocol=" + c.view})
		var doc struct {
			Paths      map[string]any
			Components struct{ Schemas map[string]any }
		}
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
			t.Fatalf("%s: %d %v", c.view, w.Code, err)
		}
		names := func(n string) bool { return doc.Paths[n] != nil || doc.Components.Schemas[n] != nil }
		for _, n := range c.has {
			if !names(n) {
				t.Errorf("view %s lacks %s", c.view, n)
			}
		}
		for _, n := range c.hasnt {
			if names(n) {
				t.Errorf("view %s has %s", c.view, n)
			}
		}
		for _, m := range regexp.MustCompile(`"#/components/schemas/([^"]+)"`).FindAllStringSubmatch(w.Body.String(), -1) {
			if doc.Components.Schemas[m[1]] == nil {
				t.Errorf("view %s: %s does not resolve", c.view, m[0])
			}
		}
	}
	if w := do(h, call{method: "GET", path: "/openapi.json?protocol=grpc"}); w.Code != 404 || !strings.Contains(w.Body.String(), "use azure, mlflow or oip") {
		t.Errorf("unknown view: %d %s", w.Code, w.Body)
	}
}
