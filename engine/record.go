package engine

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mlflow-go/mlflow/internal/store"
)

// States of a step and of a run.
const (
	StatePending   = "pending"
	StateRunning   = "running"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
	StateSkipped   = "skipped"
	StateCancelled = "cancelled"
	// A run, or a step, whose process died before it finished (kill -9, a
	// crash, power loss): found so by the next run, listing or show.
	StateInterrupted = "interrupted"
)

// RunRecord is the record of a run. Field names
// are a contract: tests and scripts parse them.
type RunRecord struct {
	RunID      string                 `json:"run_id"`
	Workflow   string                 `json:"workflow"`
	File       string                 `json:"file,omitempty"`
	Trigger    string                 `json:"trigger,omitempty"`
	Status     string                 `json:"status"`
	Started    time.Time              `json:"started"`
	DurationMS int64                  `json:"duration_ms"`
	Params     map[string]any         `json:"params,omitempty"`
	Steps      map[string]*StepRecord `json:"steps"`
	Error      string                 `json:"error,omitempty"`
	// Owner is the process that ran it, for the reader of an interrupted
	// run; whether it is alive is told by the run's lock (ownerLock), since
	// process ids are reused.
	Owner *RunOwner `json:"owner,omitempty"`
	// Deps is each step's dependencies as planned, so that a reader (the web UI) draws the
	// run's graph as it ran, even after the workflow file changed.
	Deps map[string][]string `json:"deps,omitempty"`
}

// RunOwner is the process that executes a run.
type RunOwner struct {
	PID  int    `json:"pid"`
	Host string `json:"host,omitempty"`
}

// StepRecord is one step's part of a run record.
type StepRecord struct {
	Kind       string    `json:"kind"`
	State      string    `json:"state"`
	Cached     bool      `json:"cached"`
	Started    time.Time `json:"started,omitzero"`
	DurationMS int64     `json:"duration_ms"`
	Attempts   int       `json:"attempts,omitempty"`
	Outputs    Outputs   `json:"outputs,omitempty"`
	Error      string    `json:"error,omitempty"`
	CacheKey   string    `json:"cache_key,omitempty"`
	// Log is the digest of the step's log blob in the workspace.
	Log string `json:"log,omitempty"`
}

var engineMigrations = []string{
	`CREATE TABLE runs (
		id TEXT PRIMARY KEY,
		workflow TEXT NOT NULL,
		file TEXT NOT NULL,
		trigger TEXT NOT NULL DEFAULT 'cli',
		status TEXT NOT NULL,
		started TEXT NOT NULL,
		duration_ms INTEGER NOT NULL DEFAULT 0,
		record TEXT NOT NULL
	);
	CREATE INDEX runs_started ON runs(started);
	CREATE TABLE run_steps (
		run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		name TEXT NOT NULL,
		kind TEXT NOT NULL,
		state TEXT NOT NULL,
		cached INTEGER NOT NULL DEFAULT 0,
		started TEXT,
		duration_ms INTEGER NOT NULL DEFAULT 0,
		outputs TEXT,
		error TEXT,
		log TEXT,
		PRIMARY KEY (run_id, name)
	);
	CREATE TABLE cache (
		key TEXT PRIMARY KEY,
		kind TEXT NOT NULL,
		outputs TEXT NOT NULL,
		created TEXT NOT NULL,
		used TEXT NOT NULL
	);`,
}

func migrate(ctx context.Context, s *store.Store) error {
	return s.Migrate(ctx, "engine", engineMigrations)
}

// save writes the named step rows (every step's when names is nil) and
// cache entries, and the run row with the whole record when withRecord is
// set, in one transaction.
func save(ctx context.Context, s *store.Store, r *RunRecord, withRecord bool, names []string, puts []cacheEntry) error {
	b, err := newBatch(r, withRecord, names, puts)
	if err != nil {
		return err
	}
	return b.write(ctx, s)
}

