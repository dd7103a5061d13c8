package studio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"strconv"
	"unicode/utf8"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/datasets"
	"github.com/mlflow-go/mlflow/internal/ml/model"
	"github.com/mlflow-go/mlflow/internal/models"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

// StepLog is a step's log as the run page shows it. For a running step the page asks again
// with ?offset=Offset and appends what comes back: it reads the log file the step is
// writing (engine.LiveLogPath) from that byte on, so a long log costs each poll only its
// new bytes, at most logTailBytes of them.
type StepLog struct {
	Step  string `json:"step"`
	State string `json:"state"`
	Log   string `json:"log"`
	// Live is true while the step runs: ask again with offset=Offset for what follows.
	Live   bool  `json:"live"`
	Offset int64 `json:"offset"`
	// Truncated says bytes before Log were left out (the log was longer than the page
	// keeps, or grew by more than that since the last poll).
	Truncated bool `json:"truncated"`
	// Reset says the log restarted (the run id was reused): drop what was shown.
	Reset bool `json:"reset,omitempty"`
}

func (st *Studio) apiStepLog(w http.ResponseWriter, r *http.Request) {
	run, step, rec, ok := st.runStep(w, r)
	if !ok {
		return
	}
	var offset int64
	if v := r.URL.Query().Get("offset"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			jsonError(w, 400, "query parameter offset=%q: want a byte offset, a whole number from 0", v)
			return
		}
		offset = n
	}
	out := StepLog{Step: step, State: rec.State}
	switch {
	case rec.Log != "":
		b, err := st.s.Get(rec.Log)
		if err != nil {
			jsonError(w, 500, "log of step %s of run %s: %v", step, run.RunID, err)
			return
		}
		out.Offset = int64(len(b))
		out.Truncated = len(b) > logTailBytes
		if out.Truncated {
			b = b[len(b)-logTailBytes:]
		}
		out.Log = string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
	case rec.State == engine.StateRunning && run.Status == engine.StateRunning:
		out.Live = true
		t, err := tailFile(engine.LiveLogPath(st.s, run.RunID, step), offset, logTailBytes)
		if err != nil {
			jsonError(w, 500, "log of step %s of run %s: %v", step, run.RunID, err)
			return
		}
		out.Log, out.Offset, out.Truncated, out.Reset = t.text, t.end, t.truncated, t.reset
	}
	jsonOut(w, 200, out)
}

type tail struct {
	text             string
	end              int64
	truncated, reset bool
}

// tailFile reads path from offset to its end, keeping at most max bytes (the last ones). A
// file that does not exist yet is empty: the step has logged nothing. The text starts and
// ends on whole UTF-8 characters; a character still being written is left for the next
// read (end stops before it).
func tailFile(path string, offset int64, max int) (tail, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return tail{end: offset}, nil
	}
	if err != nil {
		return tail{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return tail{}, err
	}
	size := fi.Size()
	var t tail
	if offset > size {
		offset, t.reset = 0, true
	}
	start := offset
	if size-start > int64(max) {
		start, t.truncated = size-int64(max), true
	}
	b := make([]byte, size-start)
	n, err := f.ReadAt(b, start)
	if err != nil && !errors.Is(err, io.EOF) {
		return tail{}, err
	}
	b = b[:n]
	if t.truncated {
		// Cut mid-character: skip its continuation bytes.
		for i := 0; i < utf8.UTFMax && len(b) > 0 && !utf8.RuneStart(b[0]); i++ {
			b = b[1:]
		}
	}
	keep := len(b)
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				keep = i
			}
			break
		}
	}
	t.end = start + int64(n) - int64(len(b)-keep)
	t.text = string(bytes.ToValidUTF8(b[:keep], []byte("\uFFFD")))
	return t, nil
}

// ModelView is a model version as its page shows it: the registry's record and the charts
// kept in its artifact.
type ModelView struct {
	models.Record
	// Diagnostics is nil for a model trained before they were kept: the page says so.
	Diagnostics      *model.Diagnostics `json:"diagnostics,omitempty"`
	DiagnosticsError string             `json:"diagnostics_error,omitempty"`
}

// maxCachedDiagnostics bounds the decoded charts kept in memory. Each is a few tens of KB,
// but reading them means decoding the whole artifact, which can be megabytes of trees.
const maxCachedDiagnostics = 64

