package load

import (
	"encoding/json"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/encoding/jsonschema"
)

func TestJSONSchema(t *testing.T) {
	b, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	if root["additionalProperties"] != false {
		t.Errorf("top level is open: %v", root["additionalProperties"])
	}
	if req, _ := json.Marshal(root["required"]); string(req) != `["name","steps"]` {
		t.Errorf("required = %s", req)
	}
	steps := root["properties"].(map[string]any)["steps"].(map[string]any)
	oneOf := steps["additionalProperties"].(map[string]any)["oneOf"].([]any)
	if len(oneOf) != len(Kinds()) {
		t.Fatalf("%d step schemas, want %d", len(oneOf), len(Kinds()))
	}
	for i, k := range Kinds() {
		branch := oneOf[i].(map[string]any)
		props := branch["properties"].(map[string]any)
		if c := props["kind"].(map[string]any)["const"]; c != k.Kind {
			t.Errorf("branch %d: kind const %v, want %s", i, c, k.Kind)
		}
		for _, common := range []string{"needs", "timeout", "retry", "cache", "description"} {
			if _, ok := props[common]; !ok {
				t.Errorf("%s: no %s", k.Kind, common)
			}
		}
		if branch["additionalProperties"] != false {
			t.Errorf("%s: open", k.Kind)
		}
	}

	// Round trip: CUE reads the JSON Schema back; the good workflow must
	// pass it and broken ones must not.
	ctx := cuecontext.New()
	sv := ctx.CompileBytes(b)
	f, err := jsonschema.Extract(sv, &jsonschema.Config{})
	if err != nil {
		t.Fatal(err)
	}
	schemaV := ctx.BuildFile(f)
	if err := schemaV.Err(); err != nil {
		t.Fatal(err)
	}
	check := func(doc string) error {
		return schemaV.Unify(ctx.CompileString(doc)).Validate(cue.Concrete(true))
	}
	if err := check(goodSources[".json"]); err != nil {
		t.Errorf("good workflow rejected: %v", err)
	}
	for _, bad := range []string{
		`{"name": "w", "steps": {"a": {"kind": "exec", "command": ["x"], "bogus": 1}}}`,
		`{"name": "w", "steps": {"a": {"kind": "frob"}}}`,
		`{"name": "w", "steps": {"a": {"kind": "dataset"}}}`,
		`{"name": "w", "steps": {"a": {"kind": "benchmark", "endpoint": "e", "concurrency": 0}}}`,
		`{"name": "w", "steps": {}}`,
		`{"steps": {"a": {"kind": "exec", "command": ["x"]}}}`,
	} {
		if check(bad) == nil {
			t.Errorf("JSON Schema accepts %s", bad)
		}
	}
	if !strings.Contains(string(b), `"$schema": "https://json-schema.org/draft/2020-12/schema"`) {
		t.Error("no $schema")
	}
}
