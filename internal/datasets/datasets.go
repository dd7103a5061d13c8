// Package datasets is the workspace's registry of named, versioned
// datasets. A version is an immutable columnar blob (tabular.Frame.Encode)
// in the blob store plus a row in the database with its profile. The same
// content registered again under the same name gets the same version back;
// new content gets the next version.
package datasets

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

// migrations are append-only: add statements, never edit them.
var migrations = []string{
	`CREATE TABLE datasets (
		name          TEXT NOT NULL,
		version       INTEGER NOT NULL,
		digest        TEXT NOT NULL,    -- the columnar blob
		size          INTEGER NOT NULL, -- its bytes
		rows          INTEGER NOT NULL,
		columns       INTEGER NOT NULL,
		target        TEXT NOT NULL,
		source        TEXT NOT NULL,    -- path or URL as the workflow wrote it
		source_digest TEXT NOT NULL,    -- of the CSV bytes
		description   TEXT NOT NULL,
		profile       TEXT NOT NULL,    -- tabular.Profile as JSON
		run_id        TEXT NOT NULL,
		created       TEXT NOT NULL,    -- RFC 3339, UTC
		PRIMARY KEY (name, version)
	)`,
	`CREATE INDEX datasets_by_digest ON datasets(name, digest)`,
}

func migrate(ctx context.Context, s *store.Store) error {
	return s.Migrate(ctx, "datasets", migrations)
}

// Dataset is one registered version.
type Dataset struct {
	Name         string           `json:"name"`
	Version      int              `json:"version"`
	Digest       string           `json:"digest"`
	Size         int64            `json:"size"`
	Rows         int              `json:"rows"`
	Columns      int              `json:"columns"`
	Target       string           `json:"target,omitempty"`
	Source       string           `json:"source"`
	SourceDigest string           `json:"source_digest"`
	Description  string           `json:"description,omitempty"`
	RunID        string           `json:"run_id,omitempty"`
	Created      time.Time        `json:"created"`
	Profile      *tabular.Profile `json:"profile,omitempty"` // nil in List
}

// Ref is "name:version" (docs/steps.md#dataset-output, minus the
// figures).
func (d *Dataset) Ref() string { return d.Name + ":" + strconv.Itoa(d.Version) }

// Registration describes what is being registered besides the frame.
type Registration struct {
	Name string
	// Version pins the version number, as Azure ML data assets do: the
	// pinned version must be new or hold the same content. 0 means the
	// version that already holds this content, else the next one.
	Version      int
	Source       string
	SourceDigest string
	Description  string
	RunID        string
	// Profile, when nil, is computed from the frame.
	Profile *tabular.Profile
}

// ErrConflict is returned when a pinned version already holds other content.
var ErrConflict = errors.New("version already exists with different content")

// CheckName reports whether name can name a dataset.
func CheckName(name string) error { return store.CheckName("dataset", name, 255) }

