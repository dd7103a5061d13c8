// Package models is the model registry: named, versioned model artifacts in the workspace. The
// artifact bytes are a content-addressed blob; the database maps NAME:VERSION to the digest and
// keeps what `mlflow models show` prints (metrics, leaderboard, importance, lineage).
package models

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mlflow-go/mlflow/internal/ml/model"
	"github.com/mlflow-go/mlflow/internal/store"
)

var migrations = []string{
	`CREATE TABLE IF NOT EXISTS models (
		name      TEXT NOT NULL,
		version   INTEGER NOT NULL,
		digest    TEXT NOT NULL,
		task      TEXT NOT NULL,
		algorithm TEXT NOT NULL,
		created   TEXT NOT NULL,
		meta      TEXT NOT NULL,
		PRIMARY KEY (name, version),
		UNIQUE (name, digest)
	)`,
}

// Meta is what the registry keeps beside the artifact.
type Meta struct {
	Task          string                   `json:"task"`
	Algorithm     string                   `json:"algorithm"`
	PrimaryMetric string                   `json:"primary_metric,omitempty"`
	Metrics       map[string]float64       `json:"metrics,omitempty"`
	Leaderboard   []model.LeaderboardEntry `json:"leaderboard,omitempty"`
	Importance    []model.Importance       `json:"importance,omitempty"`
	Lineage       model.Lineage            `json:"lineage"`
	Warnings      []string                 `json:"warnings,omitempty"`
	Run           string                   `json:"run,omitempty"`
}

// Record is one registered model version.
type Record struct {
	Name      string    `json:"name"`
	Version   int       `json:"version"`
	Digest    string    `json:"digest"`
	Task      string    `json:"task"`
	Algorithm string    `json:"algorithm"`
	Created   time.Time `json:"created"`
	Path      string    `json:"path"` // the artifact file inside the workspace
	Meta      Meta      `json:"meta"`
}

// ErrNotFound wraps store.ErrNotFound for a name or version that is not registered.
var ErrNotFound = store.ErrNotFound

// ValidName reports whether name can be registered as a model (store.CheckName: it must
// survive NAME:VERSION parsing and file paths), at most 128 characters.
func ValidName(name string) error { return store.CheckName("model", name, 128) }

