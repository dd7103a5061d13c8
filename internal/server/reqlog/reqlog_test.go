package reqlog

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestFollowAcrossRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "requests.jsonl")
	w, err := Open(path, 600, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	var seen []string
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, path, Size(path), func(e Entry) error {
			mu.Lock()
			seen = append(seen, e.RequestID)
			n := len(seen)
			mu.Unlock()
			if n == 3 {
				cancel()
			}
			return nil
		})
	}()
	// Each entry is ~250 bytes: the third write rotates the file.
	for _, id := range []string{"a", "b", "c"} {
		time.Sleep(300 * time.Millisecond)
		w.Log(Entry{Time: time.Now(), RequestID: id, Method: "POST", Path: "/score", Status: 200, Client: "127.0.0.1:1234", Auth: "ok"})
	}
	<-done
	w.Close()
	w.Log(Entry{RequestID: "late"}) // after Close: dropped, no panic
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 || seen[0] != "a" || seen[2] != "c" {
		t.Errorf("followed %v", seen)
	}
	all, _ := Read(path)
	if len(all) != 3 {
		t.Errorf("read %d entries across rotated files", len(all))
	}
}

func TestSummarize(t *testing.T) {
	var es []Entry
	for i := 1; i <= 100; i++ {
		st := 200
		if i%10 == 0 {
			st = 400
		}
		es = append(es, Entry{Status: st, DurationMS: float64(i), Rows: 2})
	}
	s := Summarize(es)
	if s.Count != 100 || s.Status["200"] != 90 || s.Errors != 10 || s.Rows != 200 || s.P50MS != 50 || s.P99MS != 99 {
		t.Errorf("%+v", s)
	}
}
