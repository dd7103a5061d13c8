package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Owner is an exclusive hold on a name in the workspace (a run in progress)
// that lasts as long as the process holding it. It is an flock on a file
// under locks/: the kernel drops it when the process exits, kill -9
// included, so "is the process that started this still alive" is answered
// without process ids, which the system reuses. Like SQLite's locking, it
// holds between processes of one machine, not over a network file system.
type Owner struct {
	f *os.File
}

func (s *Store) lockPath(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("invalid lock name %q", name)
	}
	return filepath.Join(s.Root, "locks", name), nil
}

// Own takes the hold on name. It fails at once, without waiting, if
// another holder has it.
func (s *Store) Own(name string) (*Owner, error) {
	p, err := s.lockPath(name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is held by another process", name)
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return &Owner{f: f}, nil
}

// Release gives the hold up and removes its file.
func (o *Owner) Release() error {
	os.Remove(o.f.Name())
	return o.f.Close() // closing drops the flock
}

// Owned reports whether some process, this one included, holds name.
func (s *Store) Owned(name string) (bool, error) {
	p, err := s.lockPath(name)
	if err != nil {
		return false, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	// A shared probe: it fails only against an exclusive holder. flock
	// locks belong to the open file, so a second open in the holding
	// process conflicts too.
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", p, err)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false, nil
}

// Drop removes the file of a hold that nobody has, as a killed holder
// leaves it. Only for names that are never taken again (a run's id): a
// holder taking the name between the check and the removal would lose it.
func (s *Store) Drop(name string) error {
	if held, err := s.Owned(name); held || err != nil {
		return err
	}
	p, _ := s.lockPath(name)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
