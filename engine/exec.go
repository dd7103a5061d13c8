package engine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
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
)

// ErrStepFailed wraps the aggregated step failures Run returns.
var ErrStepFailed = errors.New("step failed")

// ErrCancelled is returned when the run was cancelled (SIGINT).
var ErrCancelled = errors.New("run cancelled")

// flushEvery bounds how stale a running run's stored record can be.
const flushEvery = 100 * time.Millisecond

const flushGrace = time.Millisecond

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

// Run executes the plan. It returns the run record (always, even on
// failure) and an error wrapping ErrStepFailed (all failures together, each
// naming its step once) or ErrCancelled.
func Run(ctx context.Context, p *Plan, s *store.Store, opts Options) (*RunRecord, error) {
	if err := migrate(ctx, s); err != nil {
		return nil, err
	}
	return newRunner(p, s, opts).run(ctx)
}

// runner is one execution of a plan. Its fields other than the settings
// belong to the coordinating goroutine (run and what it calls); step
// goroutines see only their node, their inputs and emit, and hand their
// result back over results.
type runner struct {
	plan     *Plan
	store    *store.Store
	opts     Options
	now      func() time.Time
	parallel int
	rec      *RunRecord
	cache    *entries

	emitMu sync.Mutex

	ctx     context.Context // cancelled by SIGINT, or by --fail-fast on a failure
	cancel  context.CancelCauseFunc
	group   errgroup.Group
	results chan result
	running int

	pending   map[string]int     // unfinished dependencies of each step
	outputs   map[string]Outputs // of every succeeded step
	remaining int                // steps not yet in a final state
	errs      *multierror.Error
	failed    bool
	// Steps whose dependencies all succeeded, in the order they became
	// ready; those in waiting also need a batch written first (see flush).
	ready   []string
	waiting []waiter

	// Finished steps and new cache entries not yet written. Batches are
	// numbered: batch is the one being collected, written the last one
	// durable; putIn tells which batch holds a step's cache entry.
	dirty      []string
	puts       []cacheEntry
	batch      int
	written    int
	putIn      map[string]int
	lastRecord time.Time  // when the whole record was last written
	flushing   bool       // a batch is being written
	inflight   *batch     // that batch
	flushed    chan error // its outcome
	// started is set when a step started since the whole record was last
	// written: the record must show it running (the web UI reads it).
	started bool
}

// waiter is a ready step that starts once batch is written.
type waiter struct {
	name  string
	batch int
}

// result is a finished step, handed from its goroutine to the coordinator.
type result struct {
	name     string
	rec      *StepRecord
	outs     Outputs
	err      error
	canceled bool
	// put, when set, is the cache entry to write with the step's record.
	put *cacheEntry
}

func newRunner(p *Plan, s *store.Store, opts Options) *runner {
	r := &runner{plan: p, store: s, opts: opts, now: opts.Now, parallel: opts.Parallel,
		results: make(chan result, len(p.Nodes)), flushed: make(chan error, 1), pending: map[string]int{}, outputs: map[string]Outputs{},
		batch: 1, putIn: map[string]int{},
		remaining: len(p.Nodes)}
	if r.now == nil {
		r.now = time.Now
	}
	if r.parallel <= 0 {
		r.parallel = runtime.NumCPU()
	}
	wf := p.Workflow
	r.rec = &RunRecord{RunID: opts.RunID, Workflow: wf.Name, File: wf.File, Trigger: opts.Trigger,
		Status: StateRunning, Started: r.now(), Params: wf.Params, Steps: map[string]*StepRecord{}}
	if r.rec.RunID == "" {
		r.rec.RunID = NewRunID(r.rec.Started)
	}
	if r.rec.Trigger == "" {
		r.rec.Trigger = "cli"
	}
	host, _ := os.Hostname()
	r.rec.Owner = &RunOwner{PID: os.Getpid(), Host: host}
	r.rec.Deps = make(map[string][]string, len(p.Nodes))
	for name, n := range p.Nodes {
		r.rec.Steps[name] = &StepRecord{Kind: n.Step.Kind, State: StatePending}
		r.pending[name] = len(n.Deps)
		r.rec.Deps[name] = n.Deps
	}
	return r
}

