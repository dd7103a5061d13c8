// Package consume is the consume step kind: send rows to an endpoint as a
// client would (endpoint.py's POST with the bearer key) and keep the
// answers as the step's predictions output.
package consume

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/datasets"
	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/store"
)

// Config is the consume step's config; schema/load/cue/consume.cue
// declares the same fields.
type Config struct {
	// Endpoint is the deploy step's endpoint output.
	Endpoint artifact.Endpoint `json:"endpoint"`
	Input    Input             `json:"input"`
	// Method is "predict" (default) or "predict_proba".
	Method string `json:"method,omitempty"`
}

// Input is one of: a list of records sent as they are; a path, relative to
// the workflow, to a JSON file ({"data": [...]}, as Azure's data.json) or a
// CSV with a header row; or {"dataset": OUTPUT, "sample": N, "seed": S},
// N rows (default 5) drawn from a dataset.
type Input struct {
	Records []map[string]any
	File    string
	Sample  *Sample
}

// Sample is Input's dataset form.
type Sample struct {
	Dataset artifact.Dataset `json:"dataset"`
	Sample  int              `json:"sample,omitempty"`
	Seed    int64            `json:"seed,omitempty"`
}

func (in *Input) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	const want = "records, a .json or .csv file, or {dataset, sample}"
	if len(b) == 0 || string(b) == "null" {
		*in = Input{}
		return nil
	}
	switch b[0] {
	case '"':
		return json.Unmarshal(b, &in.File)
	case '[':
		var list []json.RawMessage
		if err := json.Unmarshal(b, &list); err != nil {
			return err
		}
		for i, r := range list {
			var m map[string]any
			if err := json.Unmarshal(r, &m); err != nil || m == nil {
				return fmt.Errorf("input[%d] is not a record (an object of columns)", i)
			}
			in.Records = append(in.Records, m)
		}
		return nil
	case '{':
		var sp Sample
		if err := artifact.Decode(b, &sp); err != nil {
			return fmt.Errorf("want {\"dataset\": ..., \"sample\": N}: %w", err)
		}
		in.Sample = &sp
		return nil
	}
	return fmt.Errorf("want %s, got %s", want, b)
}

// Step implements the consume kind.
type Step struct {
	Client *http.Client
}

// New returns the consume kind.
func New() *Step { return &Step{Client: &http.Client{Timeout: 60 * time.Second}} }

func (*Step) Kind() string    { return "consume" }
func (*Step) Version() string { return "1" }

// Key adds the input file's content, so an edited file is sent again.
func (st *Step) Key(ctx context.Context, req *engine.Request, w io.Writer) error {
	var c Config
	if err := req.Decode(&c); err != nil {
		return err
	}
	p := c.Input.File
	if p == "" {
		return nil
	}
	d, err := store.FileDigest(ctx, st.path(req, p))
	if err != nil {
		return fmt.Errorf("input: %w", err)
	}
	_, err = fmt.Fprintf(w, "file %s %s\n", p, d)
	return err
}

func (*Step) path(req *engine.Request, p string) string {
	if filepath.IsAbs(p) || req.Workflow == nil {
		return p
	}
	return filepath.Join(req.Workflow.Dir, p)
}

func (st *Step) Run(ctx context.Context, req *engine.Request) (engine.Outputs, error) {
	var c Config
	if err := req.Decode(&c); err != nil {
		return nil, err
	}
	name, uri := c.Endpoint.Name, c.Endpoint.ScoringURI
	if name == "" || uri == "" {
		return nil, errors.New("endpoint must be a deploy step's endpoint output (with name and scoring_uri)")
	}
	if c.Method != "" && c.Method != "predict" && c.Method != "predict_proba" {
		return nil, fmt.Errorf("method %q: want predict or predict_proba", c.Method)
	}
	var rows []map[string]any
	var err error
	switch in := c.Input; {
	case in.File != "":
		rows, err = readInput(st.path(req, in.File))
	case in.Records != nil:
		rows = in.Records
	case in.Sample != nil:
		rows, err = st.sample(ctx, req, *in.Sample, uri, name)
	default:
		return nil, errors.New("input is required: records, a .json or .csv file, or {dataset, sample}")
	}
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, errors.New("no rows to send")
	}
	body := map[string]any{"data": rows}
	if c.Method != "" {
		body["method"] = c.Method
	}
	b, _ := json.Marshal(body)
	hreq, err := http.NewRequestWithContext(ctx, "POST", uri, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	if k, err := endpoints.ReadKeys(req.Store, name); err == nil {
		hreq.Header.Set("Authorization", "Bearer "+k.Primary)
	}
	start := time.Now()
	resp, err := st.Client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", uri, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", uri, err)
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("POST %s: %s: %s", uri, resp.Status, strings.TrimSpace(string(raw)))
	}
	result, err := parseAnswer(raw)
	if err != nil {
		return nil, fmt.Errorf("answer of %s: %w", uri, err)
	}
	if len(result) != len(rows) {
		return nil, fmt.Errorf("sent %d rows, got %d predictions", len(rows), len(result))
	}
	out := map[string]any{"endpoint": name, "rows": rows, "predictions": result}
	ob, _ := json.MarshalIndent(out, "", "  ")
	p, err := req.Store.Path("runs", req.RunID, req.Step, "predictions.json")
	if err != nil {
		return nil, err
	}
	if err := store.WriteFileAtomic(p, append(ob, '\n'), 0o644); err != nil {
		return nil, err
	}
	summary := map[string]int{}
	for _, r := range result {
		if s, ok := r.(string); ok {
			summary[s]++
		}
	}
	req.Logf("sent %d rows to %s in %s", len(rows), uri, time.Since(start).Round(time.Microsecond))
	pred := artifact.Predictions{Path: p, Count: len(result), Predictions: result}
	if len(summary) > 0 {
		pred.Summary = summary
	}
	return engine.Outputs{"predictions": pred}, nil
}