// batch is one transaction of a run's records. It is built by the run's
// coordinator and may be written on another goroutine, so it holds nothing
// the run still changes: the record is encoded already, and the step
// records it names are final. Step rows are cheap; the record grows with
// the run (1,000 steps are 150 KB of JSON), so a run rewrites it only
// every flushEvery, and the step rows are the truth where the two differ
// (see markIfGone).
type batch struct {
	runID string
	run   []any // the runs row's values, or nil to leave it as it is
	steps []*StepRecord
	names []string
	puts  []cacheEntry
}

func newBatch(r *RunRecord, withRecord bool, names []string, puts []cacheEntry) (*batch, error) {
	b := &batch{runID: r.RunID, puts: puts}
	if withRecord {
		rec, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		b.run = []any{r.RunID, r.Workflow, r.File, r.Trigger, r.Status, r.Started.UTC().Format(time.RFC3339Nano), r.DurationMS, string(rec)}
	}
	if names == nil {
		for name := range r.Steps {
			names = append(names, name)
		}
	}
	b.names = names
	for _, name := range names {
		b.steps = append(b.steps, r.Steps[name])
	}
	return b, nil
}

func (b *batch) write(ctx context.Context, s *store.Store) error {
	// Records are written after cancellation too, so they must not use the
	// run's (possibly cancelled) context.
	ctx = context.WithoutCancel(ctx)
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if b.run != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO runs(id, workflow, file, trigger, status, started, duration_ms, record)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET status=excluded.status, duration_ms=excluded.duration_ms, record=excluded.record`,
			b.run...); err != nil {
			return err
		}
	}
	if len(b.names) > 0 {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO run_steps(run_id, name, kind, state, cached, started, duration_ms, outputs, error, log)
			VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(run_id, name) DO UPDATE SET state=excluded.state, cached=excluded.cached, started=excluded.started,
			duration_ms=excluded.duration_ms, outputs=excluded.outputs, error=excluded.error, log=excluded.log`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, name := range b.names {
			st := b.steps[i]
			outs, _ := json.Marshal(st.Outputs)
			var started any
			if !st.Started.IsZero() {
				started = st.Started.UTC().Format(time.RFC3339Nano)
			}
			if _, err := stmt.ExecContext(ctx, b.runID, name, st.Kind, st.State, st.Cached, started, st.DurationMS, string(outs), st.Error, st.Log); err != nil {
				return err
			}
		}
	}
	if len(b.puts) > 0 {
		stmt, err := tx.PrepareContext(ctx, cachePutSQL)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, e := range b.puts {
			if err := cachePut(ctx, stmt, e); err != nil {
				return fmt.Errorf("cache entry of step kind %s: %w", e.kind, err)
			}
		}
	}
	return tx.Commit()
}

// ownerLock names the lock a run's process holds while the run is
// running. The id is hashed because Options.RunID may be anything.
func ownerLock(runID string) string {
	sum := sha256.Sum256([]byte(runID))
	return "run-" + hex.EncodeToString(sum[:12])
}

