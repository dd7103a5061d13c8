package load

import (
	"encoding/json"
	"sort"
	"strings"

	"cuelang.org/go/cue"
)

// JSONSchema returns a JSON Schema (draft 2020-12) for YAML/JSON editors,
// generated from the embedded CUE. It covers what JSON Schema can express
// (fields, types, enums, patterns, bounds, required fields, defaults, one
// schema per step kind chosen by "kind"); references between steps,
// output types, cycles and durations are checked by `mlflow validate`.
//
// cuelang.org/go/encoding/jsonschema.Generate (experimental in v0.17) was
// tried first: it keeps embedded definitions as $ref siblings of
// "additionalProperties": false, which rejects every common step field, and
// turns an open struct into "const": {}. Walking the evaluated value
// ourselves gives a schema editors can use.
func JSONSchema() ([]byte, error) {
	s := theSchema()
	s.mu.Lock()
	defer s.mu.Unlock()
	root := jsGen(s.workflow)
	var kinds []any
	for _, name := range s.names {
		kinds = append(kinds, jsGen(s.kinds[name].config))
	}
	if props, ok := root["properties"].(map[string]any); ok {
		if steps, ok := props["steps"].(map[string]any); ok {
			steps["additionalProperties"] = map[string]any{"oneOf": kinds}
			steps["propertyNames"] = map[string]any{"pattern": nameRe.String()}
			steps["minProperties"] = 1
		}
	}
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["title"] = "mlflow workflow"
	root["description"] = "A workflow for mlflow (YAML or JSON; CUE files use the same schema). " +
		"Generated from the embedded CUE schema (mlflow schema); run `mlflow validate` for the " +
		"checks JSON Schema cannot express: references between steps, output types, cycles, durations."
	return json.MarshalIndent(root, "", "  ")
}

// jsGen converts one evaluated CUE schema value.
func jsGen(v cue.Value) map[string]any {
	out := jsGen1(v)
	// "${{ params.n }}" stands for a value until the loader substitutes
	// it: accept it wherever a plain string would not do.
	_, enum := out["enum"]
	_, pattern := out["pattern"]
	switch t := out["type"]; {
	case t == "integer" || t == "number" || t == "boolean" || enum || t == "string" && pattern:
		out = map[string]any{"anyOf": []any{out, paramExprSchema}}
	}
	if doc := docText(v); doc != "" {
		if _, ok := out["description"]; !ok {
			out["description"] = doc
		}
	}
	if d, ok := v.Default(); ok && d.IsConcrete() && d.Kind() != cue.ListKind && d.Kind() != cue.StructKind {
		var x any
		if err := d.Decode(&x); err == nil {
			out["default"] = x
		}
	}
	return out
}

func jsGen1(v cue.Value) map[string]any {
	op, args := v.Expr()
	if op == cue.NoOp && len(args) == 1 {
		// A value with a default (*1 | int & >0) shows as NoOp around
		// the whole disjunction; the default is reported separately.
		if op2, _ := args[0].Expr(); op2 != cue.NoOp {
			v = args[0]
			op, args = v.Expr()
		}
	}
	if op == cue.SelectorOp {
		// A reference to another definition (#Duration, #Bound): describe
		// what it refers to.
		if r, p := v.ReferencePath(); r.Exists() && len(p.Selectors()) > 0 {
			return jsGen1(r.LookupPath(p))
		}
	}
	if v.IncompleteKind() == cue.TopKind {
		return map[string]any{} // _: anything
	}
	// A comprehension whose condition is open (automl's "if task == ...")
	// leaves the kind bottom, yet the fields are known.
	if k := v.IncompleteKind(); (k&cue.StructKind != 0 || k == cue.BottomKind) && op != cue.OrOp {
		// Embeddings and comprehensions make a struct an & of parts;
		// its evaluated fields are what a file must match.
		return jsStruct(v)
	}
	switch op {
	case cue.OrOp:
		var consts []any
		var branches []any
		for _, a := range args {
			if a.IsConcrete() && a.Kind() != cue.StructKind && a.Kind() != cue.ListKind {
				var x any
				if a.Decode(&x) == nil {
					consts = append(consts, x)
					continue
				}
			}
			branches = append(branches, jsGen(a))
		}
		if len(branches) == 0 {
			return map[string]any{"enum": consts}
		}
		if len(consts) > 0 {
			branches = append(branches, map[string]any{"enum": consts})
		}
		return map[string]any{"anyOf": branches}
	case cue.AndOp:
		out := map[string]any{}
		var extra []any
		for _, a := range args {
			for k, x := range jsGen1(a) {
				if _, dup := out[k]; dup && k != "type" {
					extra = append(extra, map[string]any{k: x})
					continue
				}
				if k == "type" {
					// "number" & "integer" is "integer".
					if t, ok := out[k]; ok && t == "integer" {
						continue
					}
				}
				out[k] = x
			}
		}
		if len(extra) > 0 {
			out["allOf"] = extra
		}
		return out
	case cue.GreaterThanEqualOp, cue.GreaterThanOp, cue.LessThanEqualOp, cue.LessThanOp:
		var n any
		if len(args) == 1 && args[0].Decode(&n) == nil {
			key := map[cue.Op]string{cue.GreaterThanEqualOp: "minimum", cue.GreaterThanOp: "exclusiveMinimum",
				cue.LessThanEqualOp: "maximum", cue.LessThanOp: "exclusiveMaximum"}[op]
			return map[string]any{key: n}
		}
	case cue.RegexMatchOp:
		if len(args) == 1 {
			if re, err := args[0].String(); err == nil {
				return map[string]any{"type": "string", "pattern": re}
			}
		}
	case cue.NotEqualOp:
		var x any
		if len(args) == 1 && args[0].Decode(&x) == nil {
			return map[string]any{"not": map[string]any{"const": x}}
		}
	case cue.CallOp:
		// Validators (time.Duration(), strings.MinRunes(1)) have no JSON
		// Schema form; the kind (string) is still known below.
		return typeOf(v.IncompleteKind())
	}
	if v.IsConcrete() && v.Kind() != cue.StructKind && v.Kind() != cue.ListKind {
		var x any
		if v.Decode(&x) == nil {
			return map[string]any{"const": x}
		}
	}
	switch k := v.IncompleteKind(); {
	case k == cue.StructKind:
		return jsStruct(v)
	case k == cue.ListKind:
		out := map[string]any{"type": "array"}
		if e := v.LookupPath(cue.MakePath(cue.AnyIndex)); e.Exists() {
			out["items"] = jsGen(e)
		}
		if n := fixedLen(v); n > 0 {
			out["minItems"] = n
		}
		return out
	default:
		return typeOf(k)
	}
}

