// Package endpoints is the registry of deployed endpoints: their records in
// the workspace database, their keys (a 0600 file per endpoint, never the
// database, which is world-readable by default) and their request log paths.
// It knows nothing of serving: the workspace server loads the models.
package endpoints

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/mlflow-go/mlflow/internal/store"
)

var migrations = []string{
	`CREATE TABLE IF NOT EXISTS endpoints (
		name    TEXT PRIMARY KEY,
		spec    TEXT NOT NULL,
		state   TEXT NOT NULL,
		created TEXT NOT NULL,
		updated TEXT NOT NULL
	)`,
}

// ErrNotFound is returned for an endpoint that was never deployed.
var ErrNotFound = store.ErrNotFound

// States of an endpoint.
const (
	Running = "running"
	Stopped = "stopped"
)

// Endpoint is one deployed endpoint.
type Endpoint struct {
	Name        string            `json:"name"`
	Model       ModelRef          `json:"model"`
	Auth        string            `json:"auth"` // "key" | "none"
	Description string            `json:"description,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	// ClassicResponse is how /score answers {"data"}: "string" | "object".
	ClassicResponse string `json:"classic_response"`
	// StrictColumns refuses requests that name a column the model does not
	// have (400) instead of ignoring it, as MLflow and Azure do by default.
	StrictColumns bool      `json:"strict_columns,omitempty"`
	State         string    `json:"state"`
	Created       time.Time `json:"created"`
	Updated       time.Time `json:"updated"`
}

// ModelRef is the model an endpoint serves: the automl output's fields.
type ModelRef struct {
	Name    string `json:"name"`
	Version int    `json:"version,omitempty"`
	Digest  string `json:"digest"`
	Path    string `json:"path,omitempty"`
}

// Ref is the reference models.Resolve takes: NAME:VERSION or a file path.
func (m ModelRef) Ref() string {
	if m.Version > 0 && m.Name != "" {
		return fmt.Sprintf("%s:%d", m.Name, m.Version)
	}
	if m.Path != "" {
		return m.Path
	}
	return m.Name
}

// ConfigDigest identifies what an endpoint serves and how: a deploy with an
// equal digest has nothing to do. Description and tags are left out, as
// they change no answer.
func (e *Endpoint) ConfigDigest() string {
	cfg := []any{e.Model.Digest, e.Auth, e.ClassicResponse}
	if e.StrictColumns {
		// Appended only when set, so endpoints recorded before the field keep their digest.
		cfg = append(cfg, "strict_columns")
	}
	b, _ := json.Marshal(cfg)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// nameRule is Azure's rule for online endpoint names, so that a workflow that deploys here
// deploys on Azure too; it is also safe as a URL path segment and a directory name.
// schema/load/cue/deploy.cue states the same pattern (TestNameRuleMatchesSchema).
var nameRule = regexp.MustCompile(NamePattern)

// NamePattern is nameRule's source, for the schema test.
const NamePattern = `^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$`

// ValidName checks an endpoint name against Azure's rule.
func ValidName(name string) error {
	if !nameRule.MatchString(name) {
		return fmt.Errorf("endpoint name %q: use 3 to 32 letters, digits and '-', starting with a letter and not ending with '-' (Azure's rule)", name)
	}
	return nil
}

func migrate(ctx context.Context, s *store.Store) error {
	return s.Migrate(ctx, "endpoints", migrations)
}

// Put creates or replaces e.
func Put(ctx context.Context, s *store.Store, e *Endpoint) error {
	if err := ValidName(e.Name); err != nil {
		return err
	}
	if err := migrate(ctx, s); err != nil {
		return err
	}
	now := time.Now().UTC()
	if e.Created.IsZero() {
		e.Created = now
	}
	e.Updated = now
	if e.State == "" {
		e.State = Running
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = s.DB.ExecContext(ctx, `INSERT INTO endpoints(name, spec, state, created, updated) VALUES(?, ?, ?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET spec = excluded.spec, state = excluded.state, updated = excluded.updated`,
		e.Name, string(b), e.State, e.Created.Format(time.RFC3339Nano), e.Updated.Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("endpoint %s: %w", e.Name, err)
	}
	return nil
}

// Get returns the endpoint called name.
func Get(ctx context.Context, s *store.Store, name string) (*Endpoint, error) {
	if err := migrate(ctx, s); err != nil {
		return nil, err
	}
	var spec string
	err := s.DB.QueryRowContext(ctx, `SELECT spec FROM endpoints WHERE name = ?`, name).Scan(&spec)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("endpoint %s: %w (deploy it with a deploy step first)", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", name, err)
	}
	var e Endpoint
	if err := json.Unmarshal([]byte(spec), &e); err != nil {
		return nil, fmt.Errorf("endpoint %s: corrupt record: %w", name, err)
	}
	return &e, nil
}

// List returns every endpoint, by name.
func List(ctx context.Context, s *store.Store) ([]*Endpoint, error) {
	if err := migrate(ctx, s); err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT spec FROM endpoints ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Endpoint
	for rows.Next() {
		var spec string
		if err := rows.Scan(&spec); err != nil {
			return nil, err
		}
		var e Endpoint
		if err := json.Unmarshal([]byte(spec), &e); err != nil {
			return nil, err
		}
		out = append(out, &e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, rows.Err()
}

// SetState marks an endpoint running or stopped.
func SetState(ctx context.Context, s *store.Store, name, state string) (*Endpoint, error) {
	e, err := Get(ctx, s, name)
	if err != nil {
		return nil, err
	}
	e.State = state
	return e, Put(ctx, s, e)
}

// Dir is the endpoint's folder in the workspace (keys and request log).
func Dir(s *store.Store, name string) string { return filepath.Join(s.Root, "endpoints", name) }

// LogPath is the endpoint's request log.
func LogPath(s *store.Store, name string) string {
	return filepath.Join(Dir(s, name), "requests.jsonl")
}

// Keys are an endpoint's two bearer keys.
type Keys struct {
	Primary   string `json:"primary"`
	Secondary string `json:"secondary"`
}

func keysPath(s *store.Store, name string) string { return filepath.Join(Dir(s, name), "keys.json") }

// newKey is 32 random bytes, base64url: Azure's key length.
func newKey() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ReadKeys returns the endpoint's keys. A keys file others can read is
// refused: it would leak the keys.
func ReadKeys(s *store.Store, name string) (Keys, error) {
	// The name becomes a path: "../../x" would read another folder's keys.json.
	if err := ValidName(name); err != nil {
		return Keys{}, err
	}
	k, err := ReadKeysFile(keysPath(s, name))
	if errors.Is(err, ErrNotFound) {
		return Keys{}, fmt.Errorf("endpoint %s has no keys: %w", name, ErrNotFound)
	}
	return k, err
}

// ReadKeysFile reads keys kept as endpoints keep theirs (a 0600 JSON file), for other
// registries with keys (published pipelines). A missing file is ErrNotFound.
func ReadKeysFile(p string) (Keys, error) {
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Keys{}, ErrNotFound
	}
	if err != nil {
		return Keys{}, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return Keys{}, fmt.Errorf("keys file %s is readable by others (mode %04o): run chmod 600 on it, then rotate both keys", p, st.Mode().Perm())
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return Keys{}, err
	}
	var k Keys
	if err := json.Unmarshal(b, &k); err != nil || k.Primary == "" {
		return Keys{}, fmt.Errorf("keys file %s is corrupt", p)
	}
	return k, nil
}

func writeKeys(s *store.Store, name string, k Keys) error {
	if err := ValidName(name); err != nil {
		return err
	}
	return writeKeysFile(keysPath(s, name), k)
}

func writeKeysFile(p string, k Keys) error {
	b, _ := json.MarshalIndent(k, "", "  ")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return store.WriteFileAtomic(p, append(b, '\n'), 0o600)
}

// EnsureKeys returns the endpoint's keys, making them on first use.
func EnsureKeys(s *store.Store, name string) (Keys, error) {
	if err := ValidName(name); err != nil {
		return Keys{}, err
	}
	return EnsureKeysFile(keysPath(s, name))
}

// EnsureKeysFile is EnsureKeys for keys kept at p.
func EnsureKeysFile(p string) (Keys, error) {
	k, err := ReadKeysFile(p)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return k, err
	}
	k = Keys{Primary: newKey(), Secondary: newKey()}
	return k, writeKeysFile(p, k)
}

// Regenerate replaces one key ("primary" or "secondary").
func Regenerate(s *store.Store, name, which string) (Keys, error) {
	if err := ValidName(name); err != nil {
		return Keys{}, err
	}
	return RegenerateFile(keysPath(s, name), which)
}

// RegenerateFile is Regenerate for keys kept at p.
func RegenerateFile(p, which string) (Keys, error) {
	k, err := EnsureKeysFile(p)
	if err != nil {
		return k, err
	}
	switch which {
	case "primary":
		k.Primary = newKey()
	case "secondary":
		k.Secondary = newKey()
	default:
		return k, fmt.Errorf("--regenerate %q: want primary or secondary", which)
	}
	return k, writeKeysFile(p, k)
}