// markInterrupted records as interrupted every run recorded as running
// whose process is gone. It is best effort: a read-only workspace or a busy
// database leaves the records as they are, and the next reader tries again.
func markInterrupted(ctx context.Context, s *store.Store) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id FROM runs WHERE status = ?`, StateRunning)
	if err != nil {
		return
	}
	var ids []string
	for rows.Next() {
		var id string
		if rows.Scan(&id) == nil {
			ids = append(ids, id)
		}
	}
	rows.Close()
	for _, id := range ids {
		markIfGone(ctx, s, id)
	}
}

// markIfGone marks run id interrupted if it is recorded as running and no
// process holds its lock. The check runs inside a write transaction: the
// owner writes its final record before it lets its lock go, and cannot
// write while this transaction holds the database, so a run that is
// "running" here with its lock free has lost its process; it did not just
// finish.
func markIfGone(ctx context.Context, s *store.Store, id string) (bool, error) {
	ctx = context.WithoutCancel(ctx)
	if held, err := s.Owned(ownerLock(id)); held || err != nil {
		return false, err // alive: no need to take the database's write lock
	}
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var js string
	err = tx.QueryRowContext(ctx, `SELECT record FROM runs WHERE id = ? AND status = ?`, id, StateRunning).Scan(&js)
	if err != nil {
		return false, nil // finished meanwhile, or gone
	}
	if held, err := s.Owned(ownerLock(id)); held || err != nil {
		return false, err
	}
	var r RunRecord
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		return false, nil
	}
	if err := mergeStepRows(ctx, tx, &r); err != nil {
		return false, err
	}
	why := "interrupted: the process running it ended without finishing it"
	if r.Owner != nil {
		why = fmt.Sprintf("interrupted: process %d on %s ended without finishing the run", r.Owner.PID, r.Owner.Host)
	}
	r.Status, r.Error = StateInterrupted, why
	for _, st := range r.Steps {
		if st.State == StateRunning || st.State == StatePending {
			st.State, st.Error = StateInterrupted, "interrupted"
		}
	}
	rec, err := json.Marshal(&r)
	if err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, record = ? WHERE id = ?`, r.Status, string(rec), id); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE run_steps SET state = ?, error = ? WHERE run_id = ? AND state IN (?, ?)`,
		StateInterrupted, "interrupted", id, StateRunning, StatePending); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	s.Drop(ownerLock(id)) // the dead process's lock file; best effort
	return true, nil
}

// mergeStepRows brings r's steps up to date from their rows: a run writes
// a finished step's row before anything that depends on it starts, but its
// whole record only every flushEvery (see save).
func mergeStepRows(ctx context.Context, tx *sql.Tx, r *RunRecord) error {
	rows, err := tx.QueryContext(ctx, `SELECT name, kind, state, cached, started, duration_ms, outputs, error, log
		FROM run_steps WHERE run_id = ?`, r.RunID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name, kind, state string
		var cached bool
		var started, outs, errText, log sql.NullString
		var dur int64
		if err := rows.Scan(&name, &kind, &state, &cached, &started, &dur, &outs, &errText, &log); err != nil {
			return err
		}
		st := &StepRecord{Kind: kind, State: state, Cached: cached, DurationMS: dur, Error: errText.String, Log: log.String}
		if old := r.Steps[name]; old != nil {
			st.Attempts, st.CacheKey = old.Attempts, old.CacheKey
		}
		st.Started, _ = time.Parse(time.RFC3339Nano, started.String)
		json.Unmarshal([]byte(outs.String), &st.Outputs)
		if r.Steps == nil {
			r.Steps = map[string]*StepRecord{}
		}
		r.Steps[name] = st
	}
	return rows.Err()
}

// ErrRunNotFound is returned by GetRun for an unknown id.
var ErrRunNotFound = errors.New("run not found")

// ErrRunAmbiguous is returned by GetRun for a prefix of several run ids.
var ErrRunAmbiguous = errors.New("is ambiguous: more than one run id starts with it")

// GetRun loads a run record. id may be a unique prefix.
func GetRun(ctx context.Context, s *store.Store, id string) (*RunRecord, error) {
	if err := migrate(ctx, s); err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT record FROM runs WHERE id = ? OR id LIKE ? ORDER BY id LIMIT 2`, id, id+"%")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var recs []string
	for rows.Next() {
		var rec string
		if err := rows.Scan(&rec); err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	switch len(recs) {
	case 0:
		return nil, fmt.Errorf("run %q: %w", id, ErrRunNotFound)
	case 2:
		// An exact match wins over prefix matches.
		var exact string
		if err := s.DB.QueryRowContext(ctx, `SELECT record FROM runs WHERE id = ?`, id).Scan(&exact); err == nil {
			recs = []string{exact}
		} else {
			return nil, fmt.Errorf("run %q %w", id, ErrRunAmbiguous)
		}
	}
	var r RunRecord
	if err := json.Unmarshal([]byte(recs[0]), &r); err != nil {
		return nil, fmt.Errorf("run %s: corrupt record: %w", id, err)
	}
	if r.Status == StateRunning {
		if marked, _ := markIfGone(ctx, s, r.RunID); marked {
			return GetRun(ctx, s, r.RunID)
		}
	}
	return &r, nil
}

