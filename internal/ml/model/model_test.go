package model

import (
	"math"
	"testing"

	"github.com/mlflow-go/mlflow/internal/ml/linear"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

func tiny(t *testing.T) *Model {
	t.Helper()
	lm := &linear.Model{Task: linear.Binary, Classes: 2, Slots: 4,
		Features: []linear.Feature{
			{Name: "x", Base: 0, Num: &linear.Numeric{Std: 1, Missing: -1}},
			{Name: "c", Base: 1, Cat: &linear.Categorical{Slot: []int32{1, -1}, Other: 2, Missing: 3}},
		},
		W: [][]float64{{1, 2, 0, -2}}, B: []float64{0}}
	m, err := New(Artifact{Format: Format, Version: FormatVersion, Task: Classification, Classes: []string{"no", "yes"},
		Inputs:  []Input{{Name: "x", Type: "number"}, {Name: "c", Type: "string", Levels: []string{"red", "blue"}}},
		Members: []Member{{Weight: 1, Linear: []*linear.Model{lm}}}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCode(t *testing.T) {
	m := tiny(t)
	for _, c := range []struct {
		col  int
		s    string
		want float64
	}{{0, "1.5", 1.5}, {0, "NA", math.NaN()}, {0, "", math.NaN()}, {1, "blue", 1}, {1, " red ", 0}, {1, "green", math.NaN()}, {1, "?", math.NaN()}} {
		got := m.Code(c.col, c.s)
		if got != c.want && !(math.IsNaN(got) && math.IsNaN(c.want)) {
			t.Errorf("Code(%d, %q) = %v, want %v", c.col, c.s, got, c.want)
		}
	}
	if _, err := m.Value(0, "abc"); err == nil {
		t.Error(`Value accepted "abc" in a numeric column`)
	}
}

// A frame with its own dictionary order is matched by spelling, not by code.
func TestMatrixMapsBySpelling(t *testing.T) {
	m := tiny(t)
	f := &tabular.Frame{Rows: 3, Columns: []*tabular.Column{
		{Name: "c", Type: tabular.Categorical, Codes: []int32{0, 1, -1}, Levels: []string{"blue", "green"}},
		{Name: "x", Type: tabular.Numeric, Num: []float64{1, 2, math.NaN()}},
	}}
	x, err := m.Matrix(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1, 1, 2, math.NaN(), math.NaN(), math.NaN()}
	for i := range want {
		if x[i] != want[i] && !(math.IsNaN(x[i]) && math.IsNaN(want[i])) {
			t.Fatalf("matrix %v, want %v", x, want)
		}
	}
	f.Columns = f.Columns[:1]
	if _, err := m.Matrix(f); err == nil {
		t.Error("a missing input column is not an error")
	}
}
