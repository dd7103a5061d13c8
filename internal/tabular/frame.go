// Package tabular holds typed, column-major tables: the form AutoML,
// evaluation and serving read. Nothing downstream re-parses CSV.
package tabular

import (
	"math"
	"math/rand/v2"
)

// Type is a column's type.
type Type uint8

const (
	Numeric     Type = iota // float64 values, NaN = missing
	Categorical             // dictionary codes into Levels, -1 = missing
	Boolean                 // codes 0 (false) / 1 (true), -1 = missing; Levels are the spellings seen
)

func (t Type) String() string {
	switch t {
	case Numeric:
		return "numeric"
	case Categorical:
		return "categorical"
	case Boolean:
		return "boolean"
	}
	return "unknown"
}

// Column is one typed column. Exactly one of Num or Codes is set.
type Column struct {
	Name    string
	Type    Type
	Integer bool      // Numeric only: every present value is integral (display, schemas)
	Num     []float64 // Numeric: NaN marks missing
	Codes   []int32   // Categorical, Boolean: index into Levels, -1 marks missing
	Levels  []string  // Categorical, Boolean: the dictionary
}

// Missing reports whether row i is missing.
func (c *Column) Missing(i int) bool {
	if c.Type == Numeric {
		v := c.Num[i]
		return v != v
	}
	return c.Codes[i] < 0
}

// Value is row i's cell as a JSON value, as a client would send it: nil
// when missing, an int64 for a whole number of an integer column, a
// float64, a bool, or the category's spelling.
func (c *Column) Value(i int) any {
	if c.Missing(i) {
		return nil
	}
	if c.Num != nil {
		v := c.Num[i]
		if c.Integer && v == math.Trunc(v) {
			return int64(v)
		}
		return v
	}
	if c.Type == Boolean {
		return c.Codes[i] == 1
	}
	return c.Levels[c.Codes[i]]
}

// Frame is a table: equal-length columns in file order.
type Frame struct {
	Columns []*Column
	Rows    int
	Target  string // the label column's name, "" when none was declared
}

// Col returns the column named name, or nil.
func (f *Frame) Col(name string) *Column {
	for _, c := range f.Columns {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Subset returns a new frame with only the given rows, in that order.
// Levels are shared with f: they are never modified after reading.
func (f *Frame) Subset(rows []int) *Frame {
	out := &Frame{Rows: len(rows), Target: f.Target}
	for _, c := range f.Columns {
		nc := &Column{Name: c.Name, Type: c.Type, Integer: c.Integer, Levels: c.Levels}
		if c.Type == Numeric {
			nc.Num = make([]float64, len(rows))
			for i, r := range rows {
				nc.Num[i] = c.Num[r]
			}
		} else {
			nc.Codes = make([]int32, len(rows))
			for i, r := range rows {
				nc.Codes[i] = c.Codes[r]
			}
		}
		out.Columns = append(out.Columns, nc)
	}
	return out
}

// SampleRows draws min(n, Rows) distinct row indices, the same ones for the
// same seed and frame size, so that a workflow that samples rows (consume,
// benchmark) sends the same rows on every run and keys its cache alike.
func (f *Frame) SampleRows(n int, seed uint64) []int {
	n = min(max(n, 0), f.Rows)
	r := rand.New(rand.NewPCG(seed, 0x6d6c666c6f77))
	return r.Perm(f.Rows)[:n]
}