// fixedLen counts a list schema's leading fixed elements ([string, ...string]).
func fixedLen(v cue.Value) int {
	n := 0
	for ; n < 16; n++ {
		if !v.LookupPath(cue.MakePath(cue.Index(n))).Exists() {
			break
		}
	}
	return n
}

var paramExprSchema = map[string]any{"type": "string", "pattern": `\$\{\{\s*params\.[A-Za-z0-9_-]+\s*\}\}`}

func jsStruct(v cue.Value) map[string]any {
	out := map[string]any{"type": "object"}
	props := map[string]any{}
	var required []string
	it, err := v.Fields(cue.Optional(true), cue.Docs(true))
	if err == nil {
		for it.Next() {
			sel := it.Selector()
			name := sel.Unquoted()
			fv := it.Value()
			props[name] = jsGen(fv)
			_, hasDefault := fv.Default()
			switch {
			case sel.ConstraintType() == cue.RequiredConstraint:
				required = append(required, name)
			case sel.ConstraintType() == cue.OptionalConstraint:
			case fv.IsConcrete() && !hasDefault:
				// A fixed value (kind: "exec") must be written.
				required = append(required, name)
			}
		}
	}
	if len(props) > 0 {
		out["properties"] = props
	}
	if len(required) > 0 {
		sort.Strings(required)
		out["required"] = required
	}
	if p := v.LookupPath(cue.MakePath(cue.AnyString)); p.Exists() {
		out["additionalProperties"] = jsGen(p)
	} else if v.IncompleteKind() == cue.BottomKind || !v.Allows(cue.Str("\x00not-a-field")) {
		// Bottom: a struct whose comprehension waits for data (automl's
		// "if task == ...") cannot answer Allows; every such struct in
		// the schema is a closed definition.
		out["additionalProperties"] = false
	}
	return out
}

func typeOf(k cue.Kind) map[string]any {
	var types []any
	for _, t := range []struct {
		k    cue.Kind
		name string
	}{{cue.NullKind, "null"}, {cue.BoolKind, "boolean"}, {cue.StringKind, "string"},
		{cue.StructKind, "object"}, {cue.ListKind, "array"}} {
		if k&t.k != 0 {
			types = append(types, t.name)
		}
	}
	switch {
	case k&cue.NumberKind == cue.NumberKind:
		types = append(types, "number")
	case k&cue.IntKind != 0:
		types = append(types, "integer")
	case k&cue.FloatKind != 0:
		types = append(types, "number")
	}
	switch len(types) {
	case 0:
		return map[string]any{}
	case 1:
		return map[string]any{"type": types[0]}
	}
	return map[string]any{"type": types}
}

func docText(v cue.Value) string {
	var parts []string
	for _, d := range v.Doc() {
		if t := strings.TrimSpace(d.Text()); t != "" {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, "\n")
}