// Register stores artifact under name. The same bytes registered again return the existing
// record (idempotent on digest); new content becomes the next version.
func Register(ctx context.Context, s *store.Store, name string, artifact []byte, meta Meta) (Record, error) {
	if err := ValidName(name); err != nil {
		return Record{}, err
	}
	if err := s.Migrate(ctx, "models", migrations); err != nil {
		return Record{}, err
	}
	digest, err := s.PutBytes(artifact)
	if err != nil {
		return Record{}, fmt.Errorf("register model %s: %w", name, err)
	}
	mb, err := json.Marshal(meta)
	if err != nil {
		return Record{}, fmt.Errorf("register model %s: %w", name, err)
	}
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return Record{}, fmt.Errorf("register model %s: %w", name, err)
	}
	defer tx.Rollback()
	var version int
	err = tx.QueryRowContext(ctx, `SELECT version FROM models WHERE name = ? AND digest = ?`, name, digest).Scan(&version)
	switch {
	case err == nil:
		if err := tx.Commit(); err != nil {
			return Record{}, err
		}
		return Get(ctx, s, name, version)
	case !errors.Is(err, sql.ErrNoRows):
		return Record{}, fmt.Errorf("register model %s: %w", name, err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM models WHERE name = ?`, name).Scan(&version); err != nil {
		return Record{}, fmt.Errorf("register model %s: %w", name, err)
	}
	created := time.Now().UTC().Truncate(time.Millisecond)
	if _, err := tx.ExecContext(ctx, `INSERT INTO models(name, version, digest, task, algorithm, created, meta) VALUES(?, ?, ?, ?, ?, ?, ?)`,
		name, version, digest, meta.Task, meta.Algorithm, created.Format(time.RFC3339Nano), string(mb)); err != nil {
		return Record{}, fmt.Errorf("register model %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return Record{}, fmt.Errorf("register model %s: %w", name, err)
	}
	return Get(ctx, s, name, version)
}

// Get returns version of name; version 0 means the latest.
func Get(ctx context.Context, s *store.Store, name string, version int) (Record, error) {
	if err := s.Migrate(ctx, "models", migrations); err != nil {
		return Record{}, err
	}
	q := `SELECT name, version, digest, task, algorithm, created, meta FROM models WHERE name = ? AND version = ?`
	args := []any{name, version}
	if version == 0 {
		q = `SELECT name, version, digest, task, algorithm, created, meta FROM models WHERE name = ? ORDER BY version DESC LIMIT 1`
		args = args[:1]
	}
	rec, err := scan(s, s.DB.QueryRowContext(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		if version == 0 {
			return Record{}, fmt.Errorf("model %q: %w (see mlflow models list)", name, ErrNotFound)
		}
		return Record{}, fmt.Errorf("model %s:%d: %w (see mlflow models list)", name, version, ErrNotFound)
	}
	return rec, err
}

// List returns every version of every model, by name then version; name != "" filters.
func List(ctx context.Context, s *store.Store, name string) ([]Record, error) {
	if err := s.Migrate(ctx, "models", migrations); err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT name, version, digest, task, algorithm, created, meta FROM models
		WHERE ? = '' OR name = ? ORDER BY name, version`, name, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r, err := scan(s, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func scan(s *store.Store, row interface{ Scan(...any) error }) (Record, error) {
	var r Record
	var created, meta string
	if err := row.Scan(&r.Name, &r.Version, &r.Digest, &r.Task, &r.Algorithm, &created, &meta); err != nil {
		return Record{}, err
	}
	r.Created, _ = time.Parse(time.RFC3339Nano, created)
	if err := json.Unmarshal([]byte(meta), &r.Meta); err != nil {
		return Record{}, fmt.Errorf("model %s:%d: corrupt metadata: %w", r.Name, r.Version, err)
	}
	r.Path, _ = s.BlobPath(r.Digest)
	return r, nil
}

// ParseRef splits NAME[:VERSION]; version 0 means the latest.
func ParseRef(ref string) (name string, version int, err error) {
	return store.ParseRef("model", ref, 128)
}

// Resolve loads the model ref names: a file path (anything with a path separator or ending in
// .json, or an existing file), else NAME or NAME:VERSION in the registry of s. For a file the
// Record holds only Path, Name and Digest.
func Resolve(ctx context.Context, s *store.Store, ref string) (*model.Model, Record, error) {
	if IsFileRef(ref) {
		m, err := model.Load(ref)
		if err != nil {
			return nil, Record{}, err
		}
		return m, Record{Name: m.Name(), Digest: m.Digest(), Task: m.Task(), Algorithm: m.A.Algorithm, Path: ref}, nil
	}
	name, version, err := ParseRef(ref)
	if err != nil {
		return nil, Record{}, err
	}
	if s == nil {
		return nil, Record{}, fmt.Errorf("model %s: no workspace to look it up in", ref)
	}
	rec, err := Get(ctx, s, name, version)
	if err != nil {
		return nil, Record{}, err
	}
	b, err := s.Get(rec.Digest)
	if err != nil {
		return nil, Record{}, fmt.Errorf("model %s:%d: %w", rec.Name, rec.Version, err)
	}
	m, err := model.Decode(b)
	if err != nil {
		return nil, Record{}, fmt.Errorf("model %s:%d: %w", rec.Name, rec.Version, err)
	}
	m.SetRegistry(rec.Name, rec.Version)
	return m, rec, nil
}

// IsFileRef tells a model file from a registered NAME[:VERSION]: a path, a .json name, or an
// existing file.
func IsFileRef(ref string) bool {
	if strings.ContainsAny(ref, `/\`) || strings.HasSuffix(ref, ".json") {
		return true
	}
	st, err := os.Stat(ref)
	return err == nil && !st.IsDir()
}
