// Package steptest is the conformance suite every step kind passes, in the spirit of
// RunCacheStorageTests: a kind honours cancellation, writes nothing outside its output area
// (the workspace, its scratch directory, the files it declares), answers with every output
// its schema declares, and gives equal cache keys for equal inputs and different keys when
// an input changes.
package steptest

import (
	"context"
	"crypto/sha256"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema"
	"github.com/mlflow-go/mlflow/schema/load"
)

// Case is one kind under test.
type Case struct {
	Kind engine.Step
	// Setup prepares dir, a fresh workflow folder whose workspace s is open at dir/.mlflow,
	// and returns a config Run succeeds with, references resolved as the engine hands it.
	Setup func(t *testing.T, dir string, s *store.Store) map[string]any
	// Vary changes one input the key must follow: a config field, or a file under dir.
	Vary func(t *testing.T, dir string, cfg map[string]any)
	// Writes are the paths under dir, besides the workspace, a run may create or change.
	Writes []string
	// Unrepeatable, when set, says why a second Setup from nothing hands the kind different
	// inputs (an endpoint on a new port, say); the suite then skips comparing their keys.
	Unrepeatable string
	// Config is a zero value of the kind's config type, held field by field
	// against the kind's schema (names and optionality).
	Config any
	// Workflow, when set, is the workflow requests carry, for kinds that read the rest of
	// it (publish); Setup wrote its file under dir. nil: a bare workflow in dir.
	Workflow func(dir string) *schema.Workflow
}

// Run runs the suite as subtests of t.
func Run(t *testing.T, c Case) {
	kind := c.Kind.Kind()
	t.Run("contract", func(t *testing.T) {
		if c.Config == nil {
			t.Fatalf("%s: Case.Config is not set: a kind's config type must be held against its schema", kind)
		}
		diff, err := ConfigMismatches(kind, c.Config)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range diff {
			t.Error(d)
		}
	})

	t.Run("keys", func(t *testing.T) {
		dir, s := fresh(t)
		cfg := c.Setup(t, dir, s)
		k1 := key(t, c, dir, s, cfg)
		if k2 := key(t, c, dir, s, cfg); k2 != k1 {
			t.Fatalf("two keys of one request differ: %s, %s", k1, k2)
		}
		// The same setup again from nothing, in the same folder (outputs may hold workspace
		// paths): registrations and trainings must be reproducible for keys to be.
		if c.Unrepeatable != "" {
			t.Logf("not set up again: %s", c.Unrepeatable)
		} else {
			s, cfg = again(t, c, dir, s, k1)
		}
		if c.Vary == nil {
			return
		}
		c.Vary(t, dir, cfg)
		if k4 := key(t, c, dir, s, cfg); k4 == k1 {
			t.Errorf("a changed input left the key at %s", k1)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		dir, s := fresh(t)
		cfg := c.Setup(t, dir, s)
		tmp := scratchRoot(t)
		before, blobs := snapshot(t, dir), objects(t, dir)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan error, 1)
		go func() {
			_, err := c.Kind.Run(ctx, request(c, dir, s, cfg))
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s ran to success under a cancelled context", kind)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not return within 30 s of a cancelled context", kind)
		}
		if diff := changed(before, snapshot(t, dir), nil); len(diff) > 0 {
			t.Errorf("a cancelled %s changed %v", kind, diff)
		}
		if after := objects(t, dir); !slices.Equal(blobs, after) {
			t.Errorf("a cancelled %s stored blobs: %d before, %d after", kind, len(blobs), len(after))
		}
		strays(t, tmp)
	})

	t.Run("outputs", func(t *testing.T) {
		dir, s := fresh(t)
		cfg := c.Setup(t, dir, s)
		tmp := scratchRoot(t)
		before := snapshot(t, dir)
		outs, err := c.Kind.Run(context.Background(), request(c, dir, s, cfg))
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if diff := changed(before, snapshot(t, dir), c.Writes); len(diff) > 0 {
			t.Errorf("%s wrote outside its output area: %v", kind, diff)
		}
		strays(t, tmp)
		for _, k := range load.Kinds() {
			if k.Kind != kind {
				continue
			}
			for name, typ := range k.Outputs {
				v, ok := outs[name]
				if !ok {
					t.Errorf("%s: no %q output (the schema declares %v)", kind, name, k.Outputs)
					continue
				}
				if err := checkOutput(v, typ); err != nil {
					t.Errorf("%s: output %s is not a %s: %v", kind, name, typ, err)
				}
			}
		}
	})
}

// again sets c up from nothing in dir and checks the key is still k; it returns the new
// workspace and config.
func again(t *testing.T, c Case, dir string, s *store.Store, k string) (*store.Store, map[string]any) {
	s.Close()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, dir)
	cfg := c.Setup(t, dir, s)
	if k2 := key(t, c, dir, s, cfg); k2 != k {
		t.Errorf("equal inputs set up again give another key: %s, %s", k, k2)
	}
	return s, cfg
}

func fresh(t *testing.T) (string, *store.Store) {
	t.Helper()
	dir := t.TempDir()
	return dir, reopen(t, dir)
}

func reopen(t *testing.T, dir string) *store.Store {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(filepath.Join(dir, ".mlflow"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func request(c Case, dir string, s *store.Store, cfg map[string]any) *engine.Request {
	k := c.Kind.Kind()
	wf := &schema.Workflow{Name: "steptest", Dir: dir}
	if c.Workflow != nil {
		wf = c.Workflow(dir)
	}
	return &engine.Request{
		RunID: "steptest", Step: k, Kind: k,
		Workflow: wf,
		Config:   cfg, Store: s, Log: io.Discard, Progress: engine.NopProgress{}, Parallel: 2,
	}
}

func key(t *testing.T, c Case, dir string, s *store.Store, cfg map[string]any) string {
	t.Helper()
	k, err := engine.StepKey(context.Background(), c.Kind, request(c, dir, s, cfg))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// scratchRoot points the process's temporary directory at an empty folder, so strays can
// tell what a run left behind.
func scratchRoot(t *testing.T) string {
	d := t.TempDir()
	t.Setenv("TMPDIR", d)
	return d
}

// strays fails for anything in the scratch root but the engine's own per-step directories
// (Request.TempDir), which the engine removes.
func strays(t *testing.T, root string) {
	t.Helper()
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "step-") {
			t.Errorf("left %s in the temporary directory", e.Name())
		}
	}
}

// snapshot maps every file under dir, outside the workspace, to a digest of its content.
func snapshot(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	m := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if rel == ".mlflow" {
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		m[filepath.ToSlash(rel)] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// changed lists the files added, removed or rewritten between two snapshots, except allowed.
func changed(before, after map[string][32]byte, allowed []string) []string {
	var out []string
	for p, h := range after {
		if b, ok := before[p]; (!ok || b != h) && !slices.Contains(allowed, p) {
			out = append(out, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok && !slices.Contains(allowed, p) {
			out = append(out, p+" (removed)")
		}
	}
	slices.Sort(out)
	return out
}

// objects lists the workspace's blobs.
func objects(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	root := filepath.Join(dir, ".mlflow", "objects")
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, strings.TrimPrefix(p, root))
		}
		return nil
	})
	slices.Sort(out)
	return out
}
