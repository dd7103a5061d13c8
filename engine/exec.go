package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sync/errgroup"

	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema"
)

// ErrStepFailed wraps the aggregated step failures Run returns.
var ErrStepFailed = errors.New("step failed")

// ErrCancelled is returned when the run was cancelled (SIGINT).
var ErrCancelled = errors.New("run cancelled")

// flushEvery bounds how stale a running run's stored record can be.
const flushEvery = 100 * time.Millisecond

// Options tune a run.
type Options struct {
	Parallel int  // concurrent steps; 0 = runtime.NumCPU()
	FailFast bool // cancel everything on the first failure
	NoCache  bool // run every step, ignore and overwrite cache entries
	Trigger  string
	RunID    string // optional; generated when empty
	// OnEvent receives every event. It is called from several goroutines,
	// serialised by the engine, so it need not lock.
	OnEvent func(Event)
	// KeyDebug, when set, receives the lines every cache key hashes.
	KeyDebug io.Writer
	Now      func() time.Time
}

// Event is one thing that happened during a run. It is printed as a JSON
// line by `mlflow run --json`.
type Event struct {
	Time       time.Time `json:"time"`
	Type       string    `json:"event"` // run_started, step_started, step_retry, step_progress, step_finished, run_finished
	RunID      string    `json:"run_id"`
	Step       string    `json:"step,omitempty"`
	Kind       string    `json:"kind,omitempty"`
	State      string    `json:"state,omitempty"`
	Cached     bool      `json:"cached,omitempty"`
	DurationMS int64     `json:"duration_ms,omitempty"`
	Attempt    int       `json:"attempt,omitempty"`
	Error      string    `json:"error,omitempty"`
	Done       float64   `json:"done,omitempty"`
	Total      float64   `json:"total,omitempty"`
	Status     string    `json:"status,omitempty"`
	Outputs    Outputs   `json:"outputs,omitempty"`
}

