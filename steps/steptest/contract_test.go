package steptest

import (
	"reflect"
	"slices"
	"testing"

	"github.com/mlflow-go/mlflow/schema/load"
)

// Every output type has one Go type (internal/artifact) with the fields
// and optionality of its schema (#Artifacts), and #Type lists exactly them.
func TestArtifactsMatchSchema(t *testing.T) {
	diff, err := ArtifactMismatches()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diff {
		t.Error(d)
	}
}

// The comparison itself finds each kind of drift: a field only in the
// schema, one only in Go, a difference in optionality, and the same in a
// nested struct.
func TestMismatchesFindDrift(t *testing.T) {
	sh := &load.Shape{Fields: map[string]*load.FieldShape{
		"name":  {},
		"extra": {Optional: true},
		"opt":   {Optional: true},
		"inner": {Struct: &load.Shape{Fields: map[string]*load.FieldShape{"a": {}, "b": {}}}},
	}}
	type inner struct {
		A int `json:"a"`
	}
	type cfg struct {
		Name  string `json:"name"`
		Opt   string `json:"opt"`
		Gone  int    `json:"gone,omitempty"`
		Inner inner  `json:"inner"`
	}
	got := Mismatches("x", sh, reflect.TypeFor[cfg]())
	want := []string{
		"x.extra: in the schema, not in Go (steptest.cfg)",
		"x.gone: in Go (steptest.cfg), not in the schema",
		"x.inner.b: in the schema, not in Go (steptest.inner)",
		"x.opt: optional in Go false, in the schema true",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Mismatches =\n%q\nwant\n%q", got, want)
	}
}