func (r *runner) emit(e Event) {
	if r.opts.OnEvent == nil {
		return
	}
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.opts.OnEvent(e)
}

func (r *runner) run(ctx context.Context) (*RunRecord, error) {
	// Runs left "running" by a killed process are settled before this one
	// adds its own, so a listing never shows a dead run as live.
	markInterrupted(ctx, r.store)
	// The lock is held until after the final record is written: a reader
	// that finds the run "running" and the lock free knows the process died.
	owner, err := r.store.Own(ownerLock(r.rec.RunID))
	if err != nil {
		return nil, fmt.Errorf("record run %s: %w", r.rec.RunID, err)
	}
	defer owner.Release()
	// The record alone: a step gets its row when it reaches a final state.
	if err := save(ctx, r.store, r.rec, true, []string{}, nil); err != nil {
		return nil, fmt.Errorf("record run: %w", err)
	}
	r.lastRecord = r.now()
	r.emit(Event{Time: r.rec.Started, Type: "run_started", RunID: r.rec.RunID})

	r.cache = newEntries(ctx, r.store)
	defer r.cache.close()
	r.ctx, r.cancel = context.WithCancelCause(ctx)
	defer r.cancel(nil)
	for _, name := range r.plan.Order {
		if r.pending[name] == 0 {
			r.ready = append(r.ready, name)
		}
	}
	// One timer, reset as needed: a run of many steps sets it once per event.
	staleTimer := time.NewTimer(time.Hour)
	defer staleTimer.Stop()
	for r.remaining > 0 {
		r.launch()
		// Written when a free slot has nothing else to run but steps wait
		// for the batch being collected, or when the record is due. (When
		// no batch is being written, every waiter needs the one collected.)
		idle := r.running < r.parallel && len(r.waiting) > 0
		unwritten := len(r.dirty) > 0 || r.started
		due := unwritten && r.now().Sub(r.lastRecord) >= flushEvery
		var grace, stale <-chan time.Time
		switch {
		case r.flushing:
		case due || idle && r.running == 0:
			r.flush(ctx)
		case idle:
			// Steps still running may finish within about a commit's
			// time and share it.
			grace = time.After(flushGrace)
		case unwritten:
			// Nothing else may happen for as long as a step runs: the
			// record is written when it is due, not at the next event.
			staleTimer.Reset(flushEvery - r.now().Sub(r.lastRecord))
			stale = staleTimer.C
		}
		if r.running == 0 && !r.flushing {
			break // nothing runs and nothing can start: all that is left was settled
		}
		select {
		case res := <-r.results:
			r.finish(res)
			r.finishQueued()
		case err := <-r.flushed:
			r.flushDone(err)
		case <-grace:
			r.flush(ctx)
		case <-stale:
		}
	}
	if r.flushing {
		r.flushDone(<-r.flushed)
	}
	r.group.Wait()
	return r.complete(ctx)
}

// finishQueued takes every result already waiting, so that steps finishing
// together are flushed together.
func (r *runner) finishQueued() {
	for r.remaining > 0 {
		select {
		case res := <-r.results:
			r.finish(res)
		default:
			return
		}
	}
}

