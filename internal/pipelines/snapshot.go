package pipelines

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/mlflow-go/mlflow/internal/store"
)

// A snapshot is the workflow's folder as it was published: every regular file under it
// (symbolic links to files are followed), by content digest, in a manifest that is itself
// a blob. Hidden entries (.git, the workspace .mlflow) are left out, and so is the
// workspace wherever it is. The limits keep a workflow published from a home folder from
// copying the whole of it; the error says which limit.
const (
	snapshotMaxFiles = 10000
	snapshotMaxBytes = 4 << 30
)

// Entry is one file of a snapshot.
type Entry struct {
	Path   string `json:"path"` // slash-separated, relative to the folder
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	Exec   bool   `json:"exec,omitempty"`
}

// Manifest lists the files of dir a snapshot would hold, with their digests, without
// storing anything: the publish kind's cache key. skip is a folder left out (the workspace);
// exclude lists files left out by their slash-separated path in dir (what steps write).
func Manifest(ctx context.Context, dir, skip string, exclude map[string]bool) ([]Entry, error) {
	var out []Entry
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") || (skip != "" && p == skip) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if exclude[filepath.ToSlash(rel)] {
			return nil
		}
		st, err := os.Stat(p) // follows a link
		if err != nil || !st.Mode().IsRegular() {
			return nil // a dangling link, a socket, a FIFO: nothing a step could read as data
		}
		if len(out) == snapshotMaxFiles {
			return fmt.Errorf("snapshot of %s: more than %d files: publish from a folder holding the workflow and its data only", dir, snapshotMaxFiles)
		}
		if total += st.Size(); total > snapshotMaxBytes {
			return fmt.Errorf("snapshot of %s: more than %d GiB of files: publish from a folder holding the workflow and its data only", dir, snapshotMaxBytes>>30)
		}
		dg, err := store.FileDigest(ctx, p)
		if err != nil {
			return err
		}
		out = append(out, Entry{Path: filepath.ToSlash(rel), Digest: dg, Size: st.Size(), Exec: st.Mode()&0o111 != 0})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// ManifestDigest is the digest a snapshot of entries is stored under.
func ManifestDigest(entries []Entry) string {
	return store.Digest(manifestBytes(entries))
}

func manifestBytes(entries []Entry) []byte {
	if entries == nil {
		entries = []Entry{}
	}
	b, _ := json.Marshal(entries)
	return b
}

// Snapshot stores dir's files (but exclude) and their manifest in the workspace and returns
// the manifest's digest. A file that changes while it is stored fails the snapshot.
func Snapshot(ctx context.Context, s *store.Store, dir string, exclude map[string]bool) (string, error) {
	entries, err := Manifest(ctx, dir, s.Root, exclude)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if s.Has(e.Digest) {
			continue
		}
		f, err := store.OpenRegular(filepath.Join(dir, filepath.FromSlash(e.Path)))
		if err != nil {
			return "", err
		}
		d, _, err := s.Put(f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("snapshot %s: %w", e.Path, err)
		}
		if d != e.Digest {
			return "", fmt.Errorf("snapshot %s: the file changed while it was stored: publish again", e.Path)
		}
	}
	return s.PutBytes(manifestBytes(entries))
}

// Materialize writes the snapshot's files into the pipeline's folder of the workspace
// (once per snapshot) and returns that folder. Runs of one pipeline never overlap, so they
// share it; a folder is complete once its marker exists, so a crash mid-way is redone.
func Materialize(ctx context.Context, s *store.Store, name, digest string) (string, error) {
	if err := ValidName(name); err != nil {
		return "", err
	}
	hex := strings.TrimPrefix(digest, "sha256:")
	if len(hex) != 64 || strings.ContainsAny(hex, "./\\") {
		return "", fmt.Errorf("snapshot %q: not a digest", digest)
	}
	dir := filepath.Join(Dir(s, name), "snapshots", hex[:16])
	marker := filepath.Join(dir, ".complete")
	// Two first triggers at once must not write the folder together; one server (one
	// process) materializes, so a process-wide lock is enough.
	materializeMu.Lock()
	defer materializeMu.Unlock()
	if _, err := os.Stat(marker); err == nil {
		return dir, nil
	}
	b, err := s.Get(digest)
	if err != nil {
		return "", fmt.Errorf("snapshot %s: %w", digest, err)
	}
	var entries []Entry
	if err := json.Unmarshal(b, &entries); err != nil {
		return "", fmt.Errorf("snapshot %s: corrupt manifest: %w", digest, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		rel := filepath.FromSlash(e.Path)
		if !filepath.IsLocal(rel) {
			return "", fmt.Errorf("snapshot %s: entry %q leaves the folder", digest, e.Path)
		}
		if err := writeEntry(s, filepath.Join(dir, rel), e); err != nil {
			return "", fmt.Errorf("snapshot %s: %s: %w", digest, e.Path, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

var materializeMu sync.Mutex

func writeEntry(s *store.Store, path string, e Entry) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	src, err := s.Open(e.Digest)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("blob %s is missing from the workspace: publish again", e.Digest)
		}
		return err
	}
	defer src.Close()
	mode := os.FileMode(0o644)
	if e.Exec {
		mode = 0o755
	}
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
