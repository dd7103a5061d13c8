package datasets

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/internal/tabular"
)

func frame(t testing.TB, csv string) *tabular.Frame {
	t.Helper()
	f, err := tabular.ReadCSV(context.Background(), strings.NewReader(csv), tabular.ReadOptions{Name: "t.csv", Target: "y"})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func openStore(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRegisterVersions(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	a := frame(t, "x,y\n1,no\n2,yes\n")
	b := frame(t, "x,y\n1,no\n3,yes\n")

	d1, created, err := Register(ctx, s, a, Registration{Name: "bank", Source: "a.csv"})
	if err != nil || !created || d1.Version != 1 || d1.Rows != 2 || d1.Columns != 2 || d1.Target != "y" {
		t.Fatalf("first: %+v %v %v", d1, created, err)
	}
	// Same content: same version, nothing new.
	again, created, err := Register(ctx, s, frame(t, "x,y\n1,no\n2,yes\n"), Registration{Name: "bank", Source: "copy.csv"})
	if err != nil || created || again.Version != 1 || again.Digest != d1.Digest || again.Source != "a.csv" {
		t.Fatalf("again: %+v %v %v", again, created, err)
	}
	d2, created, err := Register(ctx, s, b, Registration{Name: "bank"})
	if err != nil || !created || d2.Version != 2 || d2.Digest == d1.Digest {
		t.Fatalf("second: %+v %v %v", d2, created, err)
	}
	// Old content again: its old version.
	if d, _, _ := Register(ctx, s, a, Registration{Name: "bank"}); d.Version != 1 {
		t.Fatalf("old content: version %d", d.Version)
	}
	// Other names count on their own.
	if d, _, _ := Register(ctx, s, b, Registration{Name: "other"}); d.Version != 1 {
		t.Fatalf("other: version %d", d.Version)
	}

	latest, err := Get(ctx, s, "bank", 0)
	if err != nil || latest.Version != 2 || latest.Profile == nil || latest.Profile.Rows != 2 || len(latest.Profile.ClassBalance) != 2 {
		t.Fatalf("latest: %+v %v", latest, err)
	}
	if time.Since(latest.Created) > time.Minute {
		t.Errorf("created %v", latest.Created)
	}
	if _, err := Get(ctx, s, "bank", 3); !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "bank:3") {
		t.Errorf("missing version: %v", err)
	}
	if _, err := Get(ctx, s, "nope", 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing name: %v", err)
	}
	all, err := List(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, d := range all {
		refs = append(refs, d.Ref())
	}
	if got := strings.Join(refs, " "); got != "bank:1 bank:2 other:1" {
		t.Errorf("list: %s", got)
	}

	f, err := LoadFrame(s, d2.Digest)
	if err != nil || f.Rows != 2 || f.Col("x").Num[1] != 3 || f.Target != "y" {
		t.Fatalf("load: %+v %v", f, err)
	}
}

func TestRegisterPinnedVersion(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	a := frame(t, "x,y\n1,no\n2,yes\n")
	b := frame(t, "x,y\n1,no\n3,yes\n")
	if d, created, err := Register(ctx, s, a, Registration{Name: "p", Version: 5}); err != nil || !created || d.Version != 5 {
		t.Fatalf("%+v %v", d, err)
	}
	if d, created, err := Register(ctx, s, a, Registration{Name: "p", Version: 5}); err != nil || created || d.Version != 5 {
		t.Fatalf("same pin: %+v %v", d, err)
	}
	_, _, err := Register(ctx, s, b, Registration{Name: "p", Version: 5})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "p:5") {
		t.Fatalf("conflict: %v", err)
	}
	// The failed registration changed nothing.
	if d, err := Get(ctx, s, "p", 0); err != nil || d.Version != 5 || d.Digest == "" {
		t.Fatalf("after conflict: %+v %v", d, err)
	}
	if d, _, _ := Register(ctx, s, b, Registration{Name: "p"}); d.Version != 6 {
		t.Fatalf("next after pin: %d", d.Version)
	}
}

// Concurrent registrations of new content never share a version number.
func TestRegisterConcurrent(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	var wg sync.WaitGroup
	versions := make([]int, 6)
	for i := range versions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, _, err := Register(ctx, s, frame(t, "x,y\n1,no\n"+strings.Repeat("2,yes\n", i+1)), Registration{Name: "c"})
			if err != nil {
				t.Error(err)
				return
			}
			versions[i] = d.Version
		}()
	}
	wg.Wait()
	seen := map[int]bool{}
	for _, v := range versions {
		if seen[v] || v < 1 || v > 6 {
			t.Fatalf("versions %v", versions)
		}
		seen[v] = true
	}
}

func TestBadNames(t *testing.T) {
	s := openStore(t)
	for _, n := range []string{"", "-x", "a b", "a:1", strings.Repeat("a", 256)} {
		if _, _, err := Register(context.Background(), s, frame(t, "x,y\n1,a\n2,b\n"), Registration{Name: n}); err == nil {
			t.Errorf("name %q accepted", n)
		}
	}
}

func TestParseRef(t *testing.T) {
	for in, want := range map[string]struct {
		name string
		v    int
		ok   bool
	}{
		"bank": {"bank", 0, true}, "bank:3": {"bank", 3, true}, "bank:0": {}, "bank:x": {}, ":1": {}, "bank:-1": {},
	} {
		n, v, err := ParseRef(in)
		if (err == nil) != want.ok || n != want.name || v != want.v {
			t.Errorf("ParseRef(%q) = %q, %d, %v", in, n, v, err)
		}
	}
}

func TestLoadFrameCorrupt(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	d, _, err := Register(ctx, s, frame(t, "x,y\n1,no\n2,yes\n"), Registration{Name: "z"})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.BlobPath(d.Digest)
	b, _ := os.ReadFile(p)
	// Same length and still decodable, different value: only the hash tells.
	b[len(b)-20] ^= 0x40
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFrame(s, d.Digest); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt blob: %v", err)
	}
	if _, err := LoadFrame(s, "sha256:"+strings.Repeat("0", 64)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing blob: %v", err)
	}
}

func BenchmarkLoadFrameBank(b *testing.B) {
	s := openStore(b)
	f, err := tabular.ReadFile(context.Background(), "../../examples/bankmarketing/data/bankmarketing_train.csv", tabular.ReadOptions{Target: "y"})
	if err != nil {
		b.Fatal(err)
	}
	d, _, err := Register(context.Background(), s, f, Registration{Name: "bank"})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(d.Size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadFrame(s, d.Digest); err != nil {
			b.Fatal(err)
		}
	}
}
