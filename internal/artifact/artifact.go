// Package artifact holds one Go type per output type: the values that flow
// along the edges of a workflow's DAG. A step kind returns them as its
// outputs, and a kind that consumes one declares a config field of the same
// type, so that a dataset, a model or an endpoint has one shape everywhere.
//
// schema/load/cue/artifacts.cue declares the same shapes for the loader and
// for users (docs/steps.md); TestArtifactsMatchSchema in steps/steptest
// holds the two against each other, field by field, so they cannot drift.
// A field without omitempty is always present; one with omitempty may be
// absent, and the schema says the same with `?`.
package artifact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
)

// Dataset is a registered dataset version.
type Dataset struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Digest  string `json:"digest"` // of the columnar blob in the store
	Rows    int    `json:"rows"`
	Columns int    `json:"columns"`
	Target  string `json:"target,omitempty"`
}

// Ref is the dataset as NAME:VERSION.
func (d Dataset) Ref() string { return d.Name + ":" + strconv.Itoa(d.Version) }

// Model is a registered model version.
type Model struct {
	Name      string `json:"name"`
	Version   int    `json:"version"`
	Digest    string `json:"digest"`
	Task      string `json:"task"` // "classification" | "regression"
	Algorithm string `json:"algorithm"`
	Path      string `json:"path"` // the model.json file in the store
}

// Ref is the model as NAME:VERSION.
func (m Model) Ref() string { return m.Name + ":" + strconv.Itoa(m.Version) }

// ModelRef is what a field that takes a model holds: a model output
// (${{ steps.S.outputs.model }}), or a string written in the workflow,
// a registered NAME or NAME:VERSION, or a model file.
type ModelRef struct {
	Output *Model // set for a model output
	Ref    string // set for a string
}

// String is what models.Resolve takes: NAME:VERSION for an output, the
// string as written otherwise.
func (r ModelRef) String() string {
	if r.Output != nil {
		return r.Output.Ref()
	}
	return r.Ref
}

func (r ModelRef) MarshalJSON() ([]byte, error) {
	if r.Output != nil {
		return json.Marshal(r.Output)
	}
	return json.Marshal(r.Ref)
}

// IsZero is true when the field was absent or null.
func (r ModelRef) IsZero() bool { return r.Output == nil && r.Ref == "" }

func (r *ModelRef) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*r = ModelRef{}
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			return fmt.Errorf("empty (want a model output or NAME[:VERSION])")
		}
		*r = ModelRef{Ref: s}
		return nil
	case len(b) > 0 && b[0] == '{':
		var m Model
		if err := Decode(b, &m); err != nil {
			return fmt.Errorf("not a model output: %w", err)
		}
		if m.Name == "" || m.Version < 1 {
			return fmt.Errorf("the model output has no name:version")
		}
		*r = ModelRef{Output: &m}
		return nil
	}
	return fmt.Errorf("%s is not a model output or a NAME[:VERSION] string", b)
}

// Leaderboard summarises an AutoML search; the whole board is the JSON
// file at Path (also in the store under Digest).
type Leaderboard struct {
	Path          string  `json:"path"`
	Digest        string  `json:"digest"`
	Trials        int     `json:"trials"`
	PrimaryMetric string  `json:"primary_metric"`
	BestTrial     int     `json:"best_trial,omitempty"`
	BestAlgorithm string  `json:"best_algorithm,omitempty"`
	BestScore     float64 `json:"best_score,omitempty"`
}

// Metrics are scores under Azure's metric names ("accuracy",
// "AUC_weighted", "r2_score", ...), with the number of rows scored and,
// for a classifier evaluated on labelled rows, the confusion matrix. In
// JSON the scores sit beside rows and confusion_matrix, one key each, as
// Azure's run metrics do.
type Metrics struct {
	Scores          map[string]float64 `json:"-" artifact:"scores"`
	Rows            int                `json:"rows,omitempty"`
	ConfusionMatrix *ConfusionMatrix   `json:"confusion_matrix,omitempty"`
}

// ConfusionMatrix counts rows by true label (rows) and predicted label
// (columns), both in Labels' order.
type ConfusionMatrix struct {
	Labels []string `json:"labels"`
	Matrix [][]int  `json:"matrix"`
}

func (m Metrics) MarshalJSON() ([]byte, error) {
	out := make(map[string]any, len(m.Scores)+2)
	for k, v := range m.Scores {
		out[k] = v
	}
	if m.Rows != 0 {
		out["rows"] = m.Rows
	}
	if m.ConfusionMatrix != nil {
		out["confusion_matrix"] = m.ConfusionMatrix
	}
	return json.Marshal(out)
}

