package tabular

import (
	"math"
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
