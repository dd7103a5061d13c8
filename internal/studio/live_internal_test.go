package studio

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlflow-go/mlflow/internal/tabular"
)

func TestTailFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	if got, err := tailFile(p, 0, 100); err != nil || got.text != "" || got.end != 0 {
		t.Fatalf("a log not written yet: %+v, %v", got, err)
	}
	write := func(s string) {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(s)
		f.Close()
	}
	write("one\n")
	got, err := tailFile(p, 0, 100)
	if err != nil || got.text != "one\n" || got.end != 4 || got.truncated {
		t.Fatalf("first read: %+v, %v", got, err)
	}
	// "é" is two bytes; only its first is written yet: it waits for the next read.
	write("two \xc3")
	got, _ = tailFile(p, 4, 100)
	if got.text != "two " || got.end != 8 {
		t.Fatalf("half a character: %+v", got)
	}
	write("\xa9\n")
	got, _ = tailFile(p, got.end, 100)
	if got.text != "é\n" || got.end != 11 {
		t.Fatalf("the character completed: %+v", got)
	}
	// More than max since the last read: the newest bytes, cut on a character.
	write(strings.Repeat("x", 50) + "ééé")
	got, _ = tailFile(p, 11, 5)
	if got.text != "éé" || !got.truncated || got.end != 11+56 {
		t.Fatalf("truncated read: %+v", got)
	}
	// An offset past the end: the log restarted.
	os.WriteFile(p, []byte("new\n"), 0o600)
	got, _ = tailFile(p, 67, 100)
	if got.text != "new\n" || !got.reset || got.end != 4 {
		t.Fatalf("restarted log: %+v", got)
	}
}

func TestCompareProfiles(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	a := &tabular.Profile{Rows: 100, Columns: []tabular.ColumnProfile{
		{Name: "age", Type: "numeric", Missing: 0, Mean: f(40), Std: f(10)},
		{Name: "job", Type: "categorical", Missing: 10, Top: []tabular.ValueCount{{Value: "admin", Count: 30}}},
		{Name: "gone", Type: "numeric"},
	}}
	b := &tabular.Profile{Rows: 200, Columns: []tabular.ColumnProfile{
		{Name: "age", Type: "numeric", Missing: 20, Mean: f(45), Std: f(10)},
		{Name: "job", Type: "categorical", Missing: 20, Top: []tabular.ValueCount{{Value: "blue-collar", Count: 60}}},
		{Name: "new", Type: "categorical"},
	}}
	got := compareProfiles(a, b)
	names := []string{}
	for _, c := range got {
		names = append(names, c.Name)
	}
	if strings.Join(names, " ") != "age job gone new" {
		t.Fatalf("columns %v: want A's order, then B's new ones", names)
	}
	age, job, gone, added := got[0], got[1], got[2], got[3]
	if age.MeanDelta == nil || *age.MeanDelta != 0.5 || age.MissingDelta == nil || *age.MissingDelta != 10 || age.TopChanged {
		t.Errorf("age: %+v", age)
	}
	if job.MissingDelta == nil || *job.MissingDelta != 0 || !job.TopChanged || job.MeanDelta != nil {
		t.Errorf("job: %+v", job)
	}
	if gone.B != nil || added.A != nil || gone.MissingDelta != nil {
		t.Errorf("removed and added columns: %+v %+v", gone, added)
	}
	if c := compareProfiles(nil, b); len(c) != 3 || c[0].A != nil {
		t.Errorf("no profile on one side: %+v", c)
	}
	if c := compareProfiles(nil, nil); c == nil {
		t.Error("no profile on either side: nil (null in JSON, which the page cannot list)")
	}
}
