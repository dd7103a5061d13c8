package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
)

// summary prints, after a run, what each succeeded step gave, from its typed
// outputs: what a newcomer would otherwise dig out of `runs show` JSON. It is
// driven by output types, not kinds, so a new kind with known output types
// is summarised without a change here. Text that came from outside (labels,
// names, URLs) goes through clean.
type summary struct {
	w         io.Writer
	width     int
	workspace string // --workspace flag the printed commands need, or ""
}

func printSummary(w io.Writer, p *engine.Plan, rec *engine.RunRecord, root string) {
	s := &summary{w: w, workspace: workspaceFlag(root)}
	for _, name := range p.Order {
		s.width = max(s.width, len(name))
	}
	first := true
	for _, name := range p.Order {
		sr := rec.Steps[name]
		if sr == nil || sr.State != engine.StateSucceeded {
			continue
		}
		lines := s.step(p.Nodes[name].Step.Outputs, sr.Outputs)
		for i, l := range lines {
			if first {
				fmt.Fprintln(w)
				first = false
			}
			label := ""
			if i == 0 {
				label = name
			}
			fmt.Fprintf(w, "  %-*s  %s\n", s.width, label, l)
		}
	}
}

// step renders one step's outputs, in the order of their types below.
func (s *summary) step(declared map[string]string, outs engine.Outputs) []string {
	byType := map[string]any{}
	for name, typ := range declared {
		if v, ok := outs[name]; ok {
			byType[typ] = v
		}
	}
	primary := ""
	if v, ok := byType["leaderboard"]; ok {
		if lb, err := artifact.As[artifact.Leaderboard](v); err == nil {
			primary = lb.PrimaryMetric
		}
	}
	_, trained := byType["model"]
	renderers := []struct {
		typ    string
		render func(any) ([]string, error)
	}{
		{"dataset", render(s.dataset)},
		{"model", render(s.model)},
		{"leaderboard", render(s.leaderboard)},
		{"metrics", render(func(m artifact.Metrics) []string { return s.metrics(m, primary, trained) })},
		{"endpoint", render(s.endpoint)},
		{"predictions", render(s.predictions)},
		{"log", render(s.log)},
		{"report", render(s.report)},
		{"pipeline", render(s.pipeline)},
		{"number", func(v any) ([]string, error) { return []string{fmt.Sprintf("exit code %v", v)}, nil }},
		{"files", render(s.files)},
	}
	var lines []string
	for _, r := range renderers {
		v, ok := byType[r.typ]
		if !ok {
			continue
		}
		l, err := r.render(v)
		if err != nil {
			l = []string{fmt.Sprintf("%s: %v", r.typ, err)}
		}
		lines = append(lines, l...)
	}
	return lines
}

// render adapts a renderer of one output type to any value of it: its Go
// type after a run, or generic JSON after a cache hit.
func render[T any](f func(T) []string) func(any) ([]string, error) {
	return func(v any) ([]string, error) {
		t, err := artifact.As[T](v)
		if err != nil {
			return nil, err
		}
		return f(t), nil
	}
}

func (s *summary) dataset(d artifact.Dataset) []string {
	l := fmt.Sprintf("dataset %s: %s rows × %d columns", clean(d.Ref()), thousands(d.Rows), d.Columns)
	if d.Target != "" {
		l += ", target " + clean(d.Target)
	}
	return []string{l}
}

func (s *summary) model(m artifact.Model) []string {
	return []string{fmt.Sprintf("model %s: %s %s", clean(m.Ref()), clean(m.Algorithm), m.Task)}
}

func (s *summary) leaderboard(lb artifact.Leaderboard) []string {
	if lb.Trials == 0 {
		return nil
	}
	l := fmt.Sprintf("%d trials", lb.Trials)
	if lb.BestAlgorithm != "" {
		l += fmt.Sprintf(", best single %s %s %.4f", clean(lb.BestAlgorithm), clean(lb.PrimaryMetric), lb.BestScore)
	}
	return []string{l}
}

// headline are the metrics shown when no primary metric is known (an
// evaluate step): the ones Azure's run page leads with, per task.
var headline = []string{"accuracy", "AUC_weighted", "f1_score_weighted", "r2_score", "normalized_root_mean_squared_error", "spearman_correlation"}

