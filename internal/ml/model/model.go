// Package model is the trained-model artifact (model.json, described in
// docs/model-format.md) and its predictor: the input schema with category dictionaries and
// missing tokens, the classes, and a weighted ensemble of k-fold bagged members. Everything
// inference needs travels inside the file; `mlflow predict`, the endpoint and `mlflow models
// show` all read it through Load/Decode.
package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/mlflow-go/mlflow/internal/digest"
	"github.com/mlflow-go/mlflow/internal/ml/gbdt"
	"github.com/mlflow-go/mlflow/internal/ml/linear"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

// Format and FormatVersion identify the artifact. Bump FormatVersion on any change a reader of
// the previous version would misread; Decode rejects versions it does not know.
const (
	Format        = "mlflow-automl"
	FormatVersion = 1
)

// Tasks.
const (
	Classification = "classification"
	Regression     = "regression"
)

// MissingTokens are the spellings read as a missing value (the dataset reader's list, so
// serving agrees with training); the artifact records them. "NaN" is also missing in numeric
// inputs, as in the reader.
var MissingTokens = tabular.DefaultNAValues

// Input is one input column, in the order Predict expects.
type Input struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"` // "integer" | "number" | "string" | "boolean"
	Levels  []string `json:"levels,omitempty"`
	Example any      `json:"example,omitempty"`
}

// Categorical reports whether the column's values are codes into Levels.
func (in *Input) Categorical() bool { return in.Type == "string" || in.Type == "boolean" }

// Member is one ensemble member: a trial's configuration, bagged over its fold models.
// Exactly one of Linear or Trees holds the fold models.
type Member struct {
	Algorithm string             `json:"algorithm"`
	Trial     int                `json:"trial"`
	Weight    float64            `json:"weight"`
	Params    map[string]any     `json:"params,omitempty"`
	OOF       map[string]float64 `json:"oof,omitempty"`
	// Refit marks a member whose one model was refit on all training rows after selection
	// (its OOF scores are still its fold models'); otherwise it holds its k fold models.
	Refit  bool            `json:"refit,omitempty"`
	Linear []*linear.Model `json:"linear,omitempty"`
	Trees  []*gbdt.Model   `json:"trees,omitempty"`

	preds []predictor
}

// predictor is one fold model: class probabilities (or the regression value) of a raw row.
type predictor interface {
	NumOutputs() int
	Predict(x, out []float64)
}

// Importance is one input's share of the split gain of the tree members.
type Importance struct {
	Feature string  `json:"feature"`
	Gain    float64 `json:"gain"`
}

// Trial is one completed search trial as recorded in the artifact. Timings are kept out of the
// artifact (they live in the registry's leaderboard) so equal runs give equal bytes.
type Trial struct {
	ID        int                `json:"id"`
	Algorithm string             `json:"algorithm"`
	Params    map[string]any     `json:"params"`
	Folds     int                `json:"folds"`
	Metrics   map[string]float64 `json:"metrics"`
	Stopped   bool               `json:"stopped_by_deadline,omitempty"`
}

// LeaderboardEntry is one row of a search's leaderboard as the registry keeps it: a trial
// with the wall time the artifact leaves out.
type LeaderboardEntry struct {
	Trial
	Seconds float64 `json:"seconds"`
}

// Lineage says where a model came from.
type Lineage struct {
	Dataset DatasetRef     `json:"dataset"`
	Config  map[string]any `json:"config,omitempty"`
	Seed    uint64         `json:"seed"`
	// SampleRows is the size of the stratified sample the search ran on, when the data were
	// too large to search whole (docs/automl.md#large-data); 0 means every row.
	SampleRows int `json:"sample_rows,omitempty"`
}

