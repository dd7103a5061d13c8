package pipelines

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema"
	"github.com/mlflow-go/mlflow/schema/load"
)

// Run states as stored; Status gives Azure's job status names for each.
const (
	Queued      = "queued"
	Running     = "running"
	Succeeded   = "succeeded"
	Failed      = "failed"
	Cancelled   = "cancelled"
	Interrupted = "interrupted"
)

// Status is Azure's job status name for a run state.
func Status(state string) string {
	switch state {
	case Queued:
		return "NotStarted"
	case Running:
		return "Running"
	case Succeeded:
		return "Completed"
	case Cancelled:
		return "Canceled"
	default:
		return "Failed"
	}
}

func finished(state string) bool { return state != Queued && state != Running }

// Run is one run of a pipeline as the REST API shows it. Id is Azure's field; run_id is
// the same id as `mlflow runs` shows it.
type Run struct {
	ID           string                        `json:"Id"`
	RunID        string                        `json:"run_id"`
	Pipeline     string                        `json:"pipeline"`
	Version      int                           `json:"version"`
	Trigger      string                        `json:"trigger"`
	Status       string                        `json:"status"`
	State        string                        `json:"state"`
	Parameters   map[string]any                `json:"parameters"`
	ScheduledFor time.Time                     `json:"scheduled_for,omitzero"`
	Created      time.Time                     `json:"created"`
	Started      time.Time                     `json:"started,omitzero"`
	Finished     time.Time                     `json:"finished,omitzero"`
	Error        string                        `json:"error,omitempty"`
	Steps        map[string]*engine.StepRecord `json:"steps,omitempty"`
}

// Errors a trigger or cancel answers with (the server maps them to 404, 409, 400).
var (
	ErrDisabled = errors.New("is disabled: enable it first (mlflow pipeline enable)")
	ErrFinished = errors.New("has finished: only a queued or running run can be cancelled")
	ErrNoKinds  = errors.New("this server runs no step kinds: it cannot run pipelines")
	ErrStopping = errors.New("the server is stopping: trigger again once it runs")
)

// BusyError is a trigger refused while a run is active: by concurrency "skip", or because
// Queued runs already wait (Options.MaxQueued).
type BusyError struct {
	Pipeline, Active string
	Queued           int
}

func (e *BusyError) Error() string {
	if e.Queued > 0 {
		return fmt.Sprintf("pipeline %s is running %s with %d runs queued behind it, the most it queues: trigger again later", e.Pipeline, e.Active, e.Queued)
	}
	return fmt.Sprintf("pipeline %s is running %s and its concurrency is skip: trigger again once it ends", e.Pipeline, e.Active)
}

// ParamError is a parameter a trigger may not set, or a value of the wrong type.
type ParamError struct{ Param, Msg string }

func (e *ParamError) Error() string {
	if e.Param == "" {
		return "parameters: " + e.Msg
	}
	return fmt.Sprintf("parameter %q: %s", e.Param, e.Msg)
}

// Clock is the scheduler's time, injectable for tests.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Options configure a Manager.
type Options struct {
	// Kinds are the step kinds runs use (steps.All()). None: triggers fail with ErrNoKinds.
	Kinds []engine.Step
	Clock Clock       // nil: the real clock
	Log   *log.Logger // nil: discarded
	// OnEvent sees every engine event of every run (tests, benchmarks).
	OnEvent func(engine.Event)
	// MaxQueued bounds the runs waiting behind an active one, per pipeline: a caller that
	// triggers in a loop must not fill the disk with queued runs. 0: 100.
	MaxQueued int
}

// Manager runs one workspace's pipelines: triggers, the per-pipeline queue, cancellation
// and the scheduler. Runs of one pipeline never overlap: a trigger while one is active is
// queued or refused (its concurrency). One server per workspace owns a Manager.
type Manager struct {
	s    *store.Store
	opts Options

	mu      sync.Mutex
	ctx     context.Context
	started time.Time
	active  map[string]*activeRun       // by pipeline
	queued  map[string][]string         // run ids by pipeline, oldest first
	loaded  map[string]*schema.Workflow // by run id: what its trigger loaded

	baseMu sync.Mutex
	bases  map[string]*schema.Workflow // see base
	wake   chan struct{}
	wg     sync.WaitGroup
}

type activeRun struct {
	id     string
	cancel context.CancelFunc
	done   chan struct{}
	// wf is the workflow a trigger loaded to check its parameters, so that the run does
	// not load it again; nil for scheduled and resumed runs, which load their own.
	wf *schema.Workflow
}