func (m *Metrics) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*m = Metrics{Scores: map[string]float64{}}
	for k, v := range raw {
		var err error
		switch k {
		case "rows":
			err = json.Unmarshal(v, &m.Rows)
		case "confusion_matrix":
			m.ConfusionMatrix = new(ConfusionMatrix)
			err = Decode(v, m.ConfusionMatrix)
		default:
			var f float64
			err = json.Unmarshal(v, &f)
			m.Scores[k] = f
		}
		if err != nil {
			return fmt.Errorf("metric %s: %w", k, err)
		}
	}
	return nil
}

// Endpoint is a deployed endpoint's public face: never its keys
// (`mlflow endpoint keys NAME` prints them).
type Endpoint struct {
	Name       string `json:"name"`
	ScoringURI string `json:"scoring_uri"` // Azure's /score
	SwaggerURI string `json:"swagger_uri"` // Swagger 2.0, as Azure serves it
	OpenAPIURI string `json:"openapi_uri"` // OpenAPI 3 of every protocol
	DocsURI    string `json:"docs_uri"`    // the Swagger UI
	Model      string `json:"model"`       // the model served, NAME:VERSION or a file
}

// Predictions are an endpoint's answers to the rows a consume step sent;
// the file at Path holds the rows and the answers together.
type Predictions struct {
	Path        string `json:"path"`
	Count       int    `json:"count"`
	Predictions []any  `json:"predictions"` // labels, numbers, or lists of class probabilities
	// Summary counts each predicted label (absent for numbers).
	Summary map[string]int `json:"summary,omitempty"`
}

// Log summarises an endpoint's request log; the entries are the JSON lines
// of the file at Path.
type Log struct {
	Path     string         `json:"path"`
	Endpoint string         `json:"endpoint"`
	Count    int            `json:"count"`
	Status   map[string]int `json:"status"` // requests per HTTP status code
	Errors   int            `json:"errors"`
	Rows     int            `json:"rows"` // rows scored
	P50MS    float64        `json:"p50_ms"`
	P99MS    float64        `json:"p99_ms"`
	First    string         `json:"first,omitempty"` // RFC 3339 time of the first entry
	Last     string         `json:"last,omitempty"`
}

// File is one file an exec step wrote, kept in the store.
type File struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// Files are an exec step's declared output files by their path as written
// in the workflow.
type Files map[string]File

// Report is a load test's result (the benchmark step, `mlflow bench
// --json`). Latencies are in milliseconds, from a high-dynamic-range
// histogram of every answered request; Status counts answers per HTTP
// status code. Failures are requests without a 2xx answer.
type Report struct {
	Requests  int            `json:"requests"`
	Successes int            `json:"successes"`
	Failures  int            `json:"failures"`
	ErrorRate float64        `json:"error_rate"`
	RPS       float64        `json:"rps"`
	MinMS     float64        `json:"min_ms"`
	MeanMS    float64        `json:"mean_ms"`
	P50MS     float64        `json:"p50_ms"`
	P90MS     float64        `json:"p90_ms"`
	P99MS     float64        `json:"p99_ms"`
	P999MS    float64        `json:"p999_ms"`
	MaxMS     float64        `json:"max_ms"`
	Status    map[string]int `json:"status"`
	// Errors counts failures that got no HTTP answer, by error.
	Errors map[string]int `json:"errors,omitempty"`
	Bytes  int64          `json:"bytes"` // received, headers included
	// DurationMS is the measured part's length (warmup excluded).
	DurationMS float64 `json:"duration_ms"`
	Path       string  `json:"path,omitempty"` // the report's JSON file
	// Histogram is the latency histogram picture (SVG) beside it.
	Histogram string `json:"histogram,omitempty"`
}

// Pipeline is a published pipeline: never its key.
type Pipeline struct {
	Name       string `json:"name"`
	Version    int    `json:"version"`
	TriggerURI string `json:"trigger_uri"`
	Schedule   string `json:"schedule,omitempty"`
}

// Types maps each output type's name, as the schema's #Type spells it, to
// its Go type. "number" is a plain JSON number.
var Types = map[string]reflect.Type{
	"dataset":     reflect.TypeFor[Dataset](),
	"model":       reflect.TypeFor[Model](),
	"leaderboard": reflect.TypeFor[Leaderboard](),
	"metrics":     reflect.TypeFor[Metrics](),
	"endpoint":    reflect.TypeFor[Endpoint](),
	"predictions": reflect.TypeFor[Predictions](),
	"log":         reflect.TypeFor[Log](),
	"files":       reflect.TypeFor[Files](),
	"report":      reflect.TypeFor[Report](),
	"pipeline":    reflect.TypeFor[Pipeline](),
	"number":      reflect.TypeFor[float64](),
}

// Decode is strict JSON decoding: a field v does not have is an error, so
// a shape that drifted shows up where it is read.
func Decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data after the value")
	}
	return nil
}

// As converts an output value (a Go value of the type, or the generic
// JSON of one restored from the cache) to T.
func As[T any](v any) (T, error) {
	var out T
	if t, ok := v.(T); ok {
		return t, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return out, err
	}
	err = Decode(b, &out)
	return out, err
}