// Register stores f as a columnar blob and records it as name:version. The
// blob is written first and the row in one transaction, so a failure leaves
// the registry as it was (an unreferenced blob at worst). created is false
// when this content was already registered under that name and version.
func Register(ctx context.Context, s *store.Store, f *tabular.Frame, reg Registration) (d *Dataset, created bool, err error) {
	if err := CheckName(reg.Name); err != nil {
		return nil, false, err
	}
	if reg.Version < 0 {
		return nil, false, fmt.Errorf("dataset %s: version %d: want a positive number", reg.Name, reg.Version)
	}
	if err := migrate(ctx, s); err != nil {
		return nil, false, err
	}
	digest, size, err := put(s, f)
	if err != nil {
		return nil, false, fmt.Errorf("dataset %s: store the columnar copy: %w", reg.Name, err)
	}
	prof := reg.Profile
	if prof == nil {
		prof = f.Profile()
	}
	profJSON, err := json.Marshal(prof)
	if err != nil {
		return nil, false, err
	}
	d = &Dataset{
		Name: reg.Name, Digest: digest, Size: size, Rows: f.Rows, Columns: len(f.Columns),
		Target: f.Target, Source: reg.Source, SourceDigest: reg.SourceDigest,
		Description: reg.Description, RunID: reg.RunID, Created: time.Now().UTC(), Profile: prof,
	}

	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, fmt.Errorf("dataset %s: %w", reg.Name, err)
	}
	defer tx.Rollback()
	if reg.Version > 0 {
		var have string
		err := tx.QueryRowContext(ctx, `SELECT digest FROM datasets WHERE name = ? AND version = ?`, reg.Name, reg.Version).Scan(&have)
		switch {
		case err == nil && have == digest:
			old, err := get(ctx, tx, reg.Name, reg.Version)
			return old, false, err
		case err == nil:
			return nil, false, fmt.Errorf("dataset %s:%d: %w (registered %s, this is %s); remove version to register the next one",
				reg.Name, reg.Version, ErrConflict, short(have), short(digest))
		case !errors.Is(err, sql.ErrNoRows):
			return nil, false, fmt.Errorf("dataset %s: %w", reg.Name, err)
		}
		d.Version = reg.Version
	} else {
		var v int
		err := tx.QueryRowContext(ctx, `SELECT version FROM datasets WHERE name = ? AND digest = ? ORDER BY version DESC LIMIT 1`, reg.Name, digest).Scan(&v)
		if err == nil {
			old, err := get(ctx, tx, reg.Name, v)
			return old, false, err
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, false, fmt.Errorf("dataset %s: %w", reg.Name, err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM datasets WHERE name = ?`, reg.Name).Scan(&d.Version); err != nil {
			return nil, false, fmt.Errorf("dataset %s: %w", reg.Name, err)
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO datasets
		(name, version, digest, size, rows, columns, target, source, source_digest, description, profile, run_id, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.Name, d.Version, d.Digest, d.Size, d.Rows, d.Columns, d.Target, d.Source, d.SourceDigest,
		d.Description, string(profJSON), d.RunID, d.Created.Format(time.RFC3339Nano))
	if err != nil {
		return nil, false, fmt.Errorf("dataset %s: record version %d: %w", d.Name, d.Version, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, false, fmt.Errorf("dataset %s: record version %d: %w", d.Name, d.Version, err)
	}
	return d, true, nil
}

// put streams the encoding into the blob store: a large frame is never
// held twice in memory.
func put(s *store.Store, f *tabular.Frame) (string, int64, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(f.Encode(pw)) }()
	digest, size, err := s.Put(pr)
	// Unblocks the encoder if Put stopped reading early.
	pr.CloseWithError(errors.New("blob store stopped reading"))
	return digest, size, err
}

func short(digest string) string {
	h := strings.TrimPrefix(digest, "sha256:")
	return "sha256:" + h[:min(12, len(h))]
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const columns = `name, version, digest, size, rows, columns, target, source, source_digest, description, run_id, created`

type scanner interface{ Scan(dest ...any) error }

func scan(r scanner, d *Dataset, extra ...any) error {
	var created string
	err := r.Scan(append([]any{&d.Name, &d.Version, &d.Digest, &d.Size, &d.Rows, &d.Columns, &d.Target,
		&d.Source, &d.SourceDigest, &d.Description, &d.RunID, &created}, extra...)...)
	if err != nil {
		return err
	}
	d.Created, _ = time.Parse(time.RFC3339Nano, created)
	return nil
}

func get(ctx context.Context, q querier, name string, version int) (*Dataset, error) {
	var row *sql.Row
	if version == 0 {
		row = q.QueryRowContext(ctx, `SELECT `+columns+`, profile FROM datasets WHERE name = ? ORDER BY version DESC LIMIT 1`, name)
	} else {
		row = q.QueryRowContext(ctx, `SELECT `+columns+`, profile FROM datasets WHERE name = ? AND version = ?`, name, version)
	}
	d := &Dataset{}
	var prof string
	if err := scan(row, d, &prof); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			if version == 0 {
				return nil, fmt.Errorf("dataset %s: %w", name, store.ErrNotFound)
			}
			return nil, fmt.Errorf("dataset %s:%d: %w", name, version, store.ErrNotFound)
		}
		return nil, fmt.Errorf("dataset %s: %w", name, err)
	}
	d.Profile = &tabular.Profile{}
	if err := json.Unmarshal([]byte(prof), d.Profile); err != nil {
		return nil, fmt.Errorf("dataset %s: stored profile: %w", d.Ref(), err)
	}
	return d, nil
}

// Get returns name:version with its profile; version 0 is the latest. A
// missing dataset or version wraps store.ErrNotFound.
func Get(ctx context.Context, s *store.Store, name string, version int) (*Dataset, error) {
	if err := migrate(ctx, s); err != nil {
		return nil, err
	}
	return get(ctx, s.DB, name, version)
}

// List returns every version of every dataset, by name then version,
// without profiles.
func List(ctx context.Context, s *store.Store) ([]*Dataset, error) {
	if err := migrate(ctx, s); err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT `+columns+` FROM datasets ORDER BY name, version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Dataset
	for rows.Next() {
		d := &Dataset{}
		if err := scan(rows, d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ParseRef splits "name" or "name:version" (version 0 when absent).
func ParseRef(ref string) (name string, version int, err error) {
	return store.ParseRef("dataset", ref, 255)
}

// LoadFrame reads a registered dataset's columns from the blob store: a
// decode of the columnar blob straight into column memory, no CSV parsing.
// The encoding's CRC-32C catches a damaged file.
func LoadFrame(s *store.Store, digest string) (*tabular.Frame, error) {
	f, err := s.Open(digest)
	if err != nil {
		return nil, fmt.Errorf("dataset blob %s: %w", digest, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("dataset blob %s: %w", digest, err)
	}
	fr, err := tabular.Decode(&lenReader{r: f, n: int(st.Size())})
	if err != nil {
		return nil, fmt.Errorf("dataset blob %s: %w", digest, err)
	}
	return fr, nil
}

// lenReader tells tabular.Decode how many bytes are left, so a damaged
// header cannot make it allocate more than the blob holds.
type lenReader struct {
	r io.Reader
	n int
}

func (l *lenReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n -= n
	return n, err
}

func (l *lenReader) Len() int { return l.n }
