package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/mlflow-go/mlflow/engine"
)

// runOutput renders a run's events: JSON lines with --json, one live line
// per step redrawn in place on a terminal, plain lines otherwise.
type runOutput struct {
	c     *cli
	order []string
	kinds map[string]string
	width int

	mu       sync.Mutex
	steps    map[string]*stepView
	drawn    int // lines drawn last time (terminal mode)
	stop     chan struct{}
	stopped  chan struct{}
	runID    string
	lastDraw time.Time
}

type stepView struct {
	state    string
	cached   bool
	started  time.Time
	duration time.Duration
	status   string
	done     float64
	total    float64
	err      string
}

func newRunOutput(c *cli, p *engine.Plan) *runOutput {
	o := &runOutput{c: c, order: p.Order, kinds: map[string]string{}, steps: map[string]*stepView{}}
	for _, name := range p.Order {
		o.kinds[name] = p.Nodes[name].Step.Kind
		o.steps[name] = &stepView{state: engine.StatePending}
		o.width = max(o.width, len(name))
	}
	if c.tty && !c.json {
		// Redraw running durations even when no event arrives.
		o.stop, o.stopped = make(chan struct{}), make(chan struct{})
		go func() {
			defer close(o.stopped)
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-o.stop:
					return
				case <-t.C:
					o.mu.Lock()
					o.draw()
					o.mu.Unlock()
				}
			}
		}()
	}
	return o
}

func (o *runOutput) event(e engine.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.runID = e.RunID
	if v := o.steps[e.Step]; v != nil {
		switch e.Type {
		case "step_started":
			v.state, v.started = engine.StateRunning, e.Time
		case "step_progress":
			v.done, v.total, v.status = e.Done, e.Total, e.Status
		case "step_retry":
			v.status = fmt.Sprintf("attempt %d failed, retrying", e.Attempt)
		case "step_finished":
			v.state, v.cached, v.err = e.State, e.Cached, e.Error
			v.duration = time.Duration(e.DurationMS) * time.Millisecond
		}
	}
	switch {
	case o.c.json:
		json.NewEncoder(o.c.stdout).Encode(e)
	case o.c.tty:
		if e.Type != "step_progress" || time.Since(o.lastDraw) > 100*time.Millisecond {
			o.draw()
		}
	default:
		o.plain(e)
	}
}

func (o *runOutput) plain(e engine.Event) {
	w := o.c.stdout
	switch e.Type {
	case "run_started":
		fmt.Fprintf(w, "run %s\n", e.RunID)
	case "step_started":
		fmt.Fprintf(w, "%-*s  %-9s started\n", o.width, e.Step, e.Kind)
	case "step_retry":
		fmt.Fprintf(w, "%-*s  %-9s attempt %d failed: %s\n", o.width, e.Step, e.Kind, e.Attempt, e.Error)
	case "step_finished":
		line := fmt.Sprintf("%-*s  %-9s %s", o.width, e.Step, e.Kind, e.State)
		if e.State == engine.StateSucceeded || e.State == engine.StateFailed {
			line += " in " + fmtDuration(time.Duration(e.DurationMS)*time.Millisecond)
		}
		if e.Cached {
			line += " (cached)"
		}
		if e.Error != "" && e.State != engine.StateFailed && e.Error != e.State {
			line += ": " + e.Error
		}
		fmt.Fprintln(w, line)
	}
}

// draw repaints one line per step: move up over the last drawing, clear
// and rewrite each line.
func (o *runOutput) draw() {
	var b strings.Builder
	if o.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", o.drawn)
	}
	for _, name := range o.order {
		v := o.steps[name]
		b.WriteString("\x1b[2K")
		b.WriteString(o.line(name, v))
		b.WriteByte('\n')
	}
	o.drawn = len(o.order)
	o.lastDraw = time.Now()
	io.WriteString(o.c.stdout, b.String())
}

var stateMark = map[string]string{
	engine.StatePending:   "·",
	engine.StateRunning:   "▸",
	engine.StateSucceeded: "✓",
	engine.StateFailed:    "✗",
	engine.StateSkipped:   "-",
	engine.StateCancelled: "⊘",
}

func (o *runOutput) line(name string, v *stepView) string {
	d := v.duration
	if v.state == engine.StateRunning {
		d = time.Since(v.started)
	}
	s := fmt.Sprintf("%s %-*s  %-9s %-9s", stateMark[v.state], o.width, name, o.kinds[name], v.state)
	if v.state != engine.StatePending && v.state != engine.StateSkipped {
		s += fmt.Sprintf(" %7s", fmtDuration(d))
	}
	if v.cached {
		s += "  cached"
	}
	if v.state == engine.StateRunning && v.total > 0 {
		s += "  " + bar(v.done/v.total, 20)
	}
	if v.state == engine.StateRunning && v.status != "" {
		s += "  " + truncate(v.status, 60)
	}
	if v.err != "" && v.state != engine.StateSucceeded {
		s += "  " + truncate(firstLine(v.err), 80)
	}
	return s
}

func (o *runOutput) finish(rec *engine.RunRecord) {
	if o.stop != nil {
		close(o.stop)
		<-o.stopped
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if rec == nil {
		return
	}
	if o.c.json {
		json.NewEncoder(o.c.stdout).Encode(rec)
		return
	}
	if o.c.tty {
		o.draw()
	}
	cached := 0
	for _, st := range rec.Steps {
		if st.Cached {
			cached++
		}
	}
	fmt.Fprintf(o.c.stdout, "run %s %s in %s (%d steps, %d cached)\n", rec.RunID, rec.Status,
		fmtDuration(time.Duration(rec.DurationMS)*time.Millisecond), len(rec.Steps), cached)
}

func bar(frac float64, width int) string {
	frac = min(max(frac, 0), 1)
	n := int(frac * float64(width))
	return "[" + strings.Repeat("█", n) + strings.Repeat(" ", width-n) + "]"
}

func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	default:
		return d.Round(time.Second).String()
	}
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
