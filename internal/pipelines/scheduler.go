package pipelines

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// The scheduler keeps each pipeline's next_fire_at and last_fired_at in the workspace
// database and moves next_fire_at in the same transaction that records the run it fires,
// so a crash either left both unchanged (the fire time is still due at the restart) or
// recorded both (the run is queued and resumed by Start): none is lost or doubled.
//
// A fire time that came due before this server started was missed while no server ran:
// catchup "none" (the default, as on Azure) drops it, "one" runs once for all of them.
// A fire time that came due while this server ran is fired however late the tick is
// (a suspended laptop): fire times passed meanwhile are one run, not a burst.

// maxSleep bounds a scheduler sleep: a schedule written by another process (publish,
// enable) is seen within it even if the Wake that follows it is lost.
const maxSleep = time.Minute

var errRaced = errors.New("schedule moved by another writer")

func (m *Manager) loop(ctx context.Context) {
	defer m.wg.Done()
	for {
		now := m.opts.Clock.Now()
		next, err := m.Tick(ctx, now)
		if err != nil && ctx.Err() == nil {
			m.opts.Log.Printf("scheduler: %v", err)
		}
		wait := maxSleep
		if !next.IsZero() && next.Sub(now) < wait {
			wait = max(next.Sub(now), 0)
		}
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		case <-m.opts.Clock.After(wait):
		}
	}
}

// Tick fires every enabled schedule due at now and returns the earliest fire time still
// ahead (zero: none).
func (m *Manager) Tick(ctx context.Context, now time.Time) (time.Time, error) {
	ps, err := List(ctx, m.s)
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	var errs []error
	for _, p := range ps {
		if p.Disabled || p.Schedule == nil || p.NextFireAt.IsZero() {
			continue
		}
		n := p.NextFireAt
		if !n.After(now) {
			if n, err = m.fire(ctx, p, now); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if next.IsZero() || n.Before(next) {
			next = n
		}
	}
	return next, errors.Join(errs...)
}

// fire handles p's due fire time and returns the next one.
func (m *Manager) fire(ctx context.Context, p *Pipeline, now time.Time) (time.Time, error) {
	due := p.NextFireAt
	next, err := p.Schedule.Next(p.anchor, now)
	if err != nil {
		return time.Time{}, err
	}
	scheduled, run := due, true
	if due.Before(m.started) {
		if p.Schedule.Catchup == "one" {
			scheduled = p.Schedule.lastBefore(p.anchor, due, now)
		} else {
			run = false
			m.opts.Log.Printf("pipeline %s: fire time %s passed while no server ran: not replayed (catchup: none)", p.Name, due.Format(time.RFC3339))
		}
	}
	advance := func(tx *sql.Tx) error {
		last := fmtTime(p.LastFiredAt)
		if run {
			last = fmtTime(scheduled)
		}
		// Compare-and-set: a fire time is fired by the one writer that moves it.
		res, err := tx.ExecContext(ctx, `UPDATE pipelines SET next_fire_at = ?, last_fired_at = ? WHERE name = ? AND next_fire_at = ? AND version = ?`,
			fmtTime(next), last, p.Name, fmtTime(due), p.Version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errRaced
		}
		return nil
	}
	if !run {
		tx, err := m.s.DB.BeginTx(ctx, nil)
		if err != nil {
			return time.Time{}, err
		}
		defer tx.Rollback()
		if err := advance(tx); err != nil {
			return raced(next, err)
		}
		return next, tx.Commit()
	}
	_, err = m.submit(ctx, p, nil, nil, "schedule", scheduled, advance)
	var busy *BusyError
	if errors.As(err, &busy) {
		m.opts.Log.Printf("pipeline %s: fire time %s skipped: %v", p.Name, scheduled.Format(time.RFC3339), err)
		err = nil
	}
	if err != nil {
		return raced(next, err)
	}
	return next, nil
}

func raced(next time.Time, err error) (time.Time, error) {
	if errors.Is(err, errRaced) {
		return next, nil // re-read at the next tick
	}
	return time.Time{}, err
}
