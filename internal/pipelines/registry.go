// Package pipelines is the registry of published pipelines (docs/steps.md#publish): their
// versions in the workspace database, the snapshot each version runs (the workflow's folder
// as it was, by digest), their keys, their runs, and the scheduler that triggers them. The
// workspace server drives it; the publish kind writes to it.
package pipelines

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"time"

	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/store"
)

var migrations = []string{
	`CREATE TABLE pipelines (
		name          TEXT PRIMARY KEY,
		version       INTEGER NOT NULL,
		disabled      INTEGER NOT NULL DEFAULT 0,
		created       TEXT NOT NULL,
		updated       TEXT NOT NULL,
		anchor        TEXT NOT NULL DEFAULT '',
		next_fire_at  TEXT NOT NULL DEFAULT '',
		last_fired_at TEXT NOT NULL DEFAULT ''
	)`,
	`CREATE TABLE pipeline_versions (
		name       TEXT NOT NULL,
		version    INTEGER NOT NULL,
		digest     TEXT NOT NULL,
		definition TEXT NOT NULL,
		created    TEXT NOT NULL,
		PRIMARY KEY (name, version)
	)`,
	`CREATE TABLE pipeline_runs (
		id            TEXT PRIMARY KEY,
		name          TEXT NOT NULL,
		version       INTEGER NOT NULL,
		trigger       TEXT NOT NULL,
		state         TEXT NOT NULL,
		params        TEXT NOT NULL DEFAULT '{}',
		scheduled_for TEXT NOT NULL DEFAULT '',
		created       TEXT NOT NULL,
		started       TEXT NOT NULL DEFAULT '',
		finished      TEXT NOT NULL DEFAULT '',
		error         TEXT NOT NULL DEFAULT ''
	)`,
	`CREATE INDEX pipeline_runs_by_name ON pipeline_runs (name, created)`,
}

func migrate(ctx context.Context, s *store.Store) error {
	return s.Migrate(ctx, "pipelines", migrations)
}

// ErrNotFound is returned for a pipeline or run that does not exist.
var ErrNotFound = store.ErrNotFound

// NamePattern is a pipeline name; publish.cue says the same.
const NamePattern = `^[A-Za-z][A-Za-z0-9_-]{0,62}$`

var nameRule = regexp.MustCompile(NamePattern)

// ValidName refuses names that could not be a URL segment or a folder.
func ValidName(name string) error {
	if !nameRule.MatchString(name) {
		return fmt.Errorf("invalid pipeline name %q: want a letter, then up to 62 letters, digits, _ or -", name)
	}
	if name == "docs" {
		return fmt.Errorf("pipeline name %q is reserved: /pipelines/docs/ is the pipelines' Swagger UI", name)
	}
	return nil
}

// Definition is what one version of a pipeline runs. Its digest, description aside, decides
// whether a publication is a new version: a description changes no run.
type Definition struct {
	Name     string `json:"name"`
	Workflow string `json:"workflow"` // the workflow's name
	// Snapshot is the digest of the snapshot's manifest; File the workflow file in it.
	Snapshot    string    `json:"snapshot"`
	File        string    `json:"file"`
	Steps       []string  `json:"steps"` // closed under dependencies, sorted
	Params      []Param   `json:"params,omitempty"`
	Auth        string    `json:"auth"` // "key" | "none"
	Schedule    *Schedule `json:"schedule,omitempty"`
	Concurrency string    `json:"concurrency"` // "queue" | "skip"
	Description string    `json:"description,omitempty"`
}

// Param is a workflow param a trigger may set, typed by the workflow's default.
type Param struct {
	Name    string `json:"name"`
	Type    string `json:"type"` // "string" | "integer" | "number" | "boolean"
	Default any    `json:"default"`
}

