package steptest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/schema/load"
)

// Mismatches lists every way Go type t differs from the schema shape sh:
// a field on one side only, or a field optional on one side and required
// on the other. A Go field is optional when its json tag says omitempty
// or omitzero; a map stands for a struct of pattern fields; a field tagged
// `artifact:"scores"` (json:"-") stands for the pattern fields beside the
// named ones. where prefixes each message ("dataset config", ...).
func Mismatches(where string, sh *load.Shape, t reflect.Type) []string {
	var out []string
	compare(&out, where, sh, t)
	slices.Sort(out)
	return out
}

func compare(out *[]string, where string, sh *load.Shape, t reflect.Type) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() == reflect.Map {
		if !sh.Pattern || len(sh.Fields) > 0 {
			*out = append(*out, fmt.Sprintf("%s: Go has a map, the schema a struct with fields %v", where, names(sh)))
			return
		}
		if sh.Elem != nil {
			compare(out, where+".*", sh.Elem, t.Elem())
		}
		return
	}
	if t.Kind() != reflect.Struct {
		*out = append(*out, fmt.Sprintf("%s: Go has %s, the schema a struct", where, t))
		return
	}
	goFields := map[string]reflect.StructField{}
	pattern := false
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Tag.Get("artifact") == "scores" {
			pattern = true
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			*out = append(*out, fmt.Sprintf("%s.%s: Go field without a json name", where, f.Name))
			continue
		}
		goFields[name] = f
	}
	if pattern != sh.Pattern {
		*out = append(*out, fmt.Sprintf("%s: pattern fields: Go %v, schema %v", where, pattern, sh.Pattern))
	}
	for name, fs := range sh.Fields {
		f, ok := goFields[name]
		if !ok {
			*out = append(*out, fmt.Sprintf("%s.%s: in the schema, not in Go (%s)", where, name, t))
			continue
		}
		if goOpt := optional(f); goOpt != fs.Optional {
			*out = append(*out, fmt.Sprintf("%s.%s: optional in Go %v, in the schema %v", where, name, goOpt, fs.Optional))
		}
		if fs.Struct != nil && !decodesItself(f.Type) {
			compare(out, where+"."+name, fs.Struct, f.Type)
		}
	}
	for name := range goFields {
		if _, ok := sh.Fields[name]; !ok {
			*out = append(*out, fmt.Sprintf("%s.%s: in Go (%s), not in the schema", where, name, t))
		}
	}
}

func optional(f reflect.StructField) bool {
	_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
	for o := range strings.SplitSeq(opts, ",") {
		if o == "omitempty" || o == "omitzero" {
			return true
		}
	}
	return false
}

// decodesItself is true for types that read a union (a string or an
// object, say) by hand: their fields are not the schema's.
func decodesItself(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t == reflect.TypeFor[artifact.Metrics]() {
		return false // reads by hand, but its fields are the schema's
	}
	return reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]())
}

func names(sh *load.Shape) []string {
	var n []string
	for k := range sh.Fields {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// ConfigMismatches holds a kind's Go config type against its schema.
func ConfigMismatches(kind string, config any) ([]string, error) {
	sh, err := load.ConfigShape(kind)
	if err != nil {
		return nil, err
	}
	return Mismatches(kind+" config", sh, reflect.TypeOf(config)), nil
}

// ArtifactMismatches holds every output type of internal/artifact against
// #Artifacts, and both against #Type.
func ArtifactMismatches() ([]string, error) {
	types, arts, err := load.Types()
	if err != nil {
		return nil, err
	}
	var out []string
	if !slices.Equal(types, arts) {
		out = append(out, fmt.Sprintf("#Type lists %v, #Artifacts has %v", types, arts))
	}
	for _, typ := range types {
		gt, ok := artifact.Types[typ]
		if !ok {
			out = append(out, fmt.Sprintf("output type %s: no Go type in artifact.Types", typ))
			continue
		}
		sh, err := load.ArtifactShape(typ)
		if err != nil {
			return nil, err
		}
		if sh == nil {
			continue
		}
		out = append(out, Mismatches("output type "+typ, sh, gt)...)
	}
	for typ := range artifact.Types {
		if !slices.Contains(types, typ) {
			out = append(out, fmt.Sprintf("artifact.Types has %s, which #Type does not list", typ))
		}
	}
	return out, nil
}

// checkOutput checks that v is of output type typ: its Go type, or JSON
// that decodes strictly into it.
func checkOutput(v any, typ string) error {
	gt, ok := artifact.Types[typ]
	if !ok {
		return fmt.Errorf("no Go type for output type %s", typ)
	}
	if typ == "number" {
		switch reflect.ValueOf(v).Kind() {
		case reflect.Int, reflect.Int64, reflect.Float64:
			return nil
		}
		return fmt.Errorf("got %T, want a number", v)
	}
	if reflect.TypeOf(v) != gt {
		return fmt.Errorf("got %T, want %s", v, gt)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return artifact.Decode(b, reflect.New(gt).Interface())
}