// finish records a finished step and finds what it unblocks.
func (r *runner) finish(res result) {
	r.remaining--
	r.running--
	r.rec.Steps[res.name] = res.rec
	r.dirty = append(r.dirty, res.name)
	if res.put != nil {
		r.puts = append(r.puts, *res.put)
		r.putIn[res.name] = r.batch
	}
	if res.err == nil {
		r.outputs[res.name] = res.outs
		for _, d := range r.plan.Nodes[res.name].Dependents {
			if r.pending[d]--; r.pending[d] == 0 && r.rec.Steps[d].State == StatePending {
				r.becomeReady(d)
			}
		}
	} else {
		if !res.canceled {
			r.failed = true
			r.errs = multierror.Append(r.errs, fmt.Errorf("step %s: %w", res.name, res.err))
			if r.opts.FailFast {
				r.cancel(fmt.Errorf("step %s failed (--fail-fast)", res.name))
			}
		}
		r.skip(res.name, "dependency "+res.name+" "+res.rec.State)
	}
	if r.ctx.Err() != nil {
		r.cancelUnstarted()
	}
}

// becomeReady queues a step whose dependencies all succeeded. It waits
// while a dependency's cache entry is not yet written: a crash then would
// lose the entry and make the next run do that step's work again.
func (r *runner) becomeReady(name string) {
	need := 0
	for _, d := range r.plan.Nodes[name].Deps {
		need = max(need, r.putIn[d])
	}
	if need <= r.written {
		r.ready = append(r.ready, name)
		return
	}
	r.waiting = append(r.waiting, waiter{name, need})
}

// skip marks every transitive dependent of name as skipped.
func (r *runner) skip(name, why string) {
	for _, d := range r.plan.Nodes[name].Dependents {
		sr := r.rec.Steps[d]
		if sr.State != StatePending {
			continue
		}
		sr.State = StateSkipped
		sr.Error = why
		r.remaining--
		r.dirty = append(r.dirty, d)
		r.emit(Event{Time: r.now(), Type: "step_finished", RunID: r.rec.RunID, Step: d, Kind: sr.Kind, State: StateSkipped, Error: why})
		r.skip(d, why)
	}
}

// cancelUnstarted records what can no longer start after a cancel:
// nothing new starts, and what was ready is cancelled.
func (r *runner) cancelUnstarted() {
	for _, name := range r.plan.Order {
		if sr := r.rec.Steps[name]; sr.State == StatePending && r.pending[name] == 0 {
			sr.State = StateCancelled
			sr.Error = "not started: run cancelled"
			r.remaining--
			r.dirty = append(r.dirty, name)
			r.emit(Event{Time: r.now(), Type: "step_finished", RunID: r.rec.RunID, Step: name, Kind: sr.Kind, State: StateCancelled})
			r.skip(name, "dependency "+name+" cancelled")
		}
	}
	r.ready, r.waiting = nil, nil
}

// launch starts ready steps while there are free slots (--parallel).
func (r *runner) launch() {
	if r.ctx.Err() != nil {
		r.cancelUnstarted()
		return
	}
	for r.running < r.parallel && len(r.ready) > 0 {
		name := r.ready[0]
		r.ready = r.ready[1:]
		if r.rec.Steps[name].State != StatePending {
			continue
		}
		r.running++
		r.rec.Steps[name].State = StateRunning
		r.rec.Steps[name].Started = r.now()
		r.started = true
		n := r.plan.Nodes[name]
		deps := make(map[string]Outputs, len(n.Deps))
		for _, d := range n.Deps {
			deps[d] = r.outputs[d]
		}
		r.group.Go(func() error {
			r.results <- r.runStep(n, deps)
			return nil
		})
	}
}

// flush starts writing the finished steps' rows and cache entries, with
// the whole record at most every flushEvery, in one transaction on its own
// goroutine. Steps that wait for none of it keep running meanwhile, and
// what finishes during one write goes into the next. Only steps whose
// dependencies stored new cache entries wait (see becomeReady): with a
// commit before every dependant, a cold 1,000-step run took three times
// as long.
func (r *runner) flush(ctx context.Context) {
	withRecord := r.now().Sub(r.lastRecord) >= flushEvery
	b, err := newBatch(r.rec, withRecord, append([]string{}, r.dirty...), r.puts)
	r.dirty, r.puts = r.dirty[:0], nil
	r.batch++
	if err != nil {
		// Nothing can make these records durable; the run goes on without.
		r.errs = multierror.Append(r.errs, fmt.Errorf("record run: %w", err))
		r.flushDone(nil)
		return
	}
	if withRecord {
		r.lastRecord = r.now()
		r.started = false
	}
	r.flushing, r.inflight = true, b
	go func() { r.flushed <- b.write(ctx, r.store) }()
}

