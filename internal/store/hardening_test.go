package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Special files as inputs used to hang: opening a named pipe blocks until a
// writer comes, /dev/zero never ends. They are refused by name, at once.
func TestFileDigestRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "data.fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ path, what string }{
		{fifo, "named pipe"},
		{"/dev/zero", "device"},
		{dir, "directory"},
	}
	for _, c := range cases {
		done := make(chan error, 1)
		go func() {
			_, err := FileDigest(context.Background(), c.path)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.what) {
				t.Errorf("%s: err = %v, want not a regular file (a %s) naming the path", c.path, err, c.what)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: FileDigest still running after 5s", c.path)
		}
	}
}

// FileDigest stops reading when its context ends and reports the cause.
func TestFileDigestStopsOnCancel(t *testing.T) {
	p := filepath.Join(t.TempDir(), "huge.csv")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: 64 GiB that take no disk and minutes to hash.
	if err := f.Truncate(64 << 30); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
	f.Close()
	cause := errors.New("timed out after 50ms")
	ctx, cancel := context.WithTimeoutCause(context.Background(), 50*time.Millisecond, cause)
	defer cancel()
	start := time.Now()
	_, err = FileDigest(ctx, p)
	if !errors.Is(err, cause) {
		t.Fatalf("err = %v, want the context's cause", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s to notice the deadline", d)
	}
}

func corrupt(t *testing.T, s *Store, d string, b []byte) {
	t.Helper()
	p, _ := s.BlobPath(d)
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A Put of content whose blob was corrupted on disk (same size) heals it.
func TestPutHealsCorruptBlob(t *testing.T) {
	s := open(t)
	d, err := s.PutBytes([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	corrupt(t, s, d, []byte("HELLO"))
	if d2, err := s.PutBytes([]byte("hello")); err != nil || d2 != d {
		t.Fatalf("put: %s %v", d2, err)
	}
	if b, err := s.Get(d); err != nil || string(b) != "hello" {
		t.Fatalf("after a second put: %q %v", b, err)
	}
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	d, _ := s.PutBytes([]byte("hello"))
	if err := s.Verify(ctx, d); err != nil {
		t.Fatalf("fresh blob: %v", err)
	}
	// Rewritten with the same bytes: hashed once, found whole, marked again.
	corrupt(t, s, d, []byte("hello"))
	if err := s.Verify(ctx, d); err != nil {
		t.Fatalf("rewritten whole blob: %v", err)
	}
	p, _ := s.BlobPath(d)
	if st, _ := os.Stat(p); !st.ModTime().Equal(verifiedMark) {
		t.Fatalf("a whole blob was not marked verified: mtime %s", st.ModTime())
	}
	corrupt(t, s, d, []byte("HELLO"))
	if err := s.Verify(ctx, d); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt blob: %v", err)
	}
	os.Remove(p)
	if err := s.Verify(ctx, d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing blob: %v", err)
	}
}

// Temp files left by killed writers are swept at Open once old enough
// that no live writer can own them; recent ones and other files stay.
func TestOpenSweepsOldTempFiles(t *testing.T) {
	root := filepath.Join(t.TempDir(), DirName)
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	tmp := filepath.Join(root, "tmp")
	old, day := time.Now().Add(-2*time.Hour), time.Now().Add(-25*time.Hour)
	files := map[string]time.Time{"blob-old": old, "log-old": old, "blob-new": time.Now(), "keep-old": old}
	for name, mt := range files {
		p := filepath.Join(tmp, name)
		os.WriteFile(p, []byte("x"), 0o644)
		os.Chtimes(p, mt, mt)
	}
	for name, mt := range map[string]time.Time{"step-a-day": day, "step-hours": old} {
		p := filepath.Join(tmp, name)
		os.MkdirAll(filepath.Join(p, "sub"), 0o755)
		os.Chtimes(p, mt, mt)
	}
	open2(t, root)
	left, _ := os.ReadDir(tmp)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if got, want := strings.Join(names, " "), "blob-new keep-old step-hours"; got != want {
		t.Fatalf("tmp holds %q, want %q", got, want)
	}
}

func open2(t *testing.T, root string) *Store {
	t.Helper()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOwner(t *testing.T) {
	s := open(t)
	if held, err := s.Owned("run-x"); held || err != nil {
		t.Fatalf("before Own: %v %v", held, err)
	}
	o, err := s.Own("run-x")
	if err != nil {
		t.Fatal(err)
	}
	if held, err := s.Owned("run-x"); !held || err != nil {
		t.Fatalf("while owned: %v %v", held, err)
	}
	if _, err := s.Own("run-x"); err == nil {
		t.Fatal("a held name was taken twice")
	}
	if err := o.Release(); err != nil {
		t.Fatal(err)
	}
	if held, err := s.Owned("run-x"); held || err != nil {
		t.Fatalf("after Release: %v %v", held, err)
	}
	// A hold left by a dead holder (here: closed without Release) is dropped.
	o, _ = s.Own("run-y")
	o.f.Close()
	if err := s.Drop("run-y"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Root, "locks", "run-y")); !os.IsNotExist(err) {
		t.Fatalf("lock file left: %v", err)
	}
	if _, err := s.Own("../x"); err == nil {
		t.Fatal("a name with a path separator was accepted")
	}
}