// NewManager returns a manager over s; Start runs it.
func NewManager(s *store.Store, opts Options) *Manager {
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if opts.Log == nil {
		opts.Log = log.New(io.Discard, "", 0)
	}
	if opts.MaxQueued <= 0 {
		opts.MaxQueued = 100
	}
	return &Manager{s: s, opts: opts, active: map[string]*activeRun{}, queued: map[string][]string{}, loaded: map[string]*schema.Workflow{}, bases: map[string]*schema.Workflow{}, wake: make(chan struct{}, 1)}
}

// Start marks runs a dead server left running as interrupted, resumes queued runs (a
// trigger answered 202 is never lost) and starts the scheduler, all until ctx ends; Wait
// then waits for them.
func (m *Manager) Start(ctx context.Context) error {
	if err := migrate(ctx, m.s); err != nil {
		return err
	}
	now := m.opts.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ctx, m.started = ctx, now
	// One server owns the workspace (its lock), so a run recorded as running here has lost
	// the process that ran it.
	if _, err := m.s.DB.ExecContext(ctx, `UPDATE pipeline_runs SET state = ?, finished = ?, error = ? WHERE state = ?`,
		Interrupted, fmtTime(now), "interrupted: the server stopped during the run; trigger it again", Running); err != nil {
		return err
	}
	rows, err := m.s.DB.QueryContext(ctx, `SELECT id, name FROM pipeline_runs WHERE state = ? ORDER BY created, rowid`, Queued)
	if err != nil {
		return err
	}
	type q struct{ id, name string }
	var qs []q
	for rows.Next() {
		var r q
		if err := rows.Scan(&r.id, &r.name); err != nil {
			rows.Close()
			return err
		}
		qs = append(qs, r)
	}
	rows.Close()
	for _, r := range qs {
		m.enqueueLocked(r.name, r.id)
	}
	m.wg.Add(1)
	go m.loop(ctx)
	return nil
}

// Wait waits, after Start's ctx ended, for the scheduler and every run to stop.
func (m *Manager) Wait() { m.wg.Wait() }

// Wake makes the scheduler read the schedules again (after a publish or an enable).
func (m *Manager) Wake() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Trigger starts (or queues) a run of the pipeline's newest version with params, values as
// JSON decoded them (json.Number for numbers). Parameter errors are *ParamError.
func (m *Manager) Trigger(ctx context.Context, name string, params map[string]any, trigger string) (*Run, error) {
	if len(m.opts.Kinds) == 0 {
		return nil, ErrNoKinds
	}
	p, err := Get(ctx, m.s, name)
	if err != nil {
		return nil, err
	}
	if p.Disabled {
		return nil, fmt.Errorf("pipeline %s %w", name, ErrDisabled)
	}
	raw, err := typedParams(&p.Definition, params)
	if err != nil {
		return nil, err
	}
	// Loaded now so that a bad value is the caller's 400, not a failed run; the run
	// starts from this load unless it waits in the queue.
	wf, err := m.prepare(ctx, &p.Definition, raw)
	if err != nil {
		return nil, err
	}
	return m.submit(ctx, p, raw, wf, trigger, time.Time{}, nil)
}