// flushDone lets the steps that waited for the batch just written start.
func (r *runner) flushDone(err error) {
	r.flushing = false
	r.written = r.batch - 1
	if err != nil {
		// The final write tries these again. The steps waiting for them
		// start regardless: a run does not stall on its records.
		r.errs = multierror.Append(r.errs, fmt.Errorf("record run: %w", err))
		if b := r.inflight; b != nil {
			r.dirty = append(r.dirty, b.names...)
			r.puts = append(r.puts, b.puts...)
		}
	}
	r.inflight = nil
	left := r.waiting[:0]
	for _, w := range r.waiting {
		if w.batch <= r.written {
			r.ready = append(r.ready, w.name)
		} else {
			left = append(left, w)
		}
	}
	r.waiting = left
}

// complete settles the run's status and writes the final record.
func (r *runner) complete(ctx context.Context) (*RunRecord, error) {
	rec := r.rec
	rec.DurationMS = r.now().Sub(rec.Started).Milliseconds()
	var runErr error
	switch {
	case ctx.Err() != nil:
		rec.Status = StateCancelled
		rec.Error = "cancelled"
		runErr = ErrCancelled
		if r.errs != nil {
			runErr = fmt.Errorf("%w; also: %w", ErrCancelled, r.errs.ErrorOrNil())
		}
	case r.failed:
		rec.Status = StateFailed
		r.errs.ErrorFormat = formatErrors
		rec.Error = r.errs.Error()
		runErr = fmt.Errorf("%w: %w", ErrStepFailed, r.errs.ErrorOrNil())
	default:
		rec.Status = StateSucceeded
	}
	if err := save(ctx, r.store, rec, true, append([]string{}, r.dirty...), r.puts); err != nil && runErr == nil {
		runErr = fmt.Errorf("record run: %w", err)
	}
	r.emit(Event{Time: r.now(), Type: "run_finished", RunID: rec.RunID, State: rec.Status, DurationMS: rec.DurationMS, Error: rec.Error})
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

// stepRun is one step's execution inside a run.
type stepRun struct {
	*runner
	n   *Node
	sr  *StepRecord
	req *Request
	log *lazyFile
}

// runStep runs one step: the cache or reconcile first, then the kind with
// timeout and retries. It never panics. Errors do not name the step: the
// coordinator adds the name once.
func (r *runner) runStep(n *Node, deps map[string]Outputs) (res result) {
	st := n.Step
	s := &stepRun{runner: r, n: n, sr: &StepRecord{Kind: st.Kind, State: StateRunning, Started: r.now()}}
	res.name, res.rec = st.Name, s.sr
	r.emit(Event{Time: s.sr.Started, Type: "step_started", RunID: r.rec.RunID, Step: st.Name, Kind: st.Kind})
	defer func() {
		if p := recover(); p != nil {
			res.err = fmt.Errorf("panic in step kind %s: %v", st.Kind, p)
			fmt.Fprintf(os.Stderr, "mlflow: step %s panicked: %v\n%s", st.Name, p, debug.Stack())
		}
		s.settle(&res)
	}()
	cfg, err := Resolve(st.Config, deps)
	if err != nil {
		res.err = err
		return res
	}
	scratch := filepath.Join(r.store.Root, "tmp")
	s.log = &lazyFile{path: LiveLogPath(r.store, r.rec.RunID, st.Name)}
	s.req = &Request{
		RunID: r.rec.RunID, Step: st.Name, Kind: st.Kind, Workflow: r.plan.Workflow, Config: cfg, Store: r.store,
		Log: &syncWriter{w: s.log}, scratchRoot: scratch, Parallel: r.parallel,
		Progress: &progress{emit: r.emit, runID: r.rec.RunID, step: st.Name, kind: st.Kind, now: r.now},
	}
	defer s.cleanup()

	pol := policyOf(n, r.opts.NoCache)
	outs, key, hit, err := s.fromCache(pol)
	if err != nil || hit {
		res.outs, res.err = outs, err
		return res
	}
	if res.outs, res.err = s.attempts(); res.err != nil {
		s.req.Logf("error: %v", res.err)
		return res
	}
	if res.err = checkOutputs(st.Kind, st.Outputs, res.outs); res.err != nil {
		return res
	}
	if key != "" {
		// Encoded now, while the outputs are this step's alone; written by
		// the coordinator with the step's record.
		if js, err := json.Marshal(res.outs); err != nil {
			s.req.Logf("warning: cache entry not written: %v", err)
		} else {
			res.put = &cacheEntry{key: key, kind: st.Kind, outputs: string(js), at: r.now()}
		}
	}
	return res
}

// withTimeout bounds ctx by the step's timeout. The cause is what the user
// reads: "timed out after 5s".
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, d, fmt.Errorf("timed out after %s", d))
}

