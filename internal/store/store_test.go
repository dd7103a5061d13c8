package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), DirName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestBlobs(t *testing.T) {
	s := open(t)
	d, err := s.PutBytes([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if d != Digest([]byte("hello")) || !strings.HasPrefix(d, "sha256:") {
		t.Fatalf("digest %s", d)
	}
	// Same content, same blob; no error on the second write.
	if d2, err := s.PutBytes([]byte("hello")); err != nil || d2 != d {
		t.Fatalf("second put: %s %v", d2, err)
	}
	b, err := s.Get(d)
	if err != nil || string(b) != "hello" {
		t.Fatalf("get: %q %v", b, err)
	}
	if _, err := s.Get(Digest([]byte("absent"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing blob: %v", err)
	}
	if _, err := s.Get("sha256:nothex"); err == nil {
		t.Fatal("a malformed digest was accepted")
	}
	// A corrupted blob is reported, never returned.
	p, _ := s.BlobPath(d)
	os.Chmod(p, 0o644)
	os.WriteFile(p, []byte("HELLO"), 0o644)
	if _, err := s.Get(d); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt blob: %v", err)
	}
	left, _ := os.ReadDir(filepath.Join(s.Root, "tmp"))
	if len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}

// Racing writers of the same content all succeed with one digest.
func TestConcurrentPut(t *testing.T) {
	s := open(t)
	var wg sync.WaitGroup
	digests := make([]string, 8)
	for i := range digests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := s.PutBytes([]byte(strings.Repeat("x", 1<<16)))
			if err != nil {
				t.Error(err)
			}
			digests[i] = d
		}()
	}
	wg.Wait()
	for _, d := range digests {
		if d != digests[0] {
			t.Fatal("different digests for the same content")
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "key")
	if err := WriteFileAtomic(p, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", st.Mode(), err)
	}
	if err := WriteFileAtomic(p, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	entries, _ := os.ReadDir(filepath.Dir(p))
	if string(b) != "new" || len(entries) != 1 {
		t.Fatalf("content %q, entries %d", b, len(entries))
	}
}

func TestMigrate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), DirName)
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v1 := []string{`CREATE TABLE t (a INTEGER)`}
	if err := s.Migrate(ctx, "comp", v1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A later binary appends a migration; an older one refuses a newer DB.
	s, _ = Open(dir)
	v2 := append(v1, `ALTER TABLE t ADD COLUMN b TEXT`)
	if err := s.Migrate(ctx, "comp", v2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.Exec(`INSERT INTO t(a, b) VALUES (1, 'x')`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, _ = Open(dir)
	defer s.Close()
	if err := s.Migrate(ctx, "comp", v1); err == nil || !strings.Contains(err.Error(), "upgrade mlflow") {
		t.Fatalf("old binary on new db: %v", err)
	}
	// A failing migration changes nothing.
	bad := append(append([]string{}, v2...), `CREATE TABLE t (dup INTEGER)`)
	if err := s.Migrate(ctx, "other", bad[2:]); err == nil {
		t.Fatal("bad migration succeeded")
	}
	var n int
	s.DB.QueryRow(`SELECT count(*) FROM schema_migrations WHERE component = 'other'`).Scan(&n)
	if n != 0 {
		t.Fatal("failed migration recorded a version")
	}
}
