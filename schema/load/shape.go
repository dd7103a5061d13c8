package load

import (
	"fmt"
	"slices"

	"cuelang.org/go/cue"
)

// Shape is the field structure of a schema struct: what a Go type that
// claims to be the same thing (a kind's Config, an output type in
// internal/artifact) must have. Contract tests compare the two.
type Shape struct {
	Fields map[string]*FieldShape
	// Pattern is set when the struct also takes fields by pattern
	// ([string]: T): a Go map, or a Go struct's catch-all field.
	Pattern bool
	// Elem is the shape of a pattern field's value when it is a struct.
	Elem *Shape
}

// FieldShape is one named field.
type FieldShape struct {
	// Optional is true when a user or producer may leave the field out:
	// it is marked ?, or has a default.
	Optional bool
	// Struct is the value's shape when the value is a struct (or a list of
	// structs); nil for scalars, disjunctions and references.
	Struct *Shape
}

// ConfigShape is the shape of a step kind's config, without the common
// fields every step has (kind, needs, timeout, retry, cache, description),
// which the engine handles and a kind's Config does not declare.
func ConfigShape(kind string) (*Shape, error) {
	s := theSchema()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.kinds[kind]
	if k == nil {
		return nil, fmt.Errorf("no step kind %q in the schema", kind)
	}
	sh := shapeOf(k.config)
	for _, c := range s.common {
		delete(sh.Fields, c)
	}
	return sh, nil
}

// ArtifactShape is the shape of an output type (#Artifacts[typ]).
func ArtifactShape(typ string) (*Shape, error) {
	s := theSchema()
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.root.LookupPath(cue.MakePath(cue.Def("Artifacts"), cue.Str(typ)))
	if !v.Exists() {
		return nil, fmt.Errorf("no output type %q in #Artifacts", typ)
	}
	if v.IncompleteKind() != cue.StructKind {
		return nil, nil // a scalar type ("number")
	}
	return shapeOf(v), nil
}

// Types lists the output types: #Type's values, which must be exactly the
// fields of #Artifacts (a test checks it).
func Types() (types, artifacts []string, err error) {
	s := theSchema()
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.root.LookupPath(cue.MakePath(cue.Def("Type")))
	op, args := t.Expr()
	if op != cue.OrOp {
		return nil, nil, fmt.Errorf("#Type is not a disjunction")
	}
	for _, a := range args {
		str, err := a.String()
		if err != nil {
			return nil, nil, fmt.Errorf("#Type: %v", err)
		}
		types = append(types, str)
	}
	artifacts = fieldNames(s.root.LookupPath(cue.MakePath(cue.Def("Artifacts"))))
	slices.Sort(types)
	return types, artifacts, nil
}

func shapeOf(v cue.Value) *Shape {
	sh := &Shape{Fields: map[string]*FieldShape{}}
	if p := v.LookupPath(cue.MakePath(cue.AnyString)); p.Exists() {
		sh.Pattern = true
		sh.Elem = structOf(p)
	}
	it, err := v.Fields(cue.Optional(true), cue.Patterns(true))
	if err != nil {
		return sh
	}
	for it.Next() {
		ft := it.FieldType()
		fv := it.Value()
		if ft&cue.PatternConstraint != 0 {
			sh.Pattern = true
			sh.Elem = structOf(fv)
			continue
		}
		_, hasDefault := fv.Default()
		f := &FieldShape{
			Optional: ft&cue.RequiredConstraint == 0 && (ft&cue.OptionalConstraint != 0 || hasDefault),
			Struct:   structOf(fv),
		}
		sh.Fields[it.Selector().Unquoted()] = f
	}
	return sh
}

// structOf is v's shape when v is a struct or a list of structs.
func structOf(v cue.Value) *Shape {
	switch v.IncompleteKind() {
	case cue.StructKind:
		return shapeOf(v)
	case cue.ListKind:
		if e := v.LookupPath(cue.MakePath(cue.AnyIndex)); e.Exists() && e.IncompleteKind() == cue.StructKind {
			return shapeOf(e)
		}
	}
	return nil
}