// parseAnswer reads /score's answer: the classic double-encoded string,
// {"result": [...]} or {"Results": [...]}.
func parseAnswer(raw []byte) ([]any, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = []byte(s)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("not JSON: %.200s", raw)
	}
	if e, ok := obj["error"]; ok {
		return nil, fmt.Errorf("the endpoint reported: %s", e)
	}
	for _, k := range []string{"result", "Results", "predictions"} {
		if v, ok := obj[k]; ok {
			var out []any
			if err := json.Unmarshal(v, &out); err != nil {
				return nil, fmt.Errorf("%s is not a list", k)
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("no result in %.200s", raw)
}

// ReadInput is readInput for the azureml consume kind, which sends the same
// rows in another body.
func ReadInput(path string) ([]map[string]any, error) { return readInput(path) }

// readInput reads a JSON file ({"data": [...]}, {"Inputs": {"data": ...}}
// or a bare list of records) or a CSV with a header row.
func readInput(path string) ([]map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		return readCSV(path, b)
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("input %s: %w", path, err)
	}
	if m, ok := v.(map[string]any); ok {
		if in, ok := m["Inputs"].(map[string]any); ok {
			v = in["data"]
		} else {
			v = m["data"]
		}
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf(`input %s: want {"data": [records]} or a list of records`, path)
	}
	rows := make([]map[string]any, 0, len(list))
	for i, r := range list {
		m, ok := r.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("input %s: record %d is not an object", path, i)
		}
		rows = append(rows, m)
	}
	return rows, nil
}

func readCSV(path string, b []byte) ([]map[string]any, error) {
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", path, err)
	}
	if len(recs) < 2 {
		return nil, fmt.Errorf("input %s: want a header row and at least one record", path)
	}
	var rows []map[string]any
	for _, r := range recs[1:] {
		m := map[string]any{}
		for j, h := range recs[0] {
			m[h] = csvValue(r[j])
		}
		rows = append(rows, m)
	}
	return rows, nil
}

// csvValue types a CSV cell as JSON would carry it: numbers as numbers,
// empty as null, the rest as strings.
func csvValue(s string) any {
	if s == "" {
		return nil
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return json.Number(s)
	}
	return s
}

// sample draws rows from a dataset, keeping only the model's inputs (the
// endpoint's OIP metadata lists them), so the label column is not sent.
func (st *Step) sample(ctx context.Context, req *engine.Request, c Sample, uri, name string) ([]map[string]any, error) {
	if c.Dataset.Digest == "" {
		return nil, fmt.Errorf("dataset must be a dataset step's output (with a digest)")
	}
	f, err := datasets.LoadFrame(req.Store, c.Dataset.Digest)
	if err != nil {
		return nil, err
	}
	inputs, err := st.inputs(ctx, strings.TrimSuffix(uri, "/score"), name)
	if err != nil {
		return nil, err
	}
	n := c.Sample
	if n <= 0 {
		n = 5
	}
	idx := f.SampleRows(n, uint64(c.Seed))
	rows := make([]map[string]any, 0, len(idx))
	for _, i := range idx {
		m := map[string]any{}
		for _, name := range inputs {
			col := f.Col(name)
			if col == nil {
				return nil, fmt.Errorf("dataset %s has no column %q, which the model needs", c.Dataset.Ref(), name)
			}
			m[name] = col.Value(i)
		}
		rows = append(rows, m)
	}
	return rows, nil
}

func (st *Step) inputs(ctx context.Context, base, name string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v2/models/"+name, nil)
	if err != nil {
		return nil, err
	}
	resp, err := st.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var meta struct {
		Inputs []struct{ Name string }
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&meta) != nil {
		return nil, fmt.Errorf("endpoint %s: cannot read its input columns (%s)", name, resp.Status)
	}
	out := make([]string, len(meta.Inputs))
	for i, in := range meta.Inputs {
		out[i] = in.Name
	}
	return out, nil
}
