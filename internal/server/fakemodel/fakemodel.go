// Package fakemodel has a stand-in model with the bank-marketing schema,
// for testing the serving code without training anything. Its predictions
// are a fixed logistic function of a few columns: deterministic, cheap and
// allocation-free, like the real model's Predict.
package fakemodel

import (
	"math"
	"slices"

	"github.com/mlflow-go/mlflow/internal/server/serve"
)

// Columns are the bank-marketing input columns in model order.
var Columns = []serve.Input{
	{Name: "age", Type: "integer", Example: 29},
	{Name: "job", Type: "string", Levels: []string{"admin.", "blue-collar", "entrepreneur", "housemaid", "management", "retired", "self-employed", "services", "student", "technician", "unemployed", "unknown"}, Example: "management"},
	{Name: "marital", Type: "string", Levels: []string{"divorced", "married", "single", "unknown"}, Example: "single"},
	{Name: "education", Type: "string", Levels: []string{"basic.4y", "basic.6y", "basic.9y", "high.school", "illiterate", "professional.course", "university.degree", "unknown"}, Example: "basic.9y"},
	{Name: "default", Type: "string", Levels: []string{"no", "unknown", "yes"}, Example: "no"},
	{Name: "housing", Type: "string", Levels: []string{"no", "unknown", "yes"}, Example: "yes"},
	{Name: "loan", Type: "string", Levels: []string{"no", "unknown", "yes"}, Example: "no"},
	{Name: "contact", Type: "string", Levels: []string{"cellular", "telephone"}, Example: "cellular"},
	{Name: "month", Type: "string", Levels: []string{"apr", "aug", "dec", "jul", "jun", "mar", "may", "nov", "oct", "sep"}, Example: "jul"},
	{Name: "day_of_week", Type: "string", Levels: []string{"fri", "mon", "thu", "tue", "wed"}, Example: "fri"},
	{Name: "duration", Type: "integer", Example: 135},
	{Name: "campaign", Type: "integer", Example: 1},
	{Name: "pdays", Type: "integer", Example: 999},
	{Name: "previous", Type: "integer", Example: 0},
	{Name: "poutcome", Type: "string", Levels: []string{"failure", "nonexistent", "success"}, Example: "nonexistent"},
	{Name: "emp.var.rate", Type: "number", Example: 1.4},
	{Name: "cons.price.idx", Type: "number", Example: 93.918},
	{Name: "cons.conf.idx", Type: "number", Example: -42.7},
	{Name: "euribor3m", Type: "number", Example: 4.957},
	{Name: "nr.employed", Type: "number", Example: 5228.1},
}

// Row is one valid record (the first training row without its label).
func Row() map[string]any {
	r := map[string]any{}
	for _, c := range Columns {
		r[c.Name] = c.Example
	}
	return r
}

// RowJSON is Row as the JSON object clients send, in column order.
const RowJSON = `{"age": 29, "job": "management", "marital": "single", "education": "basic.9y", "default": "no", "housing": "yes", "loan": "no", "contact": "cellular", "month": "jul", "day_of_week": "fri", "duration": 135, "campaign": 1, "pdays": 999, "previous": 0, "poutcome": "nonexistent", "emp.var.rate": 1.4, "cons.price.idx": 93.918, "cons.conf.idx": -42.7, "euribor3m": 4.957, "nr.employed": 5228.1}`

// Model is the fake classifier ("no"/"yes") or, with Regression set, a
// regressor. Name, Version and Digest are whatever the test sets.
type Model struct {
	ModelName    string
	ModelVersion int
	ModelDigest  string
	Regression   bool
	// Bias shifts the logit: two fakes with different Bias give different
	// answers, which lets a redeploy test tell the models apart.
	Bias float64
	// Hold, when set, makes Predict wait for a receive (or close): a test
	// can keep a request in flight.
	Hold chan struct{}
}

// New returns a classifier named name.
func New(name string, version int) *Model {
	return &Model{ModelName: name, ModelVersion: version, ModelDigest: "sha256:" + fmt64(name, version)}
}

func fmt64(name string, version int) string {
	const hx = "0123456789abcdef"
	h := uint64(14695981039346656037)
	for _, c := range []byte(name) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	h = (h ^ uint64(version)) * 1099511628211
	b := make([]byte, 64)
	for i := range b {
		b[i] = hx[(h>>(uint(i%16)*4))&0xf]
	}
	return string(b)
}

func (m *Model) Task() string {
	if m.Regression {
		return "regression"
	}
	return "classification"
}

func (m *Model) Classes() []string {
	if m.Regression {
		return nil
	}
	return []string{"no", "yes"}
}

// Inputs is the real model's method, for code that takes both.
func (m *Model) Inputs() []serve.Input { return Columns }

func (m *Model) Code(col int, s string) float64 {
	if col < 0 || col >= len(Columns) {
		return math.NaN()
	}
	if i := slices.Index(Columns[col].Levels, s); i >= 0 {
		return float64(i)
	}
	return math.NaN()
}

func (m *Model) Predict(x, out []float64) {
	if m.Hold != nil {
		<-m.Hold
	}
	// duration (10), nr.employed (19), poutcome=success (14 == 2).
	z := m.Bias + 0.004*nz(x[10]) - 0.002*(nz(x[19])-5100)
	if x[14] == 2 {
		z += 1.5
	}
	if m.Regression {
		out[0] = z
		return
	}
	p := 1 / (1 + math.Exp(-(z - 2)))
	out[0], out[1] = 1-p, p
}

func nz(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return v
}

func (m *Model) Name() string   { return m.ModelName }
func (m *Model) Version() int   { return m.ModelVersion }
func (m *Model) Digest() string { return m.ModelDigest }