// Digest identifies the definition without its description.
func (d Definition) Digest() string {
	d.Description = ""
	b, _ := json.Marshal(d)
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Pipeline is a published pipeline at its newest version.
type Pipeline struct {
	Definition
	Version     int       `json:"version"`
	Disabled    bool      `json:"disabled"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
	NextFireAt  time.Time `json:"next_fire_at,omitzero"`
	LastFiredAt time.Time `json:"last_fired_at,omitzero"`
	anchor      time.Time
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// Publish records def as the pipeline's newest version unless the newest already has the
// same digest (then only its description is updated). It returns the pipeline and whether a
// version was added. A new or changed schedule starts counting from now.
func Publish(ctx context.Context, s *store.Store, def Definition, now time.Time) (*Pipeline, bool, error) {
	if err := ValidName(def.Name); err != nil {
		return nil, false, err
	}
	if err := migrate(ctx, s); err != nil {
		return nil, false, err
	}
	var next time.Time
	if def.Schedule != nil {
		n, err := def.Schedule.Next(now, now)
		if err != nil {
			return nil, false, fmt.Errorf("schedule: %w", err)
		}
		next = n
	}
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()
	cur, err := get(ctx, tx, def.Name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, false, err
	}
	js, _ := json.Marshal(def)
	ts := fmtTime(now)
	added := false
	switch {
	case cur == nil:
		_, err = tx.ExecContext(ctx, `INSERT INTO pipelines (name, version, created, updated, anchor, next_fire_at) VALUES (?, 1, ?, ?, ?, ?)`,
			def.Name, ts, ts, ts, fmtTime(next))
		if err == nil {
			_, err = tx.ExecContext(ctx, `INSERT INTO pipeline_versions (name, version, digest, definition, created) VALUES (?, 1, ?, ?, ?)`, def.Name, def.Digest(), string(js), ts)
		}
		added = true
	case cur.Digest() == def.Digest():
		if cur.Description != def.Description {
			_, err = tx.ExecContext(ctx, `UPDATE pipeline_versions SET definition = ? WHERE name = ? AND version = ?`, string(js), def.Name, cur.Version)
		}
	default:
		v := cur.Version + 1
		_, err = tx.ExecContext(ctx, `INSERT INTO pipeline_versions (name, version, digest, definition, created) VALUES (?, ?, ?, ?, ?)`, def.Name, v, def.Digest(), string(js), ts)
		if err == nil {
			if sameSchedule(cur.Schedule, def.Schedule) {
				_, err = tx.ExecContext(ctx, `UPDATE pipelines SET version = ?, updated = ? WHERE name = ?`, v, ts, def.Name)
			} else {
				_, err = tx.ExecContext(ctx, `UPDATE pipelines SET version = ?, updated = ?, anchor = ?, next_fire_at = ? WHERE name = ?`, v, ts, ts, fmtTime(next), def.Name)
			}
		}
		added = true
	}
	if err != nil {
		return nil, false, fmt.Errorf("pipeline %s: %w", def.Name, err)
	}
	p, err := get(ctx, tx, def.Name)
	if err != nil {
		return nil, false, err
	}
	if err := tx.Commit(); err != nil {
		return nil, false, err
	}
	return p, added, nil
}

func sameSchedule(a, b *Schedule) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const selectPipeline = `SELECT p.name, p.version, p.disabled, p.created, p.updated, p.anchor, p.next_fire_at, p.last_fired_at, v.definition
	FROM pipelines p JOIN pipeline_versions v ON v.name = p.name AND v.version = p.version`

func scanPipeline(sc interface{ Scan(...any) error }) (*Pipeline, error) {
	var p Pipeline
	var created, updated, anchor, next, last, def string
	if err := sc.Scan(&p.Name, &p.Version, &p.Disabled, &created, &updated, &anchor, &next, &last, &def); err != nil {
		return nil, err
	}
	name, version := p.Name, p.Version
	if err := json.Unmarshal([]byte(def), &p.Definition); err != nil {
		return nil, fmt.Errorf("pipeline %s version %d: corrupt definition: %w", name, version, err)
	}
	p.Name = name
	p.Created, p.Updated, p.anchor = parseTime(created), parseTime(updated), parseTime(anchor)
	p.NextFireAt, p.LastFiredAt = parseTime(next), parseTime(last)
	return &p, nil
}

func get(ctx context.Context, q querier, name string) (*Pipeline, error) {
	p, err := scanPipeline(q.QueryRowContext(ctx, selectPipeline+` WHERE p.name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("pipeline %s: %w", name, ErrNotFound)
	}
	return p, err
}

