// Package benchmark is the benchmark step kind: load-test an endpoint (or
// any HTTP URL) with internal/loadgen, keep the report and a latency
// histogram picture, and fail the step when the report does not satisfy
// the step's assert constraints: performance tested like code.
package benchmark

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/datasets"
	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/loadgen"
	"github.com/mlflow-go/mlflow/internal/store"
)

// Config is the benchmark step's config; schema/load/cue/benchmark.cue
// declares the same fields.
type Config struct {
	Endpoint    Target  `json:"endpoint"`
	Requests    int     `json:"requests,omitempty"`
	Duration    string  `json:"duration,omitempty"`
	Rate        float64 `json:"rate,omitempty"`
	Concurrency int     `json:"concurrency,omitempty"`
	Keepalive   bool    `json:"keepalive,omitempty"`
	Warmup      string  `json:"warmup,omitempty"`
	// RequestTimeout bounds each request (default 30s, ab's -s).
	RequestTimeout string            `json:"request_timeout,omitempty"`
	Payload        *Payload          `json:"payload,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
	Assert         *Asserts          `json:"assert,omitempty"`
}

// defaultDuration bounds a test given neither requests nor duration:
// wrk's default.
const defaultDuration = 10 * time.Second

// Target is what endpoint holds: a deploy step's endpoint output, or a
// plain URL.
type Target struct {
	Output *artifact.Endpoint
	URL    string
}

func (t Target) MarshalJSON() ([]byte, error) {
	if t.Output != nil {
		return json.Marshal(t.Output)
	}
	return json.Marshal(t.URL)
}

func (t *Target) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = Target{URL: s}
		return nil
	case len(b) > 0 && b[0] == '{':
		var e artifact.Endpoint
		if err := artifact.Decode(b, &e); err != nil {
			return fmt.Errorf("endpoint: not an endpoint output: %w", err)
		}
		*t = Target{Output: &e}
		return nil
	}
	return fmt.Errorf("endpoint: %s is not an endpoint output or a URL", b)
}

// Payload is one of: a file relative to the workflow, sent as it is; an
// inline value ({"inline": V}: a string as it is, anything else as JSON);
// or rows drawn from a dataset, sent as {"data": [ROWS]}.
type Payload struct {
	File   string
	Inline json.RawMessage
	Sample *Sample
}

// Sample is Payload's dataset form.
type Sample struct {
	Dataset artifact.Dataset `json:"dataset"`
	Sample  int              `json:"sample,omitempty"`
	Seed    int64            `json:"seed,omitempty"`
}

func (p Payload) MarshalJSON() ([]byte, error) {
	switch {
	case p.Sample != nil:
		return json.Marshal(p.Sample)
	case p.Inline != nil:
		return json.Marshal(map[string]json.RawMessage{"inline": p.Inline})
	}
	return json.Marshal(p.File)
}

func (p *Payload) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	const want = `a file, {"inline": VALUE} or {"dataset": ..., "sample": N}`
	*p = Payload{}
	switch {
	case len(b) > 0 && b[0] == '"':
		return json.Unmarshal(b, &p.File)
	case len(b) > 0 && b[0] == '{':
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(b, &probe); err != nil {
			return err
		}
		if v, ok := probe["inline"]; ok {
			if len(probe) != 1 {
				return fmt.Errorf("payload: inline stands alone (want %s)", want)
			}
			p.Inline = v
			return nil
		}
		var sp Sample
		if err := artifact.Decode(b, &sp); err != nil {
			return fmt.Errorf("payload: want %s: %w", want, err)
		}
		p.Sample = &sp
		return nil
	}
	return fmt.Errorf("payload: want %s, got %s", want, b)
}

// Step implements the benchmark kind.
type Step struct{}

// New returns the benchmark kind.
func New() *Step { return &Step{} }

func (*Step) Kind() string    { return "benchmark" }
func (*Step) Version() string { return "1" }

// NoCache: a benchmark is a measurement; a cached one measures nothing.
func (*Step) NoCache() bool { return true }

func (st *Step) Run(ctx context.Context, req *engine.Request) (engine.Outputs, error) {
	var c Config
	if err := req.Decode(&c); err != nil {
		return nil, err
	}
	lc, err := st.load(ctx, req, c)
	if err != nil {
		return nil, err
	}
	lc.Progress = func(p loadgen.Progress) {
		status := fmt.Sprintf("%d requests, %d failed", p.Done, p.Failures)
		if p.Total > 0 {
			req.Progress.Update(float64(p.Done), float64(p.Total), status)
		} else {
			req.Progress.Update(p.Elapsed.Seconds(), p.Duration.Seconds(), status)
		}
	}
	req.Logf("%s %s: %s", method(lc), lc.URL, describe(lc))
	res, err := loadgen.Run(ctx, lc)
	if err != nil {
		return nil, err
	}
	rep := res.Report()
	dir, err := req.Store.Path("runs", req.RunID, req.Step, "report.json")
	if err != nil {
		return nil, err
	}
	dir = filepath.Dir(dir)
	rep.Path = filepath.Join(dir, "report.json")
	rep.Histogram = filepath.Join(dir, "latency.svg")
	var svg bytes.Buffer
	if err := loadgen.WriteSVG(&svg, res.Latency, fmt.Sprintf("%s %s: %d requests, p50 %.3f ms, p99 %.3f ms", method(lc), lc.URL, rep.Requests, rep.P50MS, rep.P99MS)); err != nil {
		return nil, err
	}
	if err := store.WriteFileAtomic(rep.Histogram, svg.Bytes(), 0o644); err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	if err := store.WriteFileAtomic(rep.Path, append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	var table bytes.Buffer
	loadgen.WriteTable(&table, rep)
	req.Logf("%s", strings.TrimRight(table.String(), "\n"))
	if failed := c.Assert.Check(rep); len(failed) > 0 {
		return nil, fmt.Errorf("assert: %s (report: %s)", strings.Join(failed, "; "), rep.Path)
	}
	return engine.Outputs{"report": rep}, nil
}

func method(c loadgen.Config) string {
	if c.Method != "" {
		return c.Method
	}
	if c.Body != nil {
		return "POST"
	}
	return "GET"
}

func describe(c loadgen.Config) string {
	var parts []string
	switch {
	case c.Rate > 0:
		parts = append(parts, fmt.Sprintf("%g requests/s for %s", c.Rate, c.Duration))
	case c.Requests > 0 && c.Duration > 0:
		parts = append(parts, fmt.Sprintf("%d requests or %s", c.Requests, c.Duration))
	case c.Requests > 0:
		parts = append(parts, fmt.Sprintf("%d requests", c.Requests))
	default:
		parts = append(parts, c.Duration.String())
	}
	parts = append(parts, fmt.Sprintf("concurrency %d", c.Concurrency))
	if c.KeepAlive {
		parts = append(parts, "keepalive")
	}
	if c.Warmup > 0 {
		parts = append(parts, "warmup "+c.Warmup.String())
	}
	return strings.Join(parts, ", ")
}

// load turns the config into the generator's; its errors name the field.
func (st *Step) load(ctx context.Context, req *engine.Request, c Config) (loadgen.Config, error) {
	lc := loadgen.Config{Requests: c.Requests, Rate: c.Rate, Concurrency: c.Concurrency, KeepAlive: c.Keepalive, Header: http.Header{}}
	if lc.Concurrency == 0 {
		lc.Concurrency = 1
	}
	var err error
	for _, d := range []struct {
		field string
		s     string
		into  *time.Duration
	}{{"duration", c.Duration, &lc.Duration}, {"warmup", c.Warmup, &lc.Warmup}, {"request_timeout", c.RequestTimeout, &lc.Timeout}} {
		if d.s == "" {
			continue
		}
		if *d.into, err = time.ParseDuration(d.s); err != nil {
			return lc, fmt.Errorf("%s: %w", d.field, err)
		}
		if *d.into <= 0 {
			return lc, fmt.Errorf("%s %s: must be more than zero", d.field, d.s)
		}
	}
	if lc.Requests == 0 && lc.Duration == 0 && lc.Rate == 0 {
		lc.Duration = defaultDuration
	}
	name := ""
	switch t := c.Endpoint; {
	case t.Output != nil:
		if t.Output.ScoringURI == "" {
			return lc, errors.New("endpoint: the endpoint output has no scoring_uri")
		}
		lc.URL, name = t.Output.ScoringURI, t.Output.Name
	case t.URL != "":
		lc.URL = t.URL
	default:
		return lc, errors.New("endpoint is required: a deploy step's endpoint output or an http:// or https:// URL")
	}
	if u, err := url.Parse(lc.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return lc, fmt.Errorf("endpoint %q: want an http:// or https:// URL", lc.URL)
	}
	for k, v := range c.Headers {
		lc.Header.Set(k, v)
	}
	// The endpoint's key, as consume sends it, unless the workflow sets
	// its own Authorization (to test a wrong key, say).
	if name != "" && lc.Header.Get("Authorization") == "" {
		if k, err := endpoints.ReadKeys(req.Store, name); err == nil {
			lc.Header.Set("Authorization", "Bearer "+k.Primary)
		} else if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, store.ErrNotFound) {
			return lc, fmt.Errorf("endpoint %s: its key: %w", name, err)
		}
	}
	if c.Payload != nil {
		if lc.Body, err = st.payload(ctx, req, *c.Payload); err != nil {
			return lc, err
		}
		if lc.Header.Get("Content-Type") == "" {
			lc.Header.Set("Content-Type", "application/json")
		}
	}
	if err := lc.Validate(); err != nil {
		return lc, err
	}
	return lc, nil
}

// maxPayload bounds the body read from a file: it is held in memory and
// sent with every request.
const maxPayload = 64 << 20

func (st *Step) payload(ctx context.Context, req *engine.Request, p Payload) ([]byte, error) {
	switch {
	case p.Sample != nil:
		return sample(ctx, req, *p.Sample)
	case p.Inline != nil:
		var s string
		if json.Unmarshal(p.Inline, &s) == nil {
			return []byte(s), nil
		}
		var v any
		if err := json.Unmarshal(p.Inline, &v); err != nil {
			return nil, fmt.Errorf("payload.inline: %w", err)
		}
		return json.Marshal(v)
	case p.File != "":
		path := p.File
		if !filepath.IsAbs(path) && req.Workflow != nil {
			path = filepath.Join(req.Workflow.Dir, path)
		}
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("payload: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("payload %s: not a regular file", p.File)
		}
		if fi.Size() > maxPayload {
			return nil, fmt.Errorf("payload %s: %d bytes, more than the %d a benchmark sends", p.File, fi.Size(), maxPayload)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("payload: %w", err)
		}
		return b, nil
	}
	return nil, errors.New("payload: want a file, {inline: VALUE} or {dataset, sample}")
}

// sample draws rows from a dataset, without its target column, as the
// body {"data": [ROWS]} (Azure's /score input, which the endpoint's other
// protocols also read).
func sample(ctx context.Context, req *engine.Request, s Sample) ([]byte, error) {
	if s.Dataset.Digest == "" {
		return nil, errors.New("payload.dataset must be a dataset step's output (with a digest)")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := datasets.LoadFrame(req.Store, s.Dataset.Digest)
	if err != nil {
		return nil, fmt.Errorf("payload.dataset %s: %w", s.Dataset.Ref(), err)
	}
	if f.Rows == 0 {
		return nil, fmt.Errorf("payload.dataset %s has no rows", s.Dataset.Ref())
	}
	idx := f.SampleRows(max(s.Sample, 1), uint64(s.Seed))
	rows := make([]map[string]any, 0, len(idx))
	for _, i := range idx {
		m := map[string]any{}
		for _, col := range f.Columns {
			if col.Name == f.Target || col.Name == s.Dataset.Target {
				continue
			}
			m[col.Name] = col.Value(i)
		}
		rows = append(rows, m)
	}
	return json.Marshal(map[string]any{"data": rows})
}
