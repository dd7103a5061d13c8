// Package serve is the scoring handler for one model: Azure ML's /score,
// MLflow's /invocations and the Open Inference Protocol on one mux, plus
// specs, Swagger UI, probes and metrics (docs/protocols.md).
//
// The hot path decodes JSON by hand straight into a pooled float64 row
// buffer, predicts, and encodes into a pooled byte buffer: no map per row,
// a handful of allocations per request.
package serve

import (
	"fmt"
	"github.com/mlflow-go/mlflow/internal/jsonx"
	"math"
	"strings"
)

// Model is what the handler needs from a trained model. *model.Model of
// internal/ml/model satisfies it; Inputs is passed separately (see Input)
// so that this package does not depend on the training code.
type Model interface {
	Task() string      // "classification" | "regression"
	Classes() []string // labels in output order; nil for regression
	// Code maps a category spelling of input column col to its code;
	// unknown or missing is NaN.
	Code(col int, s string) float64
	// Predict writes len(Classes()) probabilities (or 1 value) to out for
	// the row x (len(Inputs())). It must not allocate.
	Predict(x []float64, out []float64)
	Name() string
	Version() int
	Digest() string
}

// Input describes one input column, in the order Predict expects.
type Input struct {
	Name   string
	Type   string // "integer" | "number" | "string" | "boolean"
	Levels []string
	// Example is the column's value in the specs' example record, which
	// anyone may read: a typical value (the training data's median, most
	// frequent category or majority boolean), never a training row's.
	// Nil gives a neutral value of the type.
	Example any
}

// loaded is a model compiled for serving: the lookups the decoder needs,
// pre-encoded labels and the cached specs. It is immutable once built and
// swapped whole, so a request sees one model from start to end.
type loaded struct {
	m       Model
	inputs  []Input
	nc      int
	nout    int
	classes []string
	col     map[string]int
	// levels maps each string column's spellings to codes, computed once
	// through Model.Code so the hot path does a map lookup with no
	// allocation instead of an interface call with a fresh string.
	levels []map[string]float64
	// bools holds each boolean column's codes for false and true.
	bools [][2]float64
	// label1 is each class as a JSON string; label2 is the same string
	// JSON-escaped again, for Azure's double-encoded classic answer.
	label1, label2 [][]byte
	name, digest   string
	version        int
	colList        string // "age, job, ..." for error messages
	specs          *specCache
}

func compile(m Model, inputs []Input) (*loaded, error) {
	if m == nil {
		return nil, fmt.Errorf("no model")
	}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("model %s has no input columns", m.Name())
	}
	l := &loaded{
		m: m, inputs: inputs, nc: len(inputs), classes: m.Classes(),
		col: make(map[string]int, len(inputs)), levels: make([]map[string]float64, len(inputs)),
		bools: make([][2]float64, len(inputs)),
		name:  m.Name(), digest: m.Digest(), version: m.Version(),
	}
	switch m.Task() {
	case "classification":
		if len(l.classes) < 2 {
			return nil, fmt.Errorf("model %s: a classifier needs at least 2 classes, has %d", l.name, len(l.classes))
		}
		l.nout = len(l.classes)
	case "regression":
		l.classes = nil
		l.nout = 1
	default:
		return nil, fmt.Errorf("model %s: unknown task %q", l.name, m.Task())
	}
	names := make([]string, len(inputs))
	for j, in := range inputs {
		if _, dup := l.col[in.Name]; dup {
			return nil, fmt.Errorf("model %s: input column %q appears twice", l.name, in.Name)
		}
		l.col[in.Name] = j
		names[j] = in.Name
		switch in.Type {
		case "integer", "number":
		case "boolean":
			// A model may code booleans as levels of its own spelling;
			// plain 0/1 when it codes neither spelling.
			f, t := m.Code(j, "false"), m.Code(j, "true")
			if math.IsNaN(f) && math.IsNaN(t) {
				f, t = 0, 1
			}
			l.bools[j] = [2]float64{f, t}
		case "string":
			lv := make(map[string]float64, len(in.Levels))
			for _, s := range in.Levels {
				if c := m.Code(j, s); !math.IsNaN(c) {
					lv[s] = c
				}
			}
			l.levels[j] = lv
		default:
			return nil, fmt.Errorf("model %s: input column %q has unknown type %q", l.name, in.Name, in.Type)
		}
	}
	l.colList = strings.Join(names, ", ")
	for _, c := range l.classes {
		q := appendJSONString(nil, c)
		l.label1 = append(l.label1, q)
		l.label2 = append(l.label2, jsonx.AppendStringBody(nil, string(q)))
	}
	l.specs = &specCache{}
	return l, nil
}

// code maps a spelling not in the level table through the model, which
// knows its own missing-value spellings; it allocates, but only for
// values the model never saw.
func (l *loaded) code(j int, s []byte) float64 { return l.m.Code(j, string(s)) }

// predictRows runs the model over rows of x into out (rows*nout).
func (l *loaded) predictRows(x, out []float64, rows int) {
	for r := 0; r < rows; r++ {
		l.m.Predict(x[r*l.nc:(r+1)*l.nc], out[r*l.nout:(r+1)*l.nout])
	}
}

// argmax is the predicted class of one probability row; ties go to the
// first class, as numpy's argmax does.
func argmax(p []float64) int {
	best := 0
	for i := 1; i < len(p); i++ {
		if p[i] > p[best] {
			best = i
		}
	}
	return best
}