// NewRunID returns a sortable, unique run id.
func NewRunID(now time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return now.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

type result struct {
	name     string
	rec      *StepRecord
	outs     Outputs
	err      error
	canceled bool
	// put, when set, is the cache entry to write with the next batch of step records.
	put *cacheEntry
}

// Run executes the plan. It returns the run record (always, even on
// failure) and an error wrapping ErrStepFailed (all failures together, each
// naming its step) or ErrCancelled.
func Run(ctx context.Context, p *Plan, s *store.Store, opts Options) (*RunRecord, error) {
	if err := migrate(ctx, s); err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	parallel := opts.Parallel
	if parallel <= 0 {
		parallel = runtime.NumCPU()
	}
	var emitMu sync.Mutex
	emit := func(e Event) {
		if opts.OnEvent == nil {
			return
		}
		emitMu.Lock()
		defer emitMu.Unlock()
		opts.OnEvent(e)
	}
	wf := p.Workflow
	rec := &RunRecord{
		RunID:    opts.RunID,
		Workflow: wf.Name,
		File:     wf.File,
		Trigger:  opts.Trigger,
		Status:   StateRunning,
		Started:  now(),
		Params:   wf.Params,
		Steps:    map[string]*StepRecord{},
	}
	if rec.RunID == "" {
		rec.RunID = NewRunID(rec.Started)
	}
	if rec.Trigger == "" {
		rec.Trigger = "cli"
	}
	for name, n := range p.Nodes {
		rec.Steps[name] = &StepRecord{Kind: n.Step.Kind, State: StatePending}
	}
	if err := saveRun(ctx, s, rec, []string{}, nil); err != nil {
		return nil, fmt.Errorf("record run: %w", err)
	}
	// Finished steps are written in batches, at most every flushEvery, so
	// that `mlflow runs show` sees progress without a commit per step.
	var dirty []string
	var puts []cacheEntry // written in the same transaction as the step records
	lastFlush := now()
	emit(Event{Time: rec.Started, Type: "run_started", RunID: rec.RunID})

	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	g := new(errgroup.Group)
	g.SetLimit(parallel)

	pending := map[string]int{}
	for name, n := range p.Nodes {
		pending[name] = len(n.Deps)
	}
	outputs := map[string]Outputs{}
	results := make(chan result, len(p.Nodes))
	remaining := len(p.Nodes)
	var errs *multierror.Error
	failed := false

	// skip marks every transitive dependent of name as skipped.
	var skip func(name, why string)
	skip = func(name, why string) {
		for _, d := range p.Nodes[name].Dependents {
			sr := rec.Steps[d]
			if sr.State != StatePending {
				continue
			}
			sr.State = StateSkipped
			sr.Error = why
			remaining--
			emit(Event{Time: now(), Type: "step_finished", RunID: rec.RunID, Step: d, Kind: sr.Kind, State: StateSkipped, Error: why})
			skip(d, why)
		}
	}

	start := func(name string) {
		rec.Steps[name].State = StateRunning
		n := p.Nodes[name]
		deps := make(map[string]Outputs, len(n.Deps))
		for _, d := range n.Deps {
			deps[d] = outputs[d]
		}
		g.Go(func() error {
			r := runStep(runCtx, s, n, deps, rec.RunID, wf, parallel, opts, now, emit)
			results <- r
			return nil
		})
	}
	for _, name := range p.Order {
		if pending[name] == 0 {
			start(name)
		}
	}
	for remaining > 0 {
		r := <-results
		remaining--
		rec.Steps[r.name] = r.rec
		dirty = append(dirty, r.name)
		if r.put != nil {
			puts = append(puts, *r.put)
		}
		switch {
		case r.err == nil:
			outputs[r.name] = r.outs
			for _, d := range p.Nodes[r.name].Dependents {
				if pending[d]--; pending[d] == 0 && rec.Steps[d].State == StatePending {
					if runCtx.Err() != nil {
						continue
					}
					start(d)
				}
			}
		default:
			if !r.canceled {
				failed = true
				errs = multierror.Append(errs, fmt.Errorf("step %s: %w", r.name, r.err))
				if opts.FailFast {
					cancelRun(fmt.Errorf("step %s failed (--fail-fast)", r.name))
				}
			}
			skip(r.name, "dependency "+r.name+" "+r.rec.State)
		}
		if runCtx.Err() != nil {
			// Nothing new starts after a cancel; what never started is
			// recorded as cancelled.
			for _, name := range p.Order {
				if sr := rec.Steps[name]; sr.State == StatePending && pending[name] == 0 {
					sr.State = StateCancelled
					sr.Error = "not started: run cancelled"
					remaining--
					emit(Event{Time: now(), Type: "step_finished", RunID: rec.RunID, Step: name, Kind: sr.Kind, State: StateCancelled})
					skip(name, "dependency "+name+" cancelled")
				}
			}
		}
		if remaining > 0 && now().Sub(lastFlush) >= flushEvery {
			if err := saveRun(ctx, s, rec, dirty, puts); err != nil {
				errs = multierror.Append(errs, fmt.Errorf("record run: %w", err))
			}
			dirty, puts, lastFlush = dirty[:0], puts[:0], now()
		}
	}
	g.Wait()

	rec.DurationMS = now().Sub(rec.Started).Milliseconds()
	var runErr error
	switch {
	case ctx.Err() != nil:
		rec.Status = StateCancelled
		rec.Error = "cancelled"
		runErr = ErrCancelled
		if errs != nil {
			runErr = fmt.Errorf("%w; also: %w", ErrCancelled, errs.ErrorOrNil())
		}
	case failed:
		rec.Status = StateFailed
		errs.ErrorFormat = formatErrors
		rec.Error = errs.Error()
		runErr = fmt.Errorf("%w: %w", ErrStepFailed, errs.ErrorOrNil())
	default:
		rec.Status = StateSucceeded
	}
	if err := saveRun(ctx, s, rec, nil, puts); err != nil && runErr == nil {
		runErr = fmt.Errorf("record run: %w", err)
	}
	emit(Event{Time: now(), Type: "run_finished", RunID: rec.RunID, State: rec.Status, DurationMS: rec.DurationMS, Error: rec.Error})
	return rec, runErr
}

func formatErrors(es []error) string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// runStep runs one step: cache or reconcile first, then the kind with
// timeout and retries. It never panics.
func runStep(ctx context.Context, s *store.Store, n *Node, deps map[string]Outputs, runID string,
	wf *schema.Workflow, parallel int, opts Options, now func() time.Time, emit func(Event)) (res result) {
	st := n.Step
	res.name = st.Name
	sr := &StepRecord{Kind: st.Kind, State: StateRunning, Started: now()}
	res.rec = sr
	emit(Event{Time: sr.Started, Type: "step_started", RunID: runID, Step: st.Name, Kind: st.Kind})
	defer func() {
		if p := recover(); p != nil {
			res.err = fmt.Errorf("panic in step kind %s: %v", st.Kind, p)
			fmt.Fprintf(os.Stderr, "mlflow: step %s panicked: %v\n%s", st.Name, p, debug.Stack())
		}
		sr.DurationMS = now().Sub(sr.Started).Milliseconds()
		switch {
		case res.err == nil:
			sr.State = StateSucceeded
			sr.Outputs = res.outs
		case ctx.Err() != nil:
			// The run was cancelled (SIGINT, or --fail-fast after another
			// step failed); whatever this step returned is a consequence.
			sr.State = StateCancelled
			sr.Error = "cancelled"
			if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
				sr.Error = "cancelled: " + cause.Error()
			}
			res.canceled = true
		default:
			sr.State = StateFailed
			sr.Error = res.err.Error()
		}
		emit(Event{Time: now(), Type: "step_finished", RunID: runID, Step: st.Name, Kind: st.Kind, State: sr.State,
			Cached: sr.Cached, DurationMS: sr.DurationMS, Error: sr.Error, Outputs: sr.Outputs})
	}()

	cfg, err := Resolve(st.Config, deps)
	if err != nil {
		res.err = err
		return res
	}
	var req *Request
	defer func() {
		if req != nil && req.scratch != "" {
			os.RemoveAll(req.scratch)
		}
	}()
	logDir := filepath.Join(s.Root, "tmp")
	logf := &lazyFile{dir: logDir}
	defer func() {
		// Only a step that wrote something gets a log blob: most steps of
		// a cached re-run write nothing, and a blob costs an fsync.
		if logf.f == nil {
			return
		}
		logf.f.Close()
		defer os.Remove(logf.f.Name())
		if f, err := os.Open(logf.f.Name()); err == nil {
			if d, _, err := s.Put(f); err == nil {
				sr.Log = d
			}
			f.Close()
		}
	}()
	req = &Request{
		RunID: runID, Step: st.Name, Kind: st.Kind, Workflow: wf, Config: cfg, Store: s,
		Log: &syncWriter{w: logf}, scratchRoot: logDir, Parallel: parallel,
		Progress: &progress{emit: emit, runID: runID, step: st.Name, kind: st.Kind, now: now},
	}

	_, noCacher := n.Kind.(NoCacher)
	if nc, ok := n.Kind.(NoCacher); ok {
		noCacher = nc.NoCache()
	}
	useCache := st.Cache && !opts.NoCache && !noCacher
	rc, isReconciler := n.Kind.(Reconciler)
	var key string
	switch {
	case useCache && isReconciler:
		outs, ok, err := rc.Reconcile(ctx, req)
		if err != nil {
			res.err = fmt.Errorf("reconcile: %w", err)
			return res
		}
		if ok {
			sr.Cached = true
			res.outs = outs
			req.Logf("up to date: nothing to change")
			return res
		}
	case useCache:
		key, err = cacheKey(ctx, n, req, cfg, opts.KeyDebug)
		if err != nil {
			res.err = err
			return res
		}
		sr.CacheKey = key
		outs, used, ok := cacheGet(ctx, s, key)
		if ok {
			if r, isRestorer := n.Kind.(Restorer); isRestorer {
				if err := r.Restore(ctx, req, outs); err != nil {
					req.Logf("cache entry %s not restorable, running: %v", key, err)
					ok = false
				}
			}
		}
		if ok {
			sr.Cached = true
			res.outs = outs
			if now().Sub(used) > time.Hour {
				// Refreshed at most hourly (as the go command's cache
				// does): a trim needs only a rough age, and a write per
				// hit would make an unchanged re-run pay a commit per step.
				cacheTouch(ctx, s, key, now())
			}
			return res
		}
	}

	attempts := max(st.Retry.Attempts, 1)
	for attempt := 1; ; attempt++ {
		sr.Attempts = attempt
		res.outs, res.err = runOnce(ctx, n, req, st.Timeout)
		if res.err == nil || attempt >= attempts || ctx.Err() != nil {
			break
		}
		wait := st.Retry.Backoff << (attempt - 1)
		req.Logf("attempt %d of %d failed: %v; retrying in %s", attempt, attempts, res.err, wait)
		emit(Event{Time: now(), Type: "step_retry", RunID: runID, Step: st.Name, Kind: st.Kind, Attempt: attempt, Error: res.err.Error()})
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	if res.err != nil {
		req.Logf("error: %v", res.err)
		return res
	}
	if err := checkOutputs(st.Kind, res.outs); err != nil {
		res.err = err
		return res
	}
	if useCache && !isReconciler && key != "" {
		// Written by the coordinator with the step's record: one commit per batch of steps
		// rather than one per step (a cold 1,000-step run spent most of its time committing).
		// Encoded now, while the outputs are this step's alone.
		if js, err := json.Marshal(res.outs); err != nil {
			req.Logf("warning: cache entry not written: %v", err)
		} else {
			res.put = &cacheEntry{key: key, kind: st.Kind, outputs: string(js), at: now()}
		}
	}
	return res
}

func runOnce(ctx context.Context, n *Node, req *Request, timeout time.Duration) (outs Outputs, err error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, fmt.Errorf("timed out after %s", timeout))
		defer cancel()
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in step kind %s: %v", n.Step.Kind, p)
			req.Logf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	outs, err = n.Kind.Run(ctx, req)
	if err != nil && timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = context.Cause(ctx)
	}
	return outs, err
}

