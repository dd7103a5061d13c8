package studio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/datasets"
	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/models"
	"github.com/mlflow-go/mlflow/internal/pipelines"
	"github.com/mlflow-go/mlflow/internal/server/reqlog"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

// Paging of /ui/api/runs.
const (
	defaultPageSize = 50
	maxPageSize     = 200
)

func jsonOut(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encode answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

func jsonError(w http.ResponseWriter, code int, format string, args ...any) {
	jsonOut(w, code, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// storeError answers a lookup's error: a missing object is 404 naming what was asked for.
func storeError(w http.ResponseWriter, what string, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, engine.ErrRunNotFound),
		errors.Is(err, endpoints.ErrNotFound):
		jsonError(w, http.StatusNotFound, "%s does not exist in this workspace", what)
	case errors.Is(err, engine.ErrRunAmbiguous):
		jsonError(w, http.StatusBadRequest, "%s: %v", what, err)
	default:
		jsonError(w, http.StatusInternalServerError, "%s: %v", what, err)
	}
}

// RunSummary is one row of the runs list: what `mlflow runs list` prints.
type RunSummary struct {
	RunID      string    `json:"run_id"`
	Workflow   string    `json:"workflow"`
	Status     string    `json:"status"`
	Started    time.Time `json:"started"`
	DurationMS int64     `json:"duration_ms"`
	Steps      int       `json:"steps"`
	Cached     int       `json:"cached"`
	Trigger    string    `json:"trigger"`
}

func summarize(r *engine.RunRecord) RunSummary {
	s := RunSummary{RunID: r.RunID, Workflow: r.Workflow, Status: r.Status, Started: r.Started,
		DurationMS: r.DurationMS, Steps: len(r.Steps), Trigger: r.Trigger}
	for _, st := range r.Steps {
		if st.Cached {
			s.Cached++
		}
	}
	return s
}

// intParam reads a positive integer query parameter, def when absent.
func intParam(r *http.Request, name string, def, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, fmt.Errorf("query parameter %s=%q: want a whole number from 1 to %d", name, v, max)
	}
	return n, nil
}

func (st *Studio) apiRuns(w http.ResponseWriter, r *http.Request) {
	page, err := intParam(r, "page", 1, math.MaxInt32)
	if err == nil {
		var size int
		if size, err = intParam(r, "size", defaultPageSize, maxPageSize); err == nil {
			st.runsPage(w, r, page, size)
			return
		}
	}
	jsonError(w, http.StatusBadRequest, "%v", err)
}

func (st *Studio) runsPage(w http.ResponseWriter, r *http.Request, page, size int) {
	total, err := engine.CountRuns(r.Context(), st.s)
	if err != nil {
		jsonError(w, 500, "count runs: %v", err)
		return
	}
	runs, err := engine.ListRunsPage(r.Context(), st.s, (page-1)*size, size)
	if err != nil {
		jsonError(w, 500, "list runs: %v", err)
		return
	}
	out := make([]RunSummary, 0, len(runs))
	for _, run := range runs {
		out = append(out, summarize(run))
	}
	jsonOut(w, 200, map[string]any{"total": total, "page": page, "size": size, "runs": out})
}

func (st *Studio) apiRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	run, err := engine.GetRun(r.Context(), st.s, id)
	if err != nil {
		storeError(w, fmt.Sprintf("run %q", id), err)
		return
	}
	jsonOut(w, 200, run)
}

// runStep reads the run and the step the request names ({id}, {step}), answering 404
// itself when either does not exist.
func (st *Studio) runStep(w http.ResponseWriter, r *http.Request) (*engine.RunRecord, string, *engine.StepRecord, bool) {
	id, step := r.PathValue("id"), r.PathValue("step")
	run, err := engine.GetRun(r.Context(), st.s, id)
	if err != nil {
		storeError(w, fmt.Sprintf("run %q", id), err)
		return nil, "", nil, false
	}
	rec, ok := run.Steps[step]
	if !ok {
		jsonError(w, 404, "run %s has no step %q", run.RunID, step)
		return nil, "", nil, false
	}
	return run, step, rec, true
}

// logTailBytes bounds a step log shown in the page: training logs can be long, and the end
// is what one looks at.
const logTailBytes = 64 << 10