// DatasetRef names a registered dataset version.
type DatasetRef struct {
	Name    string `json:"name,omitempty"`
	Version int    `json:"version,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

// Artifact is model.json, field for field.
type Artifact struct {
	Format        string             `json:"format"`
	Version       int                `json:"version"`
	Name          string             `json:"name"`
	Task          string             `json:"task"`
	Target        string             `json:"target"`
	Classes       []string           `json:"classes,omitempty"`
	Inputs        []Input            `json:"inputs"`
	MissingTokens []string           `json:"missing_tokens"`
	Algorithm     string             `json:"algorithm"`
	PrimaryMetric string             `json:"primary_metric"`
	Validation    string             `json:"validation"`
	YMin          float64            `json:"y_min,omitempty"` // regression: training target range, for normalised metrics
	YMax          float64            `json:"y_max,omitempty"`
	Members       []Member           `json:"members"`
	Metrics       map[string]float64 `json:"metrics"`
	Importance    []Importance       `json:"importance,omitempty"`
	Trials        []Trial            `json:"trials,omitempty"`
	Lineage       Lineage            `json:"lineage"`
	Warnings      []string           `json:"warnings,omitempty"`
	Examples      []map[string]any   `json:"examples,omitempty"`
	Diagnostics   *Diagnostics       `json:"diagnostics,omitempty"`
}

// Model is a loaded artifact, ready to predict. Safe for concurrent use.
type Model struct {
	A       Artifact
	version int
	digest  string
	codes   []map[string]int32 // per input: level spelling -> code
	outputs int
	scratch sync.Pool // *[]float64 of len outputs
}

// Load reads and decodes a model.json file.
func Load(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	m, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	return m, nil
}

// Decode parses an artifact and prepares it for prediction.
func Decode(b []byte) (*Model, error) {
	var head struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("not a model file: %w", err)
	}
	if head.Format != Format {
		return nil, fmt.Errorf("not a model file: format %q, want %q", head.Format, Format)
	}
	if head.Version != FormatVersion {
		return nil, fmt.Errorf("model format version %d is not supported (this mlflow reads version %d)", head.Version, FormatVersion)
	}
	var a Artifact
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("model file: %w", err)
	}
	m, err := New(a)
	if err != nil {
		return nil, err
	}
	m.digest = digest.Bytes(b)
	return m, nil
}

// New prepares an in-memory artifact for prediction (the trainer uses it before encoding).
func New(a Artifact) (*Model, error) {
	m := &Model{A: a}
	switch a.Task {
	case Classification:
		if len(a.Classes) < 2 {
			return nil, fmt.Errorf("model file: classification model with %d classes", len(a.Classes))
		}
		m.outputs = len(a.Classes)
	case Regression:
		m.outputs = 1
	default:
		return nil, fmt.Errorf("model file: unknown task %q", a.Task)
	}
	if len(a.Members) == 0 {
		return nil, fmt.Errorf("model file: no ensemble members")
	}
	m.codes = make([]map[string]int32, len(a.Inputs))
	for j, in := range a.Inputs {
		switch in.Type {
		case "integer", "number":
		case "string", "boolean":
			idx := make(map[string]int32, len(in.Levels))
			for c, l := range in.Levels {
				idx[l] = int32(c)
			}
			m.codes[j] = idx
		default:
			return nil, fmt.Errorf("model file: input %q has unknown type %q", in.Name, in.Type)
		}
	}
	for i := range m.A.Members {
		mem := &m.A.Members[i]
		mem.preds = mem.preds[:0]
		for _, l := range mem.Linear {
			mem.preds = append(mem.preds, l)
		}
		for _, t := range mem.Trees {
			if t == nil {
				return nil, fmt.Errorf("model file: member %d has a null tree model", i)
			}
			if len(t.Features) != len(a.Inputs) {
				return nil, fmt.Errorf("model file: member %d reads %d features, the model has %d inputs", i, len(t.Features), len(a.Inputs))
			}
			mem.preds = append(mem.preds, t)
		}
		if len(mem.preds) == 0 {
			return nil, fmt.Errorf("model file: member %d has no fold models", i)
		}
		for _, p := range mem.preds {
			if p.NumOutputs() != m.outputs {
				return nil, fmt.Errorf("model file: member %d predicts %d outputs, want %d", i, p.NumOutputs(), m.outputs)
			}
		}
	}
	n := m.outputs
	m.scratch.New = func() any { s := make([]float64, n); return &s }
	return m, nil
}

// Encode returns the artifact's bytes: compact JSON, map keys sorted, floats exact, so equal
// models encode to equal bytes.
func (m *Model) Encode() ([]byte, error) {
	b, err := json.Marshal(&m.A)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Task is "classification" or "regression".
func (m *Model) Task() string { return m.A.Task }

// Classes are the class labels in output order; nil for regression.
func (m *Model) Classes() []string { return m.A.Classes }

// Inputs are the input columns in the order Predict expects (target excluded).
func (m *Model) Inputs() []Input { return m.A.Inputs }

// Name is the model's registered name.
func (m *Model) Name() string { return m.A.Name }

// Version is the registry version, 0 when loaded from a file outside the registry.
func (m *Model) Version() int { return m.version }

// Digest is the sha256 of the artifact bytes ("" for a model never encoded).
func (m *Model) Digest() string { return m.digest }

// SetRegistry records the registry name and version a model was resolved as.
func (m *Model) SetRegistry(name string, version int) {
	if name != "" {
		m.A.Name = name
	}
	m.version = version
}

// IsMissing reports whether s spells a missing value.
func IsMissing(s string) bool {
	s = strings.TrimSpace(s)
	for _, t := range MissingTokens {
		if s == t {
			return true
		}
	}
	return false
}

// Code maps a spelling of input col to the float64 Predict expects: the category or boolean
// code, or the parsed number for numeric inputs. Unknown categories and missing values are NaN,
// which the members send where training sent missing values.
func (m *Model) Code(col int, s string) float64 {
	if col < 0 || col >= len(m.A.Inputs) {
		return math.NaN()
	}
	idx := m.codes[col]
	if c, ok := idx[s]; ok {
		return float64(c)
	}
	if IsMissing(s) {
		return math.NaN()
	}
	if idx == nil {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return math.NaN()
		}
		return v
	}
	if c, ok := idx[strings.TrimSpace(s)]; ok {
		return float64(c)
	}
	if m.A.Inputs[col].Type == "boolean" {
		if b, ok := parseBool(s); ok {
			for l, c := range idx {
				if lb, ok := parseBool(l); ok && lb == b {
					return float64(c)
				}
			}
		}
	}
	return math.NaN()
}

// Value is Code for callers that must reject a non-number in a numeric column (CSV input):
// it fails only there, naming the column and the value.
func (m *Model) Value(col int, s string) (float64, error) {
	if in := &m.A.Inputs[col]; !in.Categorical() && !IsMissing(s) {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return 0, fmt.Errorf("column %q: %q is not a number", in.Name, s)
		}
		return v, nil
	}
	return m.Code(col, s), nil
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "t", "yes", "y", "1":
		return true, true
	case "false", "f", "no", "n", "0":
		return false, true
	}
	return false, false
}

// Predict writes the class probabilities (len(Classes())) or the regression value (1) of row x
// (len(Inputs()) values, numbers or Code()d) to out. It allocates nothing.
func (m *Model) Predict(x []float64, out []float64) {
	sp := m.scratch.Get().(*[]float64)
	tmp := *sp
	out = out[:m.outputs]
	clear(out)
	for i := range m.A.Members {
		mem := &m.A.Members[i]
		w := mem.Weight / float64(len(mem.preds))
		for _, p := range mem.preds {
			p.Predict(x, tmp)
			for k, v := range tmp {
				out[k] += w * v
			}
		}
	}
	m.scratch.Put(sp)
}

// Label is the predicted class of probabilities p (argmax, first on ties), or "" for regression.
func (m *Model) Label(p []float64) string {
	if m.A.Task != Classification {
		return ""
	}
	best := 0
	for k := range p {
		if p[k] > p[best] {
			best = k
		}
	}
	return m.A.Classes[best]
}

// batchRows bounds the rows one PredictBatch pass holds, so a chunk's inputs and the fold
// model's outputs stay in cache while every tree walks them.
const batchRows = 512

// batcher is a fold model with a many-rows path (the GBDT's tree-outer walk).
type batcher interface {
	PredictBatch(x []float64, n int, out []float64)
}

// PredictBatch is Predict over n rows: x holds n rows of len(Inputs()) values, row-major, and
// out receives n rows of len(Classes()) probabilities (or 1 regression value). Each fold model
// scores a chunk of rows at a time (tree-outer, rows-inner) and the members are summed in
// Predict's order, so every output is bit-identical to Predict's for that row. Use it wherever
// a whole frame is scored; it allocates one chunk-sized buffer per call.
func (m *Model) PredictBatch(x []float64, n int, out []float64) {
	nin := len(m.A.Inputs)
	no := m.outputs
	x = x[:n*nin]
	out = out[:n*no]
	tmp := make([]float64, min(n, batchRows)*no)
	for lo := 0; lo < n; lo += batchRows {
		c := min(n-lo, batchRows)
		xc := x[lo*nin : (lo+c)*nin]
		oc := out[lo*no : (lo+c)*no]
		tc := tmp[:c*no]
		clear(oc)
		for i := range m.A.Members {
			mem := &m.A.Members[i]
			w := mem.Weight / float64(len(mem.preds))
			for _, p := range mem.preds {
				if b, ok := p.(batcher); ok {
					b.PredictBatch(xc, c, tc)
				} else {
					for r := 0; r < c; r++ {
						p.Predict(xc[r*nin:(r+1)*nin], tc[r*no:(r+1)*no])
					}
				}
				for j, v := range tc {
					oc[j] += w * v
				}
			}
		}
	}
}
