package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mlflow-go/mlflow/internal/store"
)

// flock takes an exclusive flock(2) on path (created if missing) or fails with EWOULDBLOCK. A flock belongs to the
// open file, so the kernel drops it when the process dies, however it dies: a crashed
// server never leaves the workspace locked. The locks are advisory and local, like the
// workspace database: a workspace on a network file system is not supported.
func flock(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// own takes the workspace's owner lock for the life of a server.
func own(s *store.Store) (release func(), err error) {
	f, err := flock(ownerLockPath(s))
	if errors.Is(err, syscall.EWOULDBLOCK) {
		if in, rerr := readInfo(s); rerr == nil {
			return nil, fmt.Errorf("%w: pid %d on %s (workspace %s)", ErrServed, in.PID, in.URL, s.Root)
		}
		return nil, fmt.Errorf("%w (workspace %s; it is starting)", ErrServed, s.Root)
	}
	if err != nil {
		return nil, fmt.Errorf("server: lock %s: %w", ownerLockPath(s), err)
	}
	return func() { f.Close() }, nil
}

// ownerFree reports whether no process owns the workspace now.
func ownerFree(s *store.Store) bool {
	f, err := flock(ownerLockPath(s))
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// lockStart takes the find-or-start lock, waiting for another starter to finish or ctx to
// end. It polls rather than blocks so that a cancelled deploy stops waiting.
func lockStart(ctx context.Context, s *store.Store) (release func(), err error) {
	for {
		f, err := flock(startLockPath(s))
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("start server: lock %s: %w", startLockPath(s), err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