// ListRuns returns the newest runs first.
func ListRuns(ctx context.Context, s *store.Store, limit int) ([]*RunRecord, error) {
	return ListRunsPage(ctx, s, 0, limit)
}

// CountRuns returns how many runs the workspace holds.
func CountRuns(ctx context.Context, s *store.Store) (int, error) {
	if err := migrate(ctx, s); err != nil {
		return 0, err
	}
	var n int
	err := s.DB.QueryRowContext(ctx, `SELECT count(*) FROM runs`).Scan(&n)
	return n, err
}

// ListRunsPage is ListRuns past the offset newest runs: the web UI pages through 10,000
// runs without decoding the records before its page.
func ListRunsPage(ctx context.Context, s *store.Store, offset, limit int) ([]*RunRecord, error) {
	if err := migrate(ctx, s); err != nil {
		return nil, err
	}
	markInterrupted(ctx, s)
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT record FROM runs ORDER BY started DESC, id DESC LIMIT ? OFFSET ?`, limit, max(offset, 0))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*RunRecord
	for rows.Next() {
		var rec string
		if err := rows.Scan(&rec); err != nil {
			return nil, err
		}
		var r RunRecord
		if err := json.Unmarshal([]byte(rec), &r); err != nil {
			continue // a corrupt record is skipped, never fatal for a listing
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}

// entries reads cache entries through one prepared statement: a run looks
// up every step, and parsing the query each time was a quarter of the CPU
// of a cold 1,000-step run. Safe for concurrent use.
type entries struct {
	s   *store.Store
	get *sql.Stmt // nil when it could not be prepared: each lookup then parses the query
}

const cacheGetSQL = `SELECT outputs, used FROM cache WHERE key = ?`

func newEntries(ctx context.Context, s *store.Store) *entries {
	st, _ := s.DB.PrepareContext(ctx, cacheGetSQL)
	return &entries{s: s, get: st}
}

func (e *entries) close() {
	if e.get != nil {
		e.get.Close()
	}
}

// lookup returns the outputs stored under key. Anything unreadable is a
// miss, never an error: the step just runs again.
func (e *entries) lookup(ctx context.Context, key string) (Outputs, time.Time, bool) {
	var row *sql.Row
	if e.get != nil {
		row = e.get.QueryRowContext(ctx, key)
	} else {
		row = e.s.DB.QueryRowContext(ctx, cacheGetSQL, key)
	}
	var js, used string
	if err := row.Scan(&js, &used); err != nil {
		return nil, time.Time{}, false
	}
	var outs Outputs
	if err := json.Unmarshal([]byte(js), &outs); err != nil || outs == nil {
		return nil, time.Time{}, false
	}
	t, _ := time.Parse(time.RFC3339, used)
	return outs, t, true
}

func cacheGet(ctx context.Context, s *store.Store, key string) (Outputs, time.Time, bool) {
	return (&entries{s: s}).lookup(ctx, key)
}

func cacheTouch(ctx context.Context, s *store.Store, key string, now time.Time) {
	// Best effort: a failed touch only affects trimming.
	s.DB.ExecContext(context.WithoutCancel(ctx), `UPDATE cache SET used = ? WHERE key = ?`, now.UTC().Format(time.RFC3339), key)
}

// cacheEntry is a finished step's outputs under its key.
type cacheEntry struct {
	key, kind, outputs string // outputs as JSON
	at                 time.Time
}

const cachePutSQL = `INSERT INTO cache(key, kind, outputs, created, used) VALUES(?, ?, ?, ?, ?)
	ON CONFLICT(key) DO UPDATE SET outputs = excluded.outputs, used = excluded.used`

func cachePut(ctx context.Context, stmt *sql.Stmt, e cacheEntry) error {
	ts := e.at.UTC().Format(time.RFC3339)
	_, err := stmt.ExecContext(ctx, e.key, e.kind, e.outputs, ts, ts)
	return err
}
