package tabular

import (
	"math"
	"slices"
	"testing"
)

func TestSubset(t *testing.T) {
	f := &Frame{Rows: 3, Target: "y", Columns: []*Column{
		{Name: "x", Type: Numeric, Num: []float64{1, math.NaN(), 3}},
		{Name: "y", Type: Categorical, Codes: []int32{0, 1, -1}, Levels: []string{"no", "yes"}},
	}}
	s := f.Subset([]int{2, 0})
	if s.Rows != 2 || s.Target != "y" {
		t.Fatalf("rows %d target %q", s.Rows, s.Target)
	}
	if x := s.Col("x").Num; x[0] != 3 || x[1] != 1 {
		t.Errorf("x = %v", x)
	}
	if y := s.Col("y"); y.Codes[0] != -1 || y.Codes[1] != 0 || !y.Missing(0) || y.Levels[1] != "yes" {
		t.Errorf("y = %+v", y)
	}
	s.Col("x").Num[0] = 99
	if f.Col("x").Num[2] != 3 {
		t.Error("Subset shares values with its source")
	}
}

func TestSampleRowsAndValue(t *testing.T) {
	f := &Frame{Rows: 5, Columns: []*Column{
		{Name: "n", Type: Numeric, Integer: true, Num: []float64{1, 2.5, math.NaN(), 4, 5}},
		{Name: "c", Type: Categorical, Codes: []int32{0, 1, -1, 0, 1}, Levels: []string{"a", "b"}},
		{Name: "b", Type: Boolean, Codes: []int32{1, 0, -1, 1, 0}, Levels: []string{"no", "yes"}},
	}}
	a, b := f.SampleRows(3, 7), f.SampleRows(3, 7)
	if !slices.Equal(a, b) || len(a) != 3 {
		t.Fatalf("same seed, different rows: %v %v", a, b)
	}
	if all := f.SampleRows(10, 7); len(all) != 5 || len(slices.Compact(slices.Sorted(slices.Values(all)))) != 5 {
		t.Errorf("n over Rows: %v, want every row once", all)
	}
	got := []any{f.Columns[0].Value(0), f.Columns[0].Value(1), f.Columns[0].Value(2), f.Columns[1].Value(1), f.Columns[1].Value(2), f.Columns[2].Value(0)}
	want := []any{int64(1), 2.5, nil, "b", nil, true}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("value %d = %#v, want %#v", i, got[i], want[i])
		}
	}
}