// submit records a run (and extra's changes, in the same transaction) and starts or queues
// it. With concurrency skip and a run active, only extra's changes are kept.
func (m *Manager) submit(ctx context.Context, p *Pipeline, raw map[string]string, wf *schema.Workflow, trigger string, scheduled time.Time, extra func(*sql.Tx) error) (*Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil || m.ctx.Err() != nil {
		return nil, ErrStopping
	}
	busy := m.active[p.Name]
	skip := busy != nil && (p.Concurrency == "skip" || len(m.queued[p.Name]) >= m.opts.MaxQueued)
	now := m.opts.Clock.Now()
	tx, err := m.s.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if extra != nil {
		if err := extra(tx); err != nil {
			return nil, err
		}
	}
	var run *Run
	if !skip {
		id := engine.NewRunID(now)
		if raw == nil {
			raw = map[string]string{}
		}
		js, _ := json.Marshal(raw)
		if _, err := tx.ExecContext(ctx, `INSERT INTO pipeline_runs (id, name, version, trigger, state, params, scheduled_for, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			id, p.Name, p.Version, trigger, Queued, string(js), fmtTime(scheduled), fmtTime(now)); err != nil {
			return nil, err
		}
		run = &Run{ID: id, RunID: id, Pipeline: p.Name, Version: p.Version, Trigger: trigger, State: Queued, Status: Status(Queued), Parameters: rawParams(raw), ScheduledFor: scheduled, Created: now}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	if skip {
		return nil, &BusyError{Pipeline: p.Name, Active: busy.id, Queued: len(m.queued[p.Name])}
	}
	if wf != nil {
		m.loaded[run.ID] = wf
	}
	m.enqueueLocked(p.Name, run.ID)
	return run, nil
}

func rawParams(raw map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range raw {
		out[k] = v
	}
	return out
}

// enqueueLocked starts run id now when its pipeline is idle, else after the runs before it.
func (m *Manager) enqueueLocked(name, id string) {
	if m.active[name] != nil {
		m.queued[name] = append(m.queued[name], id)
		return
	}
	m.startLocked(name, id)
}

func (m *Manager) startLocked(name, id string) {
	ctx, cancel := context.WithCancel(m.ctx)
	a := &activeRun{id: id, cancel: cancel, done: make(chan struct{}), wf: m.loaded[id]}
	delete(m.loaded, id)
	m.active[name] = a
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.execute(ctx, name, a)
		cancel()
		m.mu.Lock()
		close(a.done)
		delete(m.active, name)
		if q := m.queued[name]; len(q) > 0 && m.ctx.Err() == nil {
			m.queued[name] = q[1:]
			m.startLocked(name, q[0])
		}
		m.mu.Unlock()
	}()
}

// execute runs one recorded run to its end and records how it ended.
func (m *Manager) execute(ctx context.Context, name string, a *activeRun) {
	id := a.id
	state, msg := m.runEngine(ctx, name, a)
	if state == Cancelled && m.ctx.Err() != nil {
		state, msg = Interrupted, "interrupted: the server stopped during the run; trigger it again"
	}
	// The run's end is recorded even when the server is stopping.
	wctx := context.WithoutCancel(ctx)
	if _, err := m.s.DB.ExecContext(wctx, `UPDATE pipeline_runs SET state = ?, finished = ?, error = ? WHERE id = ?`, state, fmtTime(m.opts.Clock.Now()), msg, id); err != nil {
		m.opts.Log.Printf("pipeline %s run %s: %v", name, id, err)
	}
}

func (m *Manager) runEngine(ctx context.Context, name string, a *activeRun) (state, msg string) {
	id := a.id
	var version int
	var params, trigger string
	if err := m.s.DB.QueryRowContext(ctx, `SELECT version, params, trigger FROM pipeline_runs WHERE id = ?`, id).Scan(&version, &params, &trigger); err != nil {
		return stateOf(ctx, err)
	}
	wf := a.wf
	if wf == nil {
		var raw map[string]string
		if err := json.Unmarshal([]byte(params), &raw); err != nil {
			return Failed, "corrupt parameters: " + err.Error()
		}
		def, err := GetVersion(ctx, m.s, name, version)
		if err != nil {
			return stateOf(ctx, err)
		}
		if wf, err = m.prepare(ctx, def, raw); err != nil {
			return stateOf(ctx, err)
		}
	}
	plan, err := engine.NewPlan(wf, engine.NewRegistry(m.opts.Kinds...))
	if err != nil {
		return Failed, err.Error()
	}
	if _, err := m.s.DB.ExecContext(ctx, `UPDATE pipeline_runs SET state = ?, started = ? WHERE id = ?`, Running, fmtTime(m.opts.Clock.Now()), id); err != nil {
		return stateOf(ctx, err)
	}
	rec, err := engine.Run(ctx, plan, m.s, engine.Options{Trigger: trigger, RunID: id, OnEvent: m.opts.OnEvent})
	switch {
	case rec != nil && rec.Status == engine.StateSucceeded:
		return Succeeded, ""
	case rec != nil && rec.Status == engine.StateCancelled, errors.Is(err, engine.ErrCancelled), ctx.Err() != nil:
		return Cancelled, "cancelled"
	case err != nil:
		return Failed, err.Error()
	default:
		return Failed, rec.Error
	}
}

func stateOf(ctx context.Context, err error) (string, string) {
	if ctx.Err() != nil {
		return Cancelled, "cancelled"
	}
	return Failed, err.Error()
}

// prepare loads the version's workflow from its snapshot with raw params, checks that no
// value a param changed leaves the snapshot, and keeps only the pipeline's steps.
func (m *Manager) prepare(ctx context.Context, def *Definition, raw map[string]string) (*schema.Workflow, error) {
	dir, err := Materialize(ctx, m.s, def.Name, def.Snapshot)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, filepath.FromSlash(def.File))
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	wf, err := load.Bytes(path, src, load.Options{Params: raw})
	if err != nil {
		if len(raw) > 0 {
			return nil, &ParamError{Msg: strings.ReplaceAll(err.Error(), path, def.File)}
		}
		return nil, fmt.Errorf("published workflow %s: %w", def.File, err)
	}
	if len(raw) > 0 {
		base, err := m.base(def, path, src)
		if err != nil {
			return nil, fmt.Errorf("published workflow %s: %w", def.File, err)
		}
		for _, n := range def.Steps {
			if base.Steps[n] == nil || wf.Steps[n] == nil {
				continue
			}
			if err := confine("steps."+n, base.Steps[n].Config, wf.Steps[n].Config, raw); err != nil {
				return nil, err
			}
		}
	}
	return subWorkflow(wf, def.Steps)
}

// base is the snapshot's workflow with its defaults, which confine compares a trigger's
// load with. A snapshot never changes, so it is loaded once; it is only read.
func (m *Manager) base(def *Definition, path string, src []byte) (*schema.Workflow, error) {
	key := def.Snapshot + " " + def.File
	m.baseMu.Lock()
	defer m.baseMu.Unlock()
	if wf := m.bases[key]; wf != nil {
		return wf, nil
	}
	wf, err := load.Bytes(path, src, load.Options{})
	if err != nil {
		return nil, err
	}
	if len(m.bases) >= maxBases {
		clear(m.bases) // old versions' entries go; the current ones come back on use
	}
	m.bases[key] = wf
	return wf, nil
}

// maxBases bounds the cache of default loads: a few per pipeline in use.
const maxBases = 64

// subWorkflow keeps steps (closed under dependencies) of wf.
func subWorkflow(wf *schema.Workflow, steps []string) (*schema.Workflow, error) {
	sub := *wf
	sub.Steps = map[string]*schema.Step{}
	sub.Order = nil
	keep := map[string]bool{}
	for _, n := range steps {
		if wf.Steps[n] == nil {
			return nil, fmt.Errorf("published workflow has no step %q", n)
		}
		keep[n] = true
	}
	for _, n := range wf.Order {
		if keep[n] {
			sub.Steps[n] = wf.Steps[n]
			sub.Order = append(sub.Order, n)
		}
	}
	return &sub, nil
}

// confine fails when a string a param changed (compared with the defaults) could name a
// file outside the snapshot: absolute, climbing out with .., or a URL. Kinds resolve
// relative paths in the workflow's folder, which is the snapshot. Every changed string is
// checked, command lines too, but a command line can still name any file (cat /etc/x):
// exposing a param to an exec command is the publisher's choice, as with any shell.
func confine(at string, base, v any, raw map[string]string) error {
	switch v := v.(type) {
	case map[string]any:
		bm, _ := base.(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if err := confine(at+"."+k, bm[k], v[k], raw); err != nil {
				return err
			}
		}
	case []any:
		bl, _ := base.([]any)
		for i, e := range v {
			var b any
			if i < len(bl) {
				b = bl[i]
			}
			if err := confine(fmt.Sprintf("%s[%d]", at, i), b, e, raw); err != nil {
				return err
			}
		}
	case string:
		if bs, ok := base.(string); (ok && bs == v) || v == "" || !leaves(v) {
			return nil
		}
		var who []string
		for _, k := range slices.Sorted(maps.Keys(raw)) {
			if raw[k] != "" && strings.Contains(v, raw[k]) {
				who = append(who, k)
			}
		}
		if len(who) == 0 {
			who = slices.Sorted(maps.Keys(raw))
		}
		return &ParamError{Param: strings.Join(who, ", "), Msg: fmt.Sprintf("the value reaches %s as %q, which leaves the published snapshot: give a path relative to the workflow's folder, without ..", at, v)}
	}
	return nil
}

func leaves(v string) bool {
	if strings.Contains(v, "://") || strings.HasPrefix(v, "file:") || strings.HasPrefix(v, "~") {
		return true
	}
	return filepath.IsAbs(v) || !filepath.IsLocal(filepath.FromSlash(v))
}

// typedParams checks each value against the param's type and writes it as the loader's
// -p text. Strings that spell a number or a boolean are accepted for those types, since
// Azure's ParameterAssignments send every value as a string.
func typedParams(def *Definition, params map[string]any) (map[string]string, error) {
	out := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		var p *Param
		for i := range def.Params {
			if def.Params[i].Name == k {
				p = &def.Params[i]
			}
		}
		if p == nil {
			var names []string
			for _, q := range def.Params {
				names = append(names, q.Name)
			}
			if len(names) == 0 {
				return nil, &ParamError{Param: k, Msg: "unknown parameter: this pipeline takes none"}
			}
			return nil, &ParamError{Param: k, Msg: "unknown parameter (parameters: " + strings.Join(names, ", ") + ")"}
		}
		s, ok := paramText(p.Type, params[k])
		if !ok {
			return nil, &ParamError{Param: k, Msg: fmt.Sprintf("want %s %s, got %s", article(p.Type), p.Type, describe(params[k]))}
		}
		out[k] = s
	}
	return out, nil
}

func article(t string) string {
	if t == "integer" {
		return "an"
	}
	return "a"
}

func paramText(typ string, v any) (string, bool) {
	var text string
	switch v := v.(type) {
	case string:
		if typ == "string" {
			return v, !strings.ContainsRune(v, 0)
		}
		text = strings.TrimSpace(v)
	case json.Number:
		text = v.String()
	case float64:
		text = fmt.Sprint(v)
	case bool:
		if typ != "boolean" {
			return "", false
		}
		return fmt.Sprint(v), true
	default:
		return "", false
	}
	switch typ {
	case "integer":
		var n json.Number = json.Number(text)
		if _, err := n.Int64(); err != nil {
			return "", false
		}
		return text, true
	case "number":
		var n json.Number = json.Number(text)
		if _, err := n.Float64(); err != nil || strings.ContainsAny(text, "xX_") {
			return "", false
		}
		return text, true
	case "boolean":
		if text == "true" || text == "false" {
			return text, true
		}
	}
	return "", false
}

func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return fmt.Sprintf("%q", v)
	case json.Number, float64:
		return fmt.Sprintf("the number %v", v)
	case bool:
		return fmt.Sprintf("%v", v)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// Cancel cancels a queued or running run of the pipeline and waits (until ctx ends) for
// it to stop.
func (m *Manager) Cancel(ctx context.Context, name, id string) (*Run, error) {
	r, err := GetRun(ctx, m.s, name, id)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if a := m.active[name]; a != nil && a.id == r.ID {
		a.cancel()
		done := a.done
		m.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
		}
		return GetRun(ctx, m.s, name, r.ID)
	}
	if r.State != Queued {
		m.mu.Unlock()
		return nil, fmt.Errorf("run %s %w", r.ID, ErrFinished)
	}
	q := m.queued[name]
	for i, qid := range q {
		if qid == r.ID {
			m.queued[name] = append(q[:i:i], q[i+1:]...)
		}
	}
	delete(m.loaded, r.ID)
	_, err = m.s.DB.ExecContext(ctx, `UPDATE pipeline_runs SET state = ?, finished = ?, error = ? WHERE id = ? AND state = ?`, Cancelled, fmtTime(m.opts.Clock.Now()), "cancelled before it started", r.ID, Queued)
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return GetRun(ctx, m.s, name, r.ID)
}

const selectRun = `SELECT id, name, version, trigger, state, params, scheduled_for, created, started, finished, error FROM pipeline_runs`

func scanRun(sc interface{ Scan(...any) error }) (*Run, error) {
	var r Run
	var params, sched, created, started, fin string
	if err := sc.Scan(&r.ID, &r.Pipeline, &r.Version, &r.Trigger, &r.State, &params, &sched, &created, &started, &fin, &r.Error); err != nil {
		return nil, err
	}
	r.RunID, r.Status = r.ID, Status(r.State)
	var raw map[string]string
	json.Unmarshal([]byte(params), &raw)
	r.Parameters = rawParams(raw)
	r.ScheduledFor, r.Created, r.Started, r.Finished = parseTime(sched), parseTime(created), parseTime(started), parseTime(fin)
	return &r, nil
}

// GetRun returns a run of the pipeline with its steps (from the engine's record).
func GetRun(ctx context.Context, s *store.Store, name, id string) (*Run, error) {
	if err := migrate(ctx, s); err != nil {
		return nil, err
	}
	r, err := scanRun(s.DB.QueryRowContext(ctx, selectRun+` WHERE id = ? AND name = ?`, id, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("pipeline %s has no run %s: %w", name, id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if r.State != Queued {
		if rec, err := engine.GetRun(ctx, s, r.ID); err == nil && rec.RunID == r.ID {
			r.Steps = rec.Steps
		}
	}
	return r, nil
}

// ListRuns returns the pipeline's runs, newest first (at most limit; 0: all), without steps.
func ListRuns(ctx context.Context, s *store.Store, name string, limit int) ([]*Run, error) {
	if err := migrate(ctx, s); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.DB.QueryContext(ctx, selectRun+` WHERE name = ? ORDER BY created DESC, rowid DESC LIMIT ?`, name, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
