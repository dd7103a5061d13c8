package model

import (
	"fmt"
	"math"
	"strconv"

	"github.com/mlflow-go/mlflow/internal/tabular"
)

// Matrix lays f's rows out as Predict expects them, row-major (f.Rows × len(Inputs())), mapping
// columns by name. A frame's dictionaries are its own, so categories are matched by spelling,
// never by code; categories the model never saw become NaN (handled like missing). A missing
// input column is an error naming it.
func (m *Model) Matrix(f *tabular.Frame) ([]float64, error) {
	ins := m.A.Inputs
	x := make([]float64, f.Rows*len(ins))
	for j := range ins {
		in := &ins[j]
		c := f.Col(in.Name)
		if c == nil {
			return nil, fmt.Errorf("input column %q is missing (the model needs %s)", in.Name, inputNames(ins))
		}
		switch {
		case c.Type == tabular.Numeric && !in.Categorical():
			for i, v := range c.Num {
				x[i*len(ins)+j] = v
			}
		case c.Type == tabular.Numeric:
			// The model saw this column as text (it had a non-number in training): match the
			// number's spelling.
			for i, v := range c.Num {
				s := ""
				if !math.IsNaN(v) {
					s = strconv.FormatFloat(v, 'g', -1, 64)
				}
				x[i*len(ins)+j] = m.Code(j, s)
			}
		default:
			lut := make([]float64, len(c.Levels))
			for code, l := range c.Levels {
				if in.Categorical() {
					lut[code] = m.Code(j, l)
				} else if v, err := strconv.ParseFloat(l, 64); err == nil {
					lut[code] = v
				} else {
					lut[code] = math.NaN()
				}
			}
			for i, code := range c.Codes {
				v := math.NaN()
				if code >= 0 {
					v = lut[code]
				}
				x[i*len(ins)+j] = v
			}
		}
	}
	return x, nil
}

func inputNames(ins []Input) string {
	s := ""
	for i, in := range ins {
		if i > 0 {
			s += ", "
		}
		s += in.Name
	}
	return s
}
