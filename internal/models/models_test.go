package models

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mlflow-go/mlflow/internal/ml/linear"
	"github.com/mlflow-go/mlflow/internal/ml/model"
	"github.com/mlflow-go/mlflow/internal/store"
)

// artifact is a tiny valid model: one linear member over one numeric input.
func artifact(t *testing.T, bias float64) []byte {
	t.Helper()
	lm := &linear.Model{Task: linear.Binary, Classes: 2, Slots: 1,
		Features: []linear.Feature{{Name: "x", Base: 0, Num: &linear.Numeric{Mean: 0, Std: 1, Median: 0, Missing: -1}}},
		W:        [][]float64{{1}}, B: []float64{bias}}
	m, err := model.New(model.Artifact{
		Format: model.Format, Version: model.FormatVersion, Name: "m", Task: model.Classification,
		Classes: []string{"no", "yes"}, Inputs: []model.Input{{Name: "x", Type: "number"}},
		Members: []model.Member{{Algorithm: "Linear", Weight: 1, Linear: []*linear.Model{lm}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRegisterVersionsAndResolve(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a1, a2 := artifact(t, 0), artifact(t, 1)
	r1, err := Register(ctx, s, "bank", a1, Meta{Task: model.Classification, Algorithm: "Linear"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := Register(ctx, s, "bank", a1, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Register(ctx, s, "bank", a2, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if r1.Version != 1 || again.Version != 1 || r2.Version != 2 {
		t.Errorf("versions %d, %d (same bytes), %d; want 1, 1, 2", r1.Version, again.Version, r2.Version)
	}
	if r1.Digest != store.Digest(a1) {
		t.Errorf("digest %s, want the artifact's", r1.Digest)
	}
	all, _ := List(ctx, s, "")
	if len(all) != 2 {
		t.Errorf("List: %d records, want 2", len(all))
	}
	for ref, want := range map[string]int{"bank": 2, "bank:1": 1} {
		m, rec, err := Resolve(ctx, s, ref)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Version != want || m.Version() != want || m.Name() != "bank" {
			t.Errorf("%s: record %d, model %s:%d; want version %d", ref, rec.Version, m.Name(), m.Version(), want)
		}
	}
	if _, _, err := Resolve(ctx, s, "bank:3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bank:3: %v, want not found", err)
	}
	if _, _, err := Resolve(ctx, s, "bank:x"); err == nil {
		t.Error("bank:x resolved")
	}
	// A file path loads the file, with no registry.
	p := filepath.Join(t.TempDir(), "model.json")
	os.WriteFile(p, a2, 0o644)
	m, rec, err := Resolve(ctx, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Digest != r2.Digest || m.Version() != 0 {
		t.Errorf("file: digest %s version %d", rec.Digest, m.Version())
	}
	if _, err := Register(ctx, s, "bad name", a1, Meta{}); err == nil {
		t.Error("registered an invalid name")
	}
}

func TestDecodeRejectsOtherVersions(t *testing.T) {
	if _, err := model.Decode([]byte(`{"format":"mlflow-automl","version":99}`)); err == nil {
		t.Error("decoded format version 99")
	}
	if _, err := model.Decode([]byte(`{"format":"onnx","version":1}`)); err == nil {
		t.Error("decoded a foreign format")
	}
}
