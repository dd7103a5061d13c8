// Package store is the workspace: content-addressed blobs under
// objects/sha256/ and an embedded SQLite database (pure Go) that is the only
// index. Several processes may share one workspace on a local file system;
// a network file system is not supported (SQLite's locking is not reliable
// there).
package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DirName is the default workspace folder, beside the workflow file.
const DirName = ".mlflow"

// ErrNotFound is returned for a blob or record that does not exist.
var ErrNotFound = errors.New("not found")

// Store is an open workspace.
type Store struct {
	Root string
	DB   *sql.DB

	mu       sync.Mutex
	migrated map[string]bool
}

// Open opens (creating if needed) the workspace at root.
func Open(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{abs, filepath.Join(abs, "objects", "sha256"), filepath.Join(abs, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("workspace %s: %w", abs, err)
		}
	}
	sweepTemp(filepath.Join(abs, "tmp"), time.Now())
	// busy_timeout makes concurrent processes wait for the lock instead of
	// failing; _txlock=immediate takes the write lock at BEGIN so two
	// writers never deadlock upgrading a read lock.
	dsn := "file:" + filepath.Join(abs, "mlflow.db") +
		"?_pragma=busy_timeout(30000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("workspace %s: %w", abs, err)
	}
	// WAL lets readers run beside one writer. The mode is stored in the
	// file, so it is set once here, not per connection; switching can fail
	// with SQLITE_BUSY without consulting busy_timeout when another
	// process opens the same new workspace at the same moment, so retry.
	for attempt := 0; ; attempt++ {
		_, err = db.Exec(`PRAGMA journal_mode=WAL`)
		if err == nil || attempt == 100 || !strings.Contains(err.Error(), "SQLITE_BUSY") {
			break
		}
		time.Sleep(time.Duration(10+attempt) * time.Millisecond)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("workspace %s: open database: %w", abs, err)
	}
	s := &Store{Root: abs, DB: db, migrated: map[string]bool{}}
	if err := s.Migrate(context.Background(), "store", storeMigrations); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Leftovers of killed processes in tmp/ are removed at Open once they are
// old enough that no live writer can still own them: a blob or log being
// written has its mtime moved by every write, so an hour without one means
// its writer is gone. A step's scratch directory is only touched when the
// step adds or removes a file in it, so it gets a day.
const (
	tempMaxAge    = time.Hour
	scratchMaxAge = 24 * time.Hour
)

func sweepTemp(dir string, now time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		age := now.Sub(info.ModTime())
		name := e.Name()
		switch {
		case e.IsDir() && strings.HasPrefix(name, "step-") && age > scratchMaxAge:
			os.RemoveAll(filepath.Join(dir, name))
		case !e.IsDir() && (strings.HasPrefix(name, "blob-") || strings.HasPrefix(name, "log-")) && age > tempMaxAge:
			os.Remove(filepath.Join(dir, name))
		}
	}
}

// Close closes the database.
func (s *Store) Close() error { return s.DB.Close() }