// diagnostics reads the charts from the model's artifact, once per artifact: an artifact's
// content never changes under its digest.
func (st *Studio) diagnostics(m models.Record) (*model.Diagnostics, error) {
	st.mu.Lock()
	d, ok := st.diag[m.Digest]
	st.mu.Unlock()
	if ok {
		return d, nil
	}
	b, err := os.ReadFile(m.Path)
	if err != nil {
		return nil, fmt.Errorf("artifact of model %s:%d: %w", m.Name, m.Version, err)
	}
	var a struct {
		Diagnostics *model.Diagnostics `json:"diagnostics"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("artifact of model %s:%d: %w", m.Name, m.Version, err)
	}
	st.mu.Lock()
	if st.diag == nil || len(st.diag) >= maxCachedDiagnostics {
		st.diag = map[string]*model.Diagnostics{}
	}
	st.diag[m.Digest] = a.Diagnostics
	st.mu.Unlock()
	return a.Diagnostics, nil
}

func (st *Studio) apiModel(w http.ResponseWriter, r *http.Request) {
	name, v, err := pathVersion(r)
	if err != nil {
		jsonError(w, 400, "%v", err)
		return
	}
	m, err := models.Get(r.Context(), st.s, name, v)
	if err != nil {
		storeError(w, fmt.Sprintf("model %s:%d", name, v), err)
		return
	}
	out := ModelView{Record: m}
	if out.Diagnostics, err = st.diagnostics(m); err != nil {
		out.DiagnosticsError = err.Error()
	}
	out.Path = "" // a path on the server's disk is of no use to a browser
	jsonOut(w, 200, out)
}

// ColumnChange compares one column across two versions of a dataset. A side is nil where
// the version has no such column.
type ColumnChange struct {
	Name string                 `json:"name"`
	A    *tabular.ColumnProfile `json:"a"`
	B    *tabular.ColumnProfile `json:"b"`
	// MissingDelta is the change of the missing share (B − A, in points of the rows);
	// MeanDelta the change of the mean in A's standard deviations (numeric columns).
	MissingDelta *float64 `json:"missing_delta,omitempty"`
	MeanDelta    *float64 `json:"mean_delta_sd,omitempty"`
	// TopChanged says the most frequent category differs (categorical columns).
	TopChanged bool `json:"top_changed,omitempty"`
}

// Comparison is two versions of a dataset side by side.
type Comparison struct {
	Name     string              `json:"name"`
	Versions []*datasets.Dataset `json:"versions"`
	A        *datasets.Dataset   `json:"a"`
	B        *datasets.Dataset   `json:"b"`
	Columns  []ColumnChange      `json:"columns"`
}

func compareProfiles(a, b *tabular.Profile) []ColumnChange {
	if a == nil {
		a = &tabular.Profile{}
	}
	if b == nil {
		b = &tabular.Profile{}
	}
	byName := map[string]int{}
	out := []ColumnChange{} // [] in JSON, never null, for a dataset without a profile
	for i := range a.Columns {
		c := &a.Columns[i]
		byName[c.Name] = len(out)
		out = append(out, ColumnChange{Name: c.Name, A: c})
	}
	for i := range b.Columns {
		c := &b.Columns[i]
		if j, ok := byName[c.Name]; ok {
			out[j].B = c
		} else {
			out = append(out, ColumnChange{Name: c.Name, B: c})
		}
	}
	for i := range out {
		x, y := out[i].A, out[i].B
		if x == nil || y == nil {
			continue
		}
		if a.Rows > 0 && b.Rows > 0 {
			d := 100 * (float64(y.Missing)/float64(b.Rows) - float64(x.Missing)/float64(a.Rows))
			out[i].MissingDelta = &d
		}
		if x.Mean != nil && y.Mean != nil && x.Std != nil && *x.Std > 0 {
			d := (*y.Mean - *x.Mean) / *x.Std
			if !math.IsInf(d, 0) && !math.IsNaN(d) {
				out[i].MeanDelta = &d
			}
		}
		if len(x.Top) > 0 && len(y.Top) > 0 && x.Top[0].Value != y.Top[0].Value {
			out[i].TopChanged = true
		}
	}
	return out
}

// apiDatasetCompare answers two versions of a dataset side by side: ?a=V&b=W, by default
// the two latest (one version is compared with itself).
func (st *Studio) apiDatasetCompare(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	all, err := datasets.List(r.Context(), st.s)
	if err != nil {
		jsonError(w, 500, "list datasets: %v", err)
		return
	}
	versions := []*datasets.Dataset{}
	for _, d := range all {
		if d.Name == name {
			versions = append(versions, d)
		}
	}
	if len(versions) == 0 {
		jsonError(w, 404, "dataset %q does not exist in this workspace", name)
		return
	}
	pick := func(param string, def int) (int, error) {
		v := r.URL.Query().Get(param)
		if v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("query parameter %s=%q: want a version of dataset %s, a whole number from 1", param, v, name)
		}
		return n, nil
	}
	latest := versions[len(versions)-1].Version
	prev := latest
	if len(versions) > 1 {
		prev = versions[len(versions)-2].Version
	}
	va, err := pick("a", prev)
	if err == nil {
		var vb int
		if vb, err = pick("b", latest); err == nil {
			st.compare(w, r, name, versions, va, vb)
			return
		}
	}
	jsonError(w, 400, "%v", err)
}

func (st *Studio) compare(w http.ResponseWriter, r *http.Request, name string, versions []*datasets.Dataset, va, vb int) {
	a, err := datasets.Get(r.Context(), st.s, name, va)
	if err != nil {
		storeError(w, fmt.Sprintf("dataset %s:%d", name, va), err)
		return
	}
	b, err := datasets.Get(r.Context(), st.s, name, vb)
	if err != nil {
		storeError(w, fmt.Sprintf("dataset %s:%d", name, vb), err)
		return
	}
	jsonOut(w, 200, Comparison{Name: name, Versions: versions, A: a, B: b, Columns: compareProfiles(a.Profile, b.Profile)})
}