// eventPoll is how often a run's event stream looks at its record. A run writes its record
// at most every 100 ms (engine's flushEvery) from another process, so the store is the one
// place to watch, and a poll of one indexed row is cheap.
const eventPoll = 250 * time.Millisecond

// apiRunEvents streams a run's record as server-sent events ("run") each time it changes,
// then "end" once the run is over.
func (st *Studio) apiRunEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	run, err := engine.GetRun(r.Context(), st.s, id)
	if err != nil {
		storeError(w, fmt.Sprintf("run %q", id), err)
		return
	}
	rc := http.NewResponseController(w)
	// The server's write timeout is for requests; a run may go on for an hour.
	rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(200)
	var last []byte
	tick := time.NewTicker(eventPoll)
	defer tick.Stop()
	for {
		b, _ := json.Marshal(run)
		if !bytes.Equal(b, last) {
			fmt.Fprintf(w, "event: run\ndata: %s\n\n", b)
			last = b
		}
		if run.Status != engine.StateRunning && run.Status != engine.StatePending {
			io.WriteString(w, "event: end\ndata: {}\n\n")
			rc.Flush()
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
		if next, err := engine.GetRun(r.Context(), st.s, run.RunID); err == nil {
			run = next
		}
	}
}

// The lists of the workspace's things, as the CLI's list commands read them.
var (
	apiDatasets  = listing("datasets", datasets.List)
	apiEndpoints = listing("endpoints", endpoints.List)
	apiPipelines = listing("pipelines", pipelines.List)
)

// listing answers a list of the workspace's things as JSON: [] (never null) for none.
func listing[T any](what string, list func(context.Context, *store.Store) ([]T, error)) func(*Studio) http.HandlerFunc {
	return func(st *Studio) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			items, err := list(r.Context(), st.s)
			if err != nil {
				jsonError(w, 500, "list %s: %v", what, err)
				return
			}
			if items == nil {
				items = []T{}
			}
			jsonOut(w, 200, items)
		}
	}
}

// Histogram is a numeric column's distribution, computed from the stored frame: the
// profile keeps quartiles, not bins.
type Histogram struct {
	Column string    `json:"column"`
	Edges  []float64 `json:"edges"` // len(Counts)+1
	Counts []int     `json:"counts"`
}

const histogramBins = 20

