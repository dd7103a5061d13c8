package endpoints_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/store"
)

func TestRecordsAndKeys(t *testing.T) {
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := endpoints.Get(ctx, s, "bank"); !errors.Is(err, endpoints.ErrNotFound) {
		t.Fatalf("missing endpoint: %v", err)
	}
	e := &endpoints.Endpoint{Name: "bank", Model: endpoints.ModelRef{Name: "bank", Version: 2, Digest: "sha256:aa"}, Auth: "key", ClassicResponse: "string"}
	if err := endpoints.Put(ctx, s, e); err != nil {
		t.Fatal(err)
	}
	got, err := endpoints.Get(ctx, s, "bank")
	if err != nil || got.Model.Ref() != "bank:2" || got.State != endpoints.Running {
		t.Fatalf("%+v %v", got, err)
	}
	d := got.ConfigDigest()
	got.Description, got.Tags = "new words", map[string]string{"a": "b"}
	if got.ConfigDigest() != d {
		t.Error("description changed the config digest")
	}
	got.Auth = "none"
	if got.ConfigDigest() == d {
		t.Error("auth did not change the config digest")
	}
	if _, err := endpoints.SetState(ctx, s, "bank", endpoints.Stopped); err != nil {
		t.Fatal(err)
	}
	if l, _ := endpoints.List(ctx, s); len(l) != 1 || l[0].State != endpoints.Stopped {
		t.Errorf("list: %v", l)
	}
	if err := endpoints.Put(ctx, s, &endpoints.Endpoint{Name: "../x"}); err == nil {
		t.Error("bad name accepted")
	}

	k, err := endpoints.EnsureKeys(s, "bank")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{k.Primary, k.Secondary} {
		if b, err := base64.RawURLEncoding.DecodeString(key); err != nil || len(b) != 32 {
			t.Errorf("key %q is not 32 base64url bytes", key)
		}
	}
	if k.Primary == k.Secondary {
		t.Error("equal keys")
	}
	st, _ := os.Stat(filepath.Join(endpoints.Dir(s, "bank"), "keys.json"))
	if st.Mode().Perm() != 0o600 {
		t.Errorf("keys file mode %o", st.Mode().Perm())
	}
	k2, _ := endpoints.EnsureKeys(s, "bank")
	if k2 != k {
		t.Error("EnsureKeys changed existing keys")
	}
	k3, err := endpoints.Regenerate(s, "bank", "secondary")
	if err != nil || k3.Primary != k.Primary || k3.Secondary == k.Secondary {
		t.Errorf("regenerate secondary: %+v %v", k3, err)
	}
	os.Chmod(filepath.Join(endpoints.Dir(s, "bank"), "keys.json"), 0o644)
	if _, err := endpoints.ReadKeys(s, "bank"); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("world-readable keys: %v", err)
	}
}

// TestKeysStayInWorkspace: a name that climbs out of the workspace reads and writes nothing
// there.
func TestKeysStayInWorkspace(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(filepath.Join(dir, "ws", ".mlflow"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	victim := filepath.Join(dir, "ws", "victim")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := []byte(`{"primary": "victim-primary", "secondary": "victim-secondary"}`)
	if err := os.WriteFile(filepath.Join(victim, "keys.json"), secret, 0o600); err != nil {
		t.Fatal(err)
	}
	const name = "../../victim"
	if k, err := endpoints.ReadKeys(s, name); err == nil || !strings.Contains(err.Error(), `endpoint name "../../victim"`) {
		t.Errorf("ReadKeys(%q) = %+v, %v; want a name error", name, k, err)
	}
	if k, err := endpoints.Regenerate(s, name, "primary"); err == nil || !strings.Contains(err.Error(), `endpoint name "../../victim"`) {
		t.Errorf("Regenerate(%q) = %+v, %v; want a name error", name, k, err)
	}
	if b, _ := os.ReadFile(filepath.Join(victim, "keys.json")); string(b) != string(secret) {
		t.Errorf("the victim's keys were rewritten: %s", b)
	}
}
