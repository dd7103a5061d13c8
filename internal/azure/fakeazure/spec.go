package fakeazure

import (
	"embed"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
)

// The definitions of the Azure ML REST spec the client's request bodies use; see
// testdata/spec/README.md for their source.
//
//go:embed testdata/spec/definitions.json
var specFS embed.FS

type schema = map[string]any

// Spec is a set of Swagger 2.0 definitions with ARM's polymorphism: a base with
// "discriminator" and subtypes that name it in allOf with "x-ms-discriminator-value".
type Spec struct {
	defs     map[string]schema
	children map[string][]string // base definition -> the definitions deriving from it
}

var (
	specOnce sync.Once
	theSpec  *Spec
	specErr  error
)

func vendoredSpec() (*Spec, error) {
	specOnce.Do(func() {
		b, err := specFS.ReadFile("testdata/spec/definitions.json")
		if err != nil {
			specErr = err
			return
		}
		theSpec, specErr = ParseSpec(b)
	})
	return theSpec, specErr
}

// ParseSpec reads a document holding {"definitions": {...}}.
func ParseSpec(doc []byte) (*Spec, error) {
	var d struct {
		Definitions map[string]schema `json:"definitions"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("spec: %v", err)
	}
	s := &Spec{defs: d.Definitions, children: map[string][]string{}}
	for name, def := range s.defs {
		for _, a := range list(def["allOf"]) {
			if ref := refName(a); ref != "" {
				if _, ok := s.defs[ref]; !ok {
					return nil, fmt.Errorf("spec: %s: allOf names %s, which is not vendored", name, ref)
				}
				s.children[ref] = append(s.children[ref], name)
			}
		}
	}
	for _, c := range s.children {
		sort.Strings(c)
	}
	return s, nil
}

// Validate checks a request body against the vendored definition def and returns one
// message per fault, each naming the JSON path at fault.
func Validate(def string, body any) []string {
	s, err := vendoredSpec()
	if err != nil {
		return []string{err.Error()}
	}
	return s.Validate(def, body)
}

// Validate checks v against definition def.
func (s *Spec) Validate(def string, v any) []string {
	var errs []string
	if _, ok := s.defs[def]; !ok {
		return []string{"spec: no definition " + def + " is vendored"}
	}
	s.validateDef(def, v, "", false, &errs)
	return errs
}

func list(v any) []any { l, _ := v.([]any); return l }

// refName is the definition a $ref names. References into ARM's common-types files keep
// their relative path in the vendored file, so only what follows "#/definitions/" counts
// (the common-types definitions are vendored beside the service's own, without clashes).
func refName(v any) string {
	m, _ := v.(schema)
	r, _ := m["$ref"].(string)
	if i := strings.Index(r, "#/definitions/"); i >= 0 {
		return r[i+len("#/definitions/"):]
	}
	return r
}

func at(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func where(path string) string {
	if path == "" {
		return "body"
	}
	return path
}

// discriminator is the discriminator property that applies to def: its own or an
// ancestor's (through allOf), with the name of the definition declaring it.
func (s *Spec) discriminator(def string) (prop, base string) {
	d := s.defs[def]
	if p, ok := d["discriminator"].(string); ok {
		return p, def
	}
	for _, a := range list(d["allOf"]) {
		if r := refName(a); r != "" {
			if p, b := s.discriminator(r); p != "" {
				return p, b
			}
		}
	}
	return "", ""
}

// subtype is the definition deriving (at any depth) from def whose discriminator value is
// value; the comparison ignores case, as Azure's deserializers do.
func (s *Spec) subtype(def, value string) string {
	for _, c := range s.children[def] {
		if dv, _ := s.defs[c]["x-ms-discriminator-value"].(string); strings.EqualFold(dv, value) {
			return c
		}
		if d := s.subtype(c, value); d != "" {
			return d
		}
	}
	return ""
}

func (s *Spec) values(def string, out *[]string) {
	for _, c := range s.children[def] {
		if dv, _ := s.defs[c]["x-ms-discriminator-value"].(string); dv != "" {
			*out = append(*out, dv)
		}
		s.values(c, out)
	}
}

// validateDef checks v against a named definition, first moving to the subtype its
// discriminator names (dispatched: already there).
func (s *Spec) validateDef(def string, v any, path string, dispatched bool, errs *[]string) {
	if !dispatched {
		if prop, base := s.discriminator(def); prop != "" {
			obj, ok := v.(map[string]any)
			if !ok {
				*errs = append(*errs, fmt.Sprintf("%s: want an object (%s), got %s", where(path), def, kind(v)))
				return
			}
			if val, ok := obj[prop].(string); ok {
				own, _ := s.defs[def]["x-ms-discriminator-value"].(string)
				if !strings.EqualFold(own, val) {
					sub := s.subtype(def, val)
					if sub == "" {
						var vals []string
						s.values(base, &vals)
						sort.Strings(vals)
						*errs = append(*errs, fmt.Sprintf("%s: %q is not a known %s (one of %s)", at(path, prop), val, def, strings.Join(vals, ", ")))
						return
					}
					def = sub
				}
			}
		}
	}
	s.validateSchema(s.defs[def], def, v, path, errs)
}

// merged collects the properties and required names of a schema and its allOf parents.
func (s *Spec) merged(sc schema, props map[string]schema, required map[string]bool) {
	if p, ok := sc["properties"].(schema); ok {
		for k, v := range p {
			if _, seen := props[k]; !seen {
				props[k], _ = v.(schema)
			}
		}
	}
	for _, r := range list(sc["required"]) {
		if n, ok := r.(string); ok {
			required[n] = true
		}
	}
	for _, a := range list(sc["allOf"]) {
		if r := refName(a); r != "" {
			s.merged(s.defs[r], props, required)
		} else if m, ok := a.(schema); ok {
			s.merged(m, props, required)
		}
	}
}

func (s *Spec) validateSchema(sc schema, name string, v any, path string, errs *[]string) {
	if r := refName(sc); r != "" {
		if _, ok := s.defs[r]; !ok {
			*errs = append(*errs, fmt.Sprintf("%s: spec: %s is not vendored", where(path), r))
			return
		}
		s.validateDef(r, v, path, false, errs)
		return
	}
	if v == nil {
		return // ARM takes null for an absent optional value
	}
	typ, _ := sc["type"].(string)
	props, required := map[string]schema{}, map[string]bool{}
	s.merged(sc, props, required)
	if typ == "" && (len(props) > 0 || len(list(sc["allOf"])) > 0) {
		typ = "object"
	}
	switch typ {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			*errs = append(*errs, fmt.Sprintf("%s: want an object%s, got %s", where(path), named(name), kind(v)))
			return
		}
		for _, r := range sortedKeys(required) {
			if _, ok := obj[r]; !ok {
				*errs = append(*errs, fmt.Sprintf("%s: missing required property%s", at(path, r), named(name)))
			}
		}
		for _, k := range sortedKeys(obj) {
			p, known := props[k]
			if !known {
				if ap, ok := sc["additionalProperties"].(schema); ok {
					s.validateSchema(ap, "", obj[k], at(path, k), errs)
				}
				continue // ARM definitions do not forbid extra properties
			}
			if ro, _ := p["readOnly"].(bool); ro {
				*errs = append(*errs, fmt.Sprintf("%s: is read-only and may not be sent", at(path, k)))
				continue
			}
			s.validateSchema(p, "", obj[k], at(path, k), errs)
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			*errs = append(*errs, fmt.Sprintf("%s: want an array, got %s", where(path), kind(v)))
			return
		}
		items, _ := sc["items"].(schema)
		for i, x := range arr {
			s.validateSchema(items, "", x, fmt.Sprintf("%s[%d]", where(path), i), errs)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			*errs = append(*errs, fmt.Sprintf("%s: want a string, got %s", where(path), kind(v)))
			return
		}
		enum := list(sc["enum"])
		if len(enum) == 0 {
			return
		}
		if xe, _ := sc["x-ms-enum"].(schema); xe != nil {
			if open, _ := xe["modelAsString"].(bool); open {
				return // an extensible enum: Azure may add values
			}
		}
		var names []string
		for _, e := range enum {
			es, _ := e.(string)
			if strings.EqualFold(es, str) {
				return
			}
			names = append(names, es)
		}
		*errs = append(*errs, fmt.Sprintf("%s: %q is not one of %s", where(path), str, strings.Join(names, ", ")))
	case "integer", "number":
		f, ok := v.(float64)
		if !ok {
			*errs = append(*errs, fmt.Sprintf("%s: want %s, got %s", where(path), map[string]string{"integer": "an integer", "number": "a number"}[typ], kind(v)))
			return
		}
		if typ == "integer" && f != math.Trunc(f) {
			*errs = append(*errs, fmt.Sprintf("%s: want an integer, got %v", where(path), f))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			*errs = append(*errs, fmt.Sprintf("%s: want a boolean, got %s", where(path), kind(v)))
		}
	}
}

func named(def string) string {
	if def == "" {
		return ""
	}
	return " (" + def + ")"
}

func kind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return fmt.Sprintf("the string %q", x)
	case float64:
		return fmt.Sprintf("the number %v", x)
	case bool:
		return fmt.Sprintf("%v", x)
	}
	return fmt.Sprintf("%T", v)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