func (s *summary) metrics(m artifact.Metrics, primary string, outOfFold bool) []string {
	if len(m.Scores) == 0 {
		// None to show (an automl step on Azure ML, whose trials' metrics stay there).
		return nil
	}
	names := headline
	if primary != "" {
		names = []string{primary}
	}
	var parts []string
	for _, n := range names {
		if v, ok := m.Scores[n]; ok {
			parts = append(parts, fmt.Sprintf("%s %.4f", clean(n), v))
		}
	}
	if len(parts) == 0 {
		// Unknown names: the first few, sorted, rather than nothing.
		for _, n := range slices.Sorted(maps.Keys(m.Scores))[:min(3, len(m.Scores))] {
			parts = append(parts, fmt.Sprintf("%s %.4f", clean(n), m.Scores[n]))
		}
	}
	l := strings.Join(parts, ", ")
	switch {
	case outOfFold:
		l += " (out of fold)"
	case m.Rows > 0:
		l += fmt.Sprintf(" on %s rows", thousands(m.Rows))
	}
	return []string{l}
}

func (s *summary) endpoint(e artifact.Endpoint) []string {
	head := fmt.Sprintf("endpoint %s serving %s: %s", clean(e.Name), clean(e.Model), clean(e.ScoringURI))
	if e.DocsURI == "" {
		// Served by Azure ML (target azureml): no Swagger UI here, and its
		// key stays on Azure.
		return []string{head}
	}
	return []string{
		head,
		"Swagger UI " + clean(e.DocsURI),
		"key: mlflow endpoint keys " + clean(e.Name) + s.workspace,
	}
}

func (s *summary) predictions(p artifact.Predictions) []string {
	const shown = 5
	parts := make([]string, 0, shown)
	for _, v := range p.Predictions[:min(shown, len(p.Predictions))] {
		parts = append(parts, clean(predictionText(v)))
	}
	l := fmt.Sprintf("%d predictions: %s", p.Count, strings.Join(parts, ", "))
	if len(p.Predictions) > shown {
		l += ", …"
	}
	return []string{l}
}

// predictionText is a label as it is, a number shortly, and a row of class
// probabilities as [0.93 0.07].
func predictionText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', 4, 64)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			if f, ok := e.(float64); ok {
				parts[i] = strconv.FormatFloat(f, 'f', 3, 64)
			} else {
				parts[i] = predictionText(e)
			}
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return fmt.Sprint(v)
}

func (s *summary) log(l artifact.Log) []string {
	var st []string
	for _, code := range slices.Sorted(maps.Keys(l.Status)) {
		st = append(st, fmt.Sprintf("%s: %d", clean(code), l.Status[code]))
	}
	line := fmt.Sprintf("%d requests", l.Count)
	if len(st) > 0 {
		line += " (" + strings.Join(st, ", ") + ")"
	}
	if l.Count > 0 {
		line += fmt.Sprintf(", p50 %.3f ms, p99 %.3f ms", l.P50MS, l.P99MS)
	}
	return []string{line}
}

func (s *summary) report(r artifact.Report) []string {
	head := fmt.Sprintf("%d requests, %d failed, %.0f requests/s", r.Requests, r.Failures, r.RPS)
	answered := 0
	for _, n := range r.Status {
		answered += n
	}
	// Without an answer the latencies are zeros, which would read as fast.
	if answered > 0 {
		head += fmt.Sprintf(", p50 %.3f ms, p99 %.3f ms", r.P50MS, r.P99MS)
	}
	l := []string{head}
	if len(r.Errors) > 0 {
		var parts []string
		for _, k := range sortedKeys(r.Errors) {
			parts = append(parts, fmt.Sprintf("%s: %d", clean(k), r.Errors[k]))
		}
		l = append(l, "no answer: "+strings.Join(parts, ", "))
	}
	if r.Histogram != "" {
		l = append(l, "latency histogram "+clean(r.Histogram))
	}
	return l
}

func (s *summary) pipeline(p artifact.Pipeline) []string {
	l := fmt.Sprintf("pipeline %s:%d: %s", clean(p.Name), p.Version, clean(p.TriggerURI))
	if p.Schedule != "" {
		l += ", " + clean(p.Schedule)
	}
	return []string{l}
}

func (s *summary) files(f artifact.Files) []string {
	if len(f) == 0 {
		return nil
	}
	var parts []string
	for _, p := range slices.Sorted(maps.Keys(f)) {
		parts = append(parts, fmt.Sprintf("%s (%s)", clean(p), humanBytes(f[p].Size)))
	}
	return []string{"files " + strings.Join(parts, ", ")}
}

// thousands groups digits by three: 26,360.
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// workspaceFlag is " --workspace DIR" when a command run from here would not
// find the workspace at root on its own (it looks in the working directory
// and its parents), "" when it would.
func workspaceFlag(root string) string {
	wd, err := os.Getwd()
	if err != nil {
		return " --workspace " + clean(root)
	}
	if found, ok := findWorkspace(wd); ok && found == root {
		return ""
	}
	if rel, err := filepath.Rel(wd, root); err == nil && !strings.HasPrefix(rel, "..") {
		root = rel
	}
	return " --workspace " + clean(root)
}