// timedOut replaces err by ctx's cause when ctx's own deadline ended the
// work, so "context deadline exceeded" never reaches the user.
func timedOut(ctx context.Context, err error) error {
	if err == nil || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	if cause := context.Cause(ctx); !errors.Is(err, cause) {
		return cause
	}
	return err
}

// fromCache applies the step's cache policy. A hit returns the outputs to
// use. Otherwise key is the key to store the outputs under ("" for none).
// Everything here (a Keyer hashing a large input, a reconcile, a restore)
// is work of the step and runs under its timeout, like each attempt.
func (s *stepRun) fromCache(pol cachePolicy) (outs Outputs, key string, hit bool, err error) {
	ctx, cancel := withTimeout(s.ctx, s.n.Step.Timeout)
	defer cancel()
	switch pol.action {
	case ActionReconcile:
		outs, ok, err := s.n.Kind.(Reconciler).Reconcile(ctx, s.req)
		if err != nil {
			return nil, "", false, fmt.Errorf("reconcile: %w", timedOut(ctx, err))
		}
		if ok {
			s.sr.Cached = true
			s.req.Logf("up to date: nothing to change")
		}
		return outs, "", ok, nil
	case ActionCached:
		l, err := lookup(ctx, s.cache, s.n, s.req, s.opts.KeyDebug)
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, context.Cause(ctx)) {
				err = fmt.Errorf("cache key: %w", context.Cause(ctx))
			}
			return nil, "", false, err
		}
		s.sr.CacheKey = l.key
		if !l.hit() {
			if l.miss != "not in cache" {
				s.req.Logf("cache entry %s not used, running: %s", l.key, l.miss)
			}
			return nil, l.key, false, nil
		}
		if r, ok := s.n.Kind.(Restorer); ok {
			if err := r.Restore(ctx, s.req, l.outs); err != nil {
				if ctx.Err() != nil {
					return nil, "", false, timedOut(ctx, err)
				}
				s.req.Logf("cache entry %s not restorable, running: %v", l.key, err)
				return nil, l.key, false, nil
			}
		}
		s.sr.Cached = true
		if s.now().Sub(l.used) > time.Hour {
			// Refreshed at most hourly (as the go command's cache does): a
			// trim needs only a rough age, and a write per hit would make
			// an unchanged re-run pay a commit per step.
			cacheTouch(ctx, s.store, l.key, s.now())
		}
		return l.outs, l.key, true, nil
	}
	return nil, "", false, nil
}