var storeMigrations = []string{
	`CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
}

// Migrate brings component's tables up to len(steps): steps[i] is the SQL
// of version i+1. Each package owns its component and its list; entries are
// append-only. Safe to call from many processes at once.
func (s *Store) Migrate(ctx context.Context, component string, steps []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.migrated[component] {
		return nil
	}
	if _, err := s.DB.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT PRIMARY KEY, version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	defer tx.Rollback()
	var v int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_migrations WHERE component = ?`, component).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	if v > len(steps) {
		return fmt.Errorf("workspace database has %s schema version %d, this mlflow knows %d: upgrade mlflow", component, v, len(steps))
	}
	for i := v; i < len(steps); i++ {
		if _, err := tx.ExecContext(ctx, steps[i]); err != nil {
			return fmt.Errorf("migrate %s to version %d: %w", component, i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(component, version) VALUES(?, ?)
		ON CONFLICT(component) DO UPDATE SET version = excluded.version`, component, len(steps)); err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	s.migrated[component] = true
	return nil
}

// Digest is "sha256:<hex>".
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ErrNotRegular is returned for a path that is not a regular file (a named
// pipe, a device, a directory): reading one can block forever or never end.
var ErrNotRegular = errors.New("not a regular file")

// OpenRegular opens path for reading, refusing anything but a regular file
// (symlinks are followed). The mode is checked before opening, since
// opening a named pipe blocks until a writer appears, and again on the open
// file, in case the path was replaced in between.
func OpenRegular(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, notRegular(path, st.Mode())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if st, err = f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = notRegular(path, st.Mode())
		}
		return nil, err
	}
	return f, nil
}

func notRegular(path string, m fs.FileMode) error {
	what := "special file"
	switch {
	case m.IsDir():
		what = "directory"
	case m&fs.ModeNamedPipe != 0:
		what = "named pipe"
	case m&fs.ModeDevice != 0:
		what = "device"
	case m&fs.ModeSocket != 0:
		what = "socket"
	}
	return &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (a %s)", ErrNotRegular, what)}
}

// FileDigest hashes a regular file's content. It stops when ctx ends and
// returns context.Cause(ctx), so a step's timeout message reaches the user.
func FileDigest(ctx context.Context, path string) (string, error) {
	f, err := OpenRegular(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader fails reads once ctx is done. io.Copy reads 32 KiB at a time,
// so a cancel is noticed within microseconds of disk time.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if c.ctx.Err() != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(p)
}

func validDigest(d string) (string, bool) {
	hexs, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hexs) != 64 {
		return "", false
	}
	if _, err := hex.DecodeString(hexs); err != nil {
		return "", false
	}
	return hexs, true
}

// BlobPath is where the blob with digest d lives (whether or not it exists).
func (s *Store) BlobPath(d string) (string, error) {
	hexs, ok := validDigest(d)
	if !ok {
		return "", fmt.Errorf("invalid digest %q", d)
	}
	return filepath.Join(s.Root, "objects", "sha256", hexs[:2], hexs), nil
}

// verifiedMark is the modification time Put gives every blob after hashing
// what it wrote. Any later write to the file moves its mtime, so Verify
// trusts a blob whose mtime is still the mark after one stat, and re-hashes
// only blobs touched since (see Verify).
var verifiedMark = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Put stores r's bytes as a blob and returns its digest and size. The new
// file always replaces an existing one of the same name: racing writers
// write identical bytes, and a blob that was corrupted on disk is healed by
// the next Put of its content (keeping an existing file of the right size
// would keep a corrupt one forever).
func (s *Store) Put(r io.Reader) (digest string, size int64, err error) {
	f, err := os.CreateTemp(filepath.Join(s.Root, "tmp"), "blob-*")
	if err != nil {
		return "", 0, err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(f, h), r)
	if err != nil {
		return "", 0, err
	}
	if err = f.Sync(); err != nil {
		return "", 0, err
	}
	if err = f.Close(); err != nil {
		return "", 0, err
	}
	digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	dst, _ := s.BlobPath(digest)
	if err = os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", 0, err
	}
	if err = os.Chmod(tmp, 0o444); err != nil {
		return "", 0, err
	}
	if err = os.Chtimes(tmp, verifiedMark, verifiedMark); err != nil {
		return "", 0, err
	}
	if err = os.Rename(tmp, dst); err != nil {
		return "", 0, err
	}
	return digest, size, nil
}

// ErrCorrupt is returned by Verify for a blob whose content does not hash
// to its name.
var ErrCorrupt = errors.New("is corrupt")

// Verify checks that the blob exists and is whole: ErrNotFound if it is
// missing, ErrCorrupt if its content does not hash to its digest. A blob
// whose mtime is still the mark Put gave it costs one stat; any other is
// hashed (stopping when ctx ends) and, if whole, marked again, so each blob
// is re-hashed at most once after it is touched. Silent corruption that
// keeps the mtime (bit rot) is caught only where the bytes are read anyway
// (Get checks every read).
func (s *Store) Verify(ctx context.Context, digest string) error {
	p, err := s.BlobPath(digest)
	if err != nil {
		return err
	}
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob %s: %w", digest, ErrNotFound)
	}
	if err != nil {
		return err
	}
	if st.Mode().IsRegular() && st.ModTime().Equal(verifiedMark) {
		return nil
	}
	got, err := FileDigest(ctx, p)
	if err != nil {
		return err
	}
	if got != digest {
		return fmt.Errorf("blob %s %w (content hashes to %s)", digest, ErrCorrupt, got)
	}
	// Best effort: a blob another user wrote cannot take our mark, and is
	// then just hashed again next time.
	os.Chtimes(p, verifiedMark, verifiedMark)
	return nil
}

// PutBytes stores b as a blob.
func (s *Store) PutBytes(b []byte) (string, error) {
	d, _, err := s.Put(bytes.NewReader(b))
	return d, err
}

// Open opens a blob for reading. A missing blob is ErrNotFound.
func (s *Store) Open(digest string) (*os.File, error) {
	p, err := s.BlobPath(digest)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", digest, ErrNotFound)
	}
	return f, err
}

// Get reads a whole blob and checks its digest: a corrupt blob is reported,
// never returned.
func (s *Store) Get(digest string) ([]byte, error) {
	f, err := s.Open(digest)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	if Digest(b) != digest {
		return nil, fmt.Errorf("blob %s %w (content hashes to %s)", digest, ErrCorrupt, Digest(b))
	}
	return b, nil
}

// Has reports whether the blob exists.
func (s *Store) Has(digest string) bool {
	p, err := s.BlobPath(digest)
	if err != nil {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}

// Path returns a path inside the workspace, creating its parent directory.
func (s *Store) Path(elem ...string) (string, error) {
	p := filepath.Join(append([]string{s.Root}, elem...)...)
	return p, os.MkdirAll(filepath.Dir(p), 0o755)
}

// WriteFileAtomic writes data to path through a temp file in the same
// directory, fsyncs it and renames it over path, so readers see the old or
// the new content, never a part.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// Sync the directory so the rename itself survives a crash.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