// Get returns the pipeline at its newest version.
func Get(ctx context.Context, s *store.Store, name string) (*Pipeline, error) {
	if err := migrate(ctx, s); err != nil {
		return nil, err
	}
	return get(ctx, s.DB, name)
}

// GetVersion returns one version's definition.
func GetVersion(ctx context.Context, s *store.Store, name string, version int) (*Definition, error) {
	if err := migrate(ctx, s); err != nil {
		return nil, err
	}
	var js string
	err := s.DB.QueryRowContext(ctx, `SELECT definition FROM pipeline_versions WHERE name = ? AND version = ?`, name, version).Scan(&js)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("pipeline %s version %d: %w", name, version, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var d Definition
	if err := json.Unmarshal([]byte(js), &d); err != nil {
		return nil, fmt.Errorf("pipeline %s version %d: corrupt definition: %w", name, version, err)
	}
	return &d, nil
}

// List returns every pipeline, by name.
func List(ctx context.Context, s *store.Store) ([]*Pipeline, error) {
	if err := migrate(ctx, s); err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, selectPipeline+` ORDER BY p.name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Pipeline
	for rows.Next() {
		p, err := scanPipeline(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// SetDisabled disables or enables a pipeline. Enabling restarts its schedule from now:
// fire times that passed while it was disabled are not replayed.
func SetDisabled(ctx context.Context, s *store.Store, name string, disabled bool, now time.Time) (*Pipeline, error) {
	p, err := Get(ctx, s, name)
	if err != nil {
		return nil, err
	}
	next := ""
	if !disabled && p.Schedule != nil {
		n, err := p.Schedule.Next(p.anchor, now)
		if err != nil {
			return nil, err
		}
		next = fmtTime(n)
	} else {
		next = fmtTime(p.NextFireAt)
	}
	if _, err := s.DB.ExecContext(ctx, `UPDATE pipelines SET disabled = ?, next_fire_at = ?, updated = ? WHERE name = ?`, disabled, next, fmtTime(now), name); err != nil {
		return nil, err
	}
	return Get(ctx, s, name)
}

// Dir is the pipeline's folder in the workspace: its keys and materialized snapshots.
func Dir(s *store.Store, name string) string { return filepath.Join(s.Root, "pipelines", name) }

func keysPath(s *store.Store, name string) string { return filepath.Join(Dir(s, name), "keys.json") }

// EnsureKeys returns the pipeline's keys (a 0600 file, never the database), making them
// on first use.
func EnsureKeys(s *store.Store, name string) (endpoints.Keys, error) {
	if err := ValidName(name); err != nil {
		return endpoints.Keys{}, err
	}
	return endpoints.EnsureKeysFile(keysPath(s, name))
}

// ReadKeys returns the pipeline's keys.
func ReadKeys(s *store.Store, name string) (endpoints.Keys, error) {
	if err := ValidName(name); err != nil {
		return endpoints.Keys{}, err
	}
	k, err := endpoints.ReadKeysFile(keysPath(s, name))
	if errors.Is(err, ErrNotFound) {
		return k, fmt.Errorf("pipeline %s has no keys: %w", name, ErrNotFound)
	}
	return k, err
}

// Regenerate replaces one of the pipeline's keys ("primary" or "secondary").
func Regenerate(s *store.Store, name, which string) (endpoints.Keys, error) {
	if err := ValidName(name); err != nil {
		return endpoints.Keys{}, err
	}
	return endpoints.RegenerateFile(keysPath(s, name), which)
}