// attempts runs the kind until it succeeds or its retries are used up.
func (s *stepRun) attempts() (outs Outputs, err error) {
	st := s.n.Step
	attempts := max(st.Retry.Attempts, 1)
	for attempt := 1; ; attempt++ {
		s.sr.Attempts = attempt
		outs, err = s.attempt()
		if err == nil || attempt >= attempts || s.ctx.Err() != nil {
			return outs, err
		}
		wait := st.Retry.Backoff << (attempt - 1)
		s.req.Logf("attempt %d of %d failed: %v; retrying in %s", attempt, attempts, err, wait)
		s.emit(Event{Time: s.now(), Type: "step_retry", RunID: s.rec.RunID, Step: st.Name, Kind: st.Kind, Attempt: attempt, Error: err.Error()})
		select {
		case <-s.ctx.Done():
		case <-time.After(wait):
		}
	}
}

func (s *stepRun) attempt() (outs Outputs, err error) {
	ctx, cancel := withTimeout(s.ctx, s.n.Step.Timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in step kind %s: %v", s.n.Step.Kind, p)
			s.req.Logf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	outs, err = s.n.Kind.Run(ctx, s.req)
	return outs, timedOut(ctx, err)
}

// settle gives the step its final state and reports it.
func (s *stepRun) settle(res *result) {
	sr := s.sr
	sr.DurationMS = s.now().Sub(sr.Started).Milliseconds()
	switch {
	case res.err == nil:
		sr.State = StateSucceeded
		sr.Outputs = res.outs
	case s.ctx.Err() != nil:
		// The run was cancelled (SIGINT, or --fail-fast after another
		// step failed); whatever this step returned is a consequence.
		sr.State = StateCancelled
		sr.Error = "cancelled"
		if cause := context.Cause(s.ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			sr.Error = "cancelled: " + cause.Error()
		}
		res.canceled = true
		res.put = nil
	default:
		sr.State = StateFailed
		sr.Error = res.err.Error()
	}
	s.emit(Event{Time: s.now(), Type: "step_finished", RunID: s.rec.RunID, Step: s.n.Step.Name, Kind: s.n.Step.Kind, State: sr.State,
		Cached: sr.Cached, DurationMS: sr.DurationMS, Error: sr.Error, Outputs: sr.Outputs})
}

// cleanup removes the step's scratch and stores its log. Only a step that
// wrote something gets a log blob: most steps of a cached re-run write
// nothing, and a blob costs an fsync.
func (s *stepRun) cleanup() {
	if s.req.scratch != "" {
		os.RemoveAll(s.req.scratch)
	}
	f := s.log.f
	if f == nil {
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	// Read back through the open file, not by name: a log silent for over
	// an hour may have been swept from tmp/ by another process's Open.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return
	}
	if d, _, err := s.store.Put(f); err == nil {
		s.sr.Log = d
	}
}

// checkOutputs holds kinds to their declared contract (declared: output
// name -> type, from the workflow's loader): every declared output must be
// produced.
func checkOutputs(kind string, declared map[string]string, outs Outputs) error {
	var missing []string
	for name := range declared {
		if _, ok := outs[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return fmt.Errorf("step kind %s did not produce declared output(s) %s", kind, strings.Join(missing, ", "))
}

// LiveLogPath is where a running step's log grows until the step ends and
// the log becomes a blob (StepRecord.Log): the web UI tails it from there.
// The name is derived from the run and the step, so a reader in another
// process finds it without a write to the record per log line; it is
// hashed because run ids and step names may be anything.
func LiveLogPath(s *store.Store, runID, step string) string {
	sum := sha256.Sum256([]byte(runID + "\x00" + step))
	return filepath.Join(s.Root, "tmp", "log-"+hex.EncodeToString(sum[:12]))
}

// lazyFile creates its file on the first write.
type lazyFile struct {
	path string
	f    *os.File
	err  error
}

func (l *lazyFile) Write(p []byte) (int, error) {
	if l.f == nil && l.err == nil {
		// Truncated: a run id given again (Options.RunID) starts afresh.
		l.f, l.err = os.OpenFile(l.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
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