func histograms(f *tabular.Frame) []Histogram {
	var out []Histogram
	for _, c := range f.Columns {
		if c.Type != tabular.Numeric {
			continue
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range c.Num {
			if v == v {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		if math.IsInf(lo, 1) {
			continue // every value is missing
		}
		bins := histogramBins
		if hi == lo {
			bins = 1
		}
		h := Histogram{Column: c.Name, Counts: make([]int, bins), Edges: make([]float64, bins+1)}
		width := (hi - lo) / float64(bins)
		for i := range h.Edges {
			h.Edges[i] = lo + float64(i)*width
		}
		h.Edges[bins] = hi
		for _, v := range c.Num {
			if v != v {
				continue
			}
			i := bins - 1
			if width > 0 {
				i = min(int((v-lo)/width), bins-1)
			}
			h.Counts[i]++
		}
		out = append(out, h)
	}
	return out
}

func pathVersion(r *http.Request) (string, int, error) {
	name, v := r.PathValue("name"), r.PathValue("version")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return name, 0, fmt.Errorf("version %q of %q: want a whole number from 1", v, name)
	}
	return name, n, nil
}

func (st *Studio) apiDataset(w http.ResponseWriter, r *http.Request) {
	name, v, err := pathVersion(r)
	if err != nil {
		jsonError(w, 400, "%v", err)
		return
	}
	d, err := datasets.Get(r.Context(), st.s, name, v)
	if err != nil {
		storeError(w, fmt.Sprintf("dataset %s:%d", name, v), err)
		return
	}
	all, err := datasets.List(r.Context(), st.s)
	if err != nil {
		jsonError(w, 500, "list datasets: %v", err)
		return
	}
	versions := []*datasets.Dataset{}
	for _, o := range all {
		if o.Name == name {
			versions = append(versions, o)
		}
	}
	out := map[string]any{"dataset": d, "versions": versions}
	if f, err := datasets.LoadFrame(st.s, d.Digest); err == nil {
		out["histograms"] = histograms(f)
	} else {
		out["histograms_error"] = err.Error()
	}
	jsonOut(w, 200, out)
}

func (st *Studio) apiModels(w http.ResponseWriter, r *http.Request) {
	ms, err := models.List(r.Context(), st.s, "")
	if err != nil {
		jsonError(w, 500, "list models: %v", err)
		return
	}
	if ms == nil {
		ms = []models.Record{}
	}
	for i := range ms {
		// The list shows figures; the leaderboard is on the model's page.
		ms[i].Meta.Leaderboard, ms[i].Meta.Importance = nil, nil
		ms[i].Path = ""
	}
	jsonOut(w, 200, ms)
}

// EndpointView is an endpoint as its page shows it.
type EndpointView struct {
	*endpoints.Endpoint
	ScoringURI string `json:"scoring_uri"`
	SwaggerURI string `json:"swagger_uri"`
	DocsURI    string `json:"docs_uri"`
	// Example is a record for the scoring form, built from the training dataset's profile
	// (median, most frequent category), never from a real row.
	Example []Field         `json:"example,omitempty"`
	Summary reqlog.Summary  `json:"summary"`
	Series  []MinuteFigures `json:"series"`
	Tail    []reqlog.Entry  `json:"tail"`
}

// MinuteFigures are one minute of an endpoint's request log.
type MinuteFigures struct {
	Minute time.Time      `json:"minute"`
	Count  int            `json:"count"`
	P50MS  float64        `json:"p50_ms"`
	P99MS  float64        `json:"p99_ms"`
	Status map[string]int `json:"status"`
}

// logWindow bounds the request log read for an endpoint's charts.
const logWindow = 20000

func perMinute(es []reqlog.Entry) []MinuteFigures {
	var out []MinuteFigures
	for i := 0; i < len(es); {
		m := es[i].Time.UTC().Truncate(time.Minute)
		j := i
		for j < len(es) && es[j].Time.UTC().Truncate(time.Minute).Equal(m) {
			j++
		}
		s := reqlog.Summarize(es[i:j])
		out = append(out, MinuteFigures{Minute: m, Count: s.Count, P50MS: s.P50MS, P99MS: s.P99MS, Status: s.Status})
		i = j
	}
	return out
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (st *Studio) apiEndpoint(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	e, err := endpoints.Get(r.Context(), st.s, name)
	if err != nil {
		storeError(w, fmt.Sprintf("endpoint %q", name), err)
		return
	}
	base := baseURL(r) + "/endpoints/" + name
	v := EndpointView{Endpoint: e, ScoringURI: base + "/score", SwaggerURI: base + "/swagger.json", DocsURI: base + "/docs",
		Example: st.example(r.Context(), e)}
	es, _ := reqlog.Tail(endpoints.LogPath(st.s, name), logWindow)
	v.Summary = reqlog.Summarize(es)
	v.Series = perMinute(es)
	v.Tail = es[max(len(es)-50, 0):]
	jsonOut(w, 200, v)
}

// Field is one column of the scoring form, in the dataset's column order.
type Field struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

// example is a typical record of the endpoint's model's training data.
func (st *Studio) example(ctx context.Context, e *endpoints.Endpoint) []Field {
	if e.Model.Version == 0 {
		return nil
	}
	m, err := models.Get(ctx, st.s, e.Model.Name, e.Model.Version)
	if err != nil || m.Meta.Lineage.Dataset.Name == "" {
		return nil
	}
	d, err := datasets.Get(ctx, st.s, m.Meta.Lineage.Dataset.Name, m.Meta.Lineage.Dataset.Version)
	if err != nil || d.Profile == nil {
		return nil
	}
	var out []Field
	for _, c := range d.Profile.Columns {
		switch {
		case c.Name == d.Profile.Target:
		case c.P50 != nil:
			out = append(out, Field{c.Name, *c.P50})
		case len(c.Top) > 0 && c.Type == "boolean":
			out = append(out, Field{c.Name, c.Top[0].Value == "true"})
		case len(c.Top) > 0:
			out = append(out, Field{c.Name, c.Top[0].Value})
		}
	}
	return out
}

// hasKeys answers the error itself when endpoint name is unknown or has no keys to show
// or rotate (its auth is not key).
func (st *Studio) hasKeys(w http.ResponseWriter, r *http.Request, name string) bool {
	e, err := endpoints.Get(r.Context(), st.s, name)
	if err != nil {
		storeError(w, fmt.Sprintf("endpoint %q", name), err)
		return false
	}
	if e.Auth != "key" {
		jsonError(w, 409, "endpoint %s has auth %s: it has no key", name, e.Auth)
		return false
	}
	return true
}

// apiEndpointKey reveals the endpoint's primary key: an explicit POST (CSRF-checked), so
// the key never sits in a page that was only looked at.
func (st *Studio) apiEndpointKey(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !st.hasKeys(w, r, name) {
		return
	}
	k, err := endpoints.ReadKeys(st.s, name)
	if err != nil {
		jsonError(w, 500, "keys of endpoint %s: %v", name, err)
		return
	}
	jsonOut(w, 200, map[string]string{"primary": k.Primary})
}

// apiEndpointStop stops serving an endpoint (503 until redeployed), as `mlflow endpoint
// stop` does.
func (st *Studio) apiEndpointStop(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	e, err := endpoints.SetState(r.Context(), st.s, name, endpoints.Stopped)
	if err != nil {
		storeError(w, fmt.Sprintf("endpoint %q", name), err)
		return
	}
	if st.opts.ReloadEndpoint != nil {
		if err := st.opts.ReloadEndpoint(r.Context(), name); err != nil {
			jsonError(w, 500, "endpoint %s: stopped in the workspace, but the server did not apply it: %v", name, err)
			return
		}
	}
	jsonOut(w, 200, e)
}

// apiEndpointRegenerate replaces one of an endpoint's keys, as `mlflow endpoint keys
// --regenerate` does. The answer does not carry the key: "Reveal key" shows it.
func (st *Studio) apiEndpointRegenerate(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	which := r.URL.Query().Get("which")
	if which != "primary" && which != "secondary" {
		jsonError(w, 400, "query parameter which=%q: want primary or secondary", which)
		return
	}
	if !st.hasKeys(w, r, name) {
		return
	}
	if _, err := endpoints.Regenerate(st.s, name, which); err != nil {
		jsonError(w, 500, "keys of endpoint %s: %v", name, err)
		return
	}
	if st.opts.ReloadEndpoint != nil {
		if err := st.opts.ReloadEndpoint(r.Context(), name); err != nil {
			jsonError(w, 500, "endpoint %s: key rotated, but the server did not take it: %v", name, err)
			return
		}
	}
	jsonOut(w, 200, map[string]string{"regenerated": which})
}

// maxScoreBody bounds the scoring form's request: it is one record typed by a person.
const maxScoreBody = 1 << 20

// apiEndpointScore scores the form's record through the server's own handler with the
// endpoint's key, so the page never needs the key and sees exactly a client's answer.
func (st *Studio) apiEndpointScore(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	e, err := endpoints.Get(r.Context(), st.s, name)
	if err != nil {
		storeError(w, fmt.Sprintf("endpoint %q", name), err)
		return
	}
	var key func() (string, error)
	if e.Auth == "key" {
		key = func() (string, error) {
			k, err := endpoints.ReadKeys(st.s, name)
			return k.Primary, err
		}
	}
	st.forward(w, r, "scoring", "/endpoints/"+name+"/score", key)
}

// forward sends the page's request body to the server's own route at path, with the key
// that key returns (none when key is nil), and answers {"status", "body"} with what the
// route answered: the UI meets exactly the checks a client meets.
func (st *Studio) forward(w http.ResponseWriter, r *http.Request, what, path string, key func() (string, error)) {
	if st.opts.Root == nil {
		jsonError(w, 503, "%s needs the workspace server", what)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxScoreBody))
	if err != nil {
		jsonError(w, 413, "%s request body: %v", what, err)
		return
	}
	req := httptest.NewRequestWithContext(r.Context(), "POST", path, bytes.NewReader(body))
	req.Host = r.Host
	req.Header.Set("Content-Type", "application/json")
	if key != nil {
		k, err := key()
		if err != nil {
			jsonError(w, 500, "%s: key: %v", what, err)
			return
		}
		req.Header.Set("Authorization", "Bearer "+k)
	}
	rec := httptest.NewRecorder()
	st.opts.Root.ServeHTTP(rec, req)
	jsonOut(w, 200, map[string]any{"status": rec.Code, "body": rec.Body.String()})
}

func (st *Studio) apiPipeline(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p, err := pipelines.Get(r.Context(), st.s, name)
	if err != nil {
		storeError(w, fmt.Sprintf("pipeline %q", name), err)
		return
	}
	runs, err := pipelines.ListRuns(r.Context(), st.s, name, 100)
	if err != nil {
		jsonError(w, 500, "runs of pipeline %s: %v", name, err)
		return
	}
	if runs == nil {
		runs = []*pipelines.Run{}
	}
	jsonOut(w, 200, map[string]any{"pipeline": p, "runs": runs})
}

// apiPipelineTrigger starts a run of the pipeline through the server's own REST route with
// the pipeline's key, so a trigger from the UI meets the same checks (parameter types,
// concurrency, disabled) as one from a client. The body is the REST body,
// {"parameters": {...}}.
func (st *Studio) apiPipelineTrigger(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p, err := pipelines.Get(r.Context(), st.s, name)
	if err != nil {
		storeError(w, fmt.Sprintf("pipeline %q", name), err)
		return
	}
	var key func() (string, error)
	if p.Auth != "none" {
		key = func() (string, error) {
			k, err := pipelines.ReadKeys(st.s, name)
			return k.Primary, err
		}
	}
	st.forward(w, r, "triggering", "/pipelines/"+name+"/runs", key)
}

// apiPipelineSwitch enables or disables a pipeline's triggers and schedule, as
// `mlflow pipeline enable|disable` does, and tells the scheduler.
func (st *Studio) apiPipelineSwitch(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		p, err := pipelines.SetDisabled(r.Context(), st.s, name, disabled, time.Now())
		if err != nil {
			storeError(w, fmt.Sprintf("pipeline %q", name), err)
			return
		}
		if st.opts.PipelinesChanged != nil {
			st.opts.PipelinesChanged()
		}
		jsonOut(w, 200, p)
	}
}

// apiOverview is the front page: the latest runs, every endpoint and pipeline, counts.
func (st *Studio) apiOverview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	out := map[string]any{"version": st.opts.Version}
	runs, err := engine.ListRunsPage(ctx, st.s, 0, 10)
	if err != nil {
		jsonError(w, 500, "list runs: %v", err)
		return
	}
	sums := []RunSummary{}
	for _, run := range runs {
		sums = append(sums, summarize(run))
	}
	out["runs"] = sums
	out["total_runs"], _ = engine.CountRuns(ctx, st.s)
	eps, _ := endpoints.List(ctx, st.s)
	out["endpoints"] = append([]*endpoints.Endpoint{}, eps...)
	ps, _ := pipelines.List(ctx, st.s)
	out["pipelines"] = append([]*pipelines.Pipeline{}, ps...)
	ds, _ := datasets.List(ctx, st.s)
	out["datasets"] = append([]*datasets.Dataset{}, ds...)
	ms, _ := models.List(ctx, st.s, "")
	latest := map[string]models.Record{}
	for _, m := range ms {
		m.Meta.Leaderboard, m.Meta.Importance, m.Path = nil, nil, ""
		latest[m.Name] = m
	}
	names := make([]string, 0, len(latest))
	for n := range latest {
		names = append(names, n)
	}
	sort.Strings(names)
	lm := []models.Record{}
	for _, n := range names {
		lm = append(lm, latest[n])
	}
	out["models"] = lm
	jsonOut(w, 200, out)
}

// benchHistogram serves the latency histogram (SVG) of a benchmark step's report: the
// step's "report" output names the file. Only a file inside the workspace is served, so a
// doctored record cannot make the UI read anything else; the page shows it in an <img>,
// where an SVG's scripts do not run.
func (st *Studio) apiBenchHistogram(w http.ResponseWriter, r *http.Request) {
	run, step, rec, ok := st.runStep(w, r)
	if !ok {
		return
	}
	rep, _ := artifact.As[artifact.Report](rec.Outputs["report"])
	p := rep.Histogram
	root, err := filepath.Abs(st.s.Root)
	if p == "" || err != nil || !strings.HasSuffix(p, ".svg") || !strings.HasPrefix(filepath.Clean(p), root+string(filepath.Separator)) {
		jsonError(w, 404, "step %s of run %s has no latency histogram in the workspace", step, run.RunID)
		return
	}
	b, err := os.ReadFile(p)
	if err != nil {
		jsonError(w, 404, "latency histogram of step %s of run %s: %v", step, run.RunID, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Content-Security-Policy", "sandbox; default-src 'none'; style-src 'unsafe-inline'")
	w.Write(b)
}