// checkOutputs holds kinds to their declared contract: every output the
// schema declares must be produced.
func checkOutputs(kind string, outs Outputs) error {
	for _, k := range schema.Kinds() {
		if k.Kind != kind {
			continue
		}
		var missing []string
		for name := range k.Outputs {
			if _, ok := outs[name]; !ok {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return fmt.Errorf("step kind %s did not produce declared output(s) %s", kind, strings.Join(missing, ", "))
		}
	}
	return nil
}

func cacheKey(ctx context.Context, n *Node, req *Request, cfg map[string]any, debugW io.Writer) (string, error) {
	var b bytes.Buffer
	if err := keyLines(&b, n, cfg); err != nil {
		return "", err
	}
	if k, ok := n.Kind.(Keyer); ok {
		if err := k.Key(ctx, req, &b); err != nil {
			return "", fmt.Errorf("cache key: %w", err)
		}
	}
	key := hashKey(b.String())
	if debugW != nil {
		fmt.Fprintf(debugW, "cachehash %s %s:\n%s", n.Step.Name, key, b.String())
	}
	return key, nil
}

// lazyFile creates its file on the first write.
type lazyFile struct {
	dir string
	f   *os.File
	err error
}

func (l *lazyFile) Write(p []byte) (int, error) {
	if l.f == nil && l.err == nil {
		l.f, l.err = os.CreateTemp(l.dir, "log-*")
	}
	if l.err != nil {
		return 0, l.err
	}
	return l.f.Write(p)
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// progress forwards a step's progress as events, at most every 100 ms.
type progress struct {
	mu                sync.Mutex
	emit              func(Event)
	runID, step, kind string
	now               func() time.Time
	last              time.Time
}

func (p *progress) Update(done, total float64, status string) {
	p.mu.Lock()
	t := p.now()
	if t.Sub(p.last) < 100*time.Millisecond && done < total {
		p.mu.Unlock()
		return
	}
	p.last = t
	p.mu.Unlock()
	p.emit(Event{Time: t, Type: "step_progress", RunID: p.runID, Step: p.step, Kind: p.kind, Done: done, Total: total, Status: status})
}

// StepKey is the cache key the engine would give kind run with req (req.Config already
// resolved): for conformance tests of step kinds, which must give equal keys for equal inputs.
func StepKey(ctx context.Context, kind Step, req *Request) (string, error) {
	n := &Node{Step: &schema.Step{Name: req.Step, Kind: req.Kind}, Kind: kind}
	return cacheKey(ctx, n, req, req.Config, nil)
}
