package reqlog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
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

// TestAppendMatchesEncodingJSON: the hand-written line is what
// encoding/json writes for the same entry.
func TestAppendMatchesEncodingJSON(t *testing.T) {
	for _, e := range []Entry{
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), RequestID: "id", Method: "POST", Path: "/score", Protocol: "azure", Status: 200, DurationMS: 0.0123, Rows: 2, BytesIn: 10, BytesOut: 24, Client: "127.0.0.1:5", Auth: "ok"},
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), Status: 400, DurationMS: 12, Error: "record 0, column \"a<b>&\": want\n\ttab \u2028 \x01 \xff é"},
	} {
		want, _ := json.Marshal(&e)
		if got := Append(nil, &e); string(got) != string(want)+"\n" {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}

// Concurrent loggers, a small rotation size and a Close racing the last of them: every entry
// logged before Close is in some file, in per-goroutine order, no file passes the limit, and a
// Log during or after Close neither panics nor blocks.
func TestConcurrentLogRotateClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "requests.jsonl")
	const limit = 4096
	w, err := Open(path, limit, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 200
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				w.Log(Entry{Time: time.Now(), RequestID: fmt.Sprintf("%d-%d", g, i), Method: "POST", Path: "/score", Status: 200, Auth: "ok"})
			}
		}()
	}
	wg.Wait()
	late := make(chan struct{})
	go func() {
		defer close(late)
		for range 100 {
			w.Log(Entry{RequestID: "late"})
		}
	}()
	w.Close()
	<-late
	var all []Entry
	for _, f := range Files(path, 1000) { // oldest first
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			var e Entry
			if err := json.Unmarshal(line, &e); err != nil {
				t.Fatalf("%s: %v: %q", f, err, line)
			}
			all = append(all, e)
		}
	}
	next := make([]int, writers)
	for _, e := range all {
		if e.RequestID == "late" {
			continue
		}
		var g, i int
		fmt.Sscanf(e.RequestID, "%d-%d", &g, &i)
		if i != next[g] {
			t.Fatalf("writer %d: entry %d after %d", g, i, next[g]-1)
		}
		next[g]++
	}
	for g, n := range next {
		if n != each {
			t.Errorf("writer %d: %d of %d entries on disk", g, n, each)
		}
	}
	files, _ := filepath.Glob(path + "*")
	if len(files) < 5 {
		t.Errorf("%d files: the log did not rotate", len(files))
	}
	for _, f := range files {
		if st, _ := os.Stat(f); st.Size() > limit {
			t.Errorf("%s: %d bytes, limit %d", f, st.Size(), limit)
		}
	}
}

func entry(i int) Entry {
	return Entry{Time: time.Date(2026, 12, 1, 10, 0, i, 0, time.UTC), RequestID: fmt.Sprintf("r%d", i), Method: "POST", Path: "/score", Status: 200, Auth: "ok"}
}

// TestWriteErrorsAreCounted: lines the disk refuses are counted (the
// mlflow_serve_request_log_dropped_total metric), not lost silently.
func TestWriteErrorsAreCounted(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	var calls atomic.Int64
	w, err := Open("/dev/full", 0, 0, func() { calls.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		w.Log(entry(i))
	}
	w.Close()
	if w.Dropped() != 5 || calls.Load() != 5 {
		t.Errorf("5 lines to a full disk: Dropped %d, onDrop called %d times; want 5 and 5", w.Dropped(), calls.Load())
	}
}

// TestShortWriteLeavesWholeLines: a write cut short (here by the file size limit, as a full
// disk would) leaves the file ending in a whole line, with the cut lines counted.
func TestShortWriteLeavesWholeLines(t *testing.T) {
	line := len(Append(nil, &Entry{Time: entry(0).Time, RequestID: "r0", Method: "POST", Path: "/score", Status: 200, Auth: "ok"}))
	path := filepath.Join(t.TempDir(), "requests.jsonl")
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Skip(err)
	}
	signal.Ignore(syscall.SIGXFSZ) // the write then fails with EFBIG instead of killing us
	defer signal.Reset(syscall.SIGXFSZ)
	limit := syscall.Rlimit{Cur: uint64(2*line + line/2), Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Skip(err)
	}
	w, err := Open(path, 0, 0, nil)
	if err != nil {
		syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
		t.Fatal(err)
	}
	for i := range 5 {
		w.Log(entry(i))
	}
	w.Close()
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Errorf("the log ends in a torn line: %q", b[bytes.LastIndexByte(b, '\n')+1:])
	}
	es, _ := Read(path)
	if got := int64(len(es)) + w.Dropped(); got != 5 || len(es) != bytes.Count(b, []byte{'\n'}) {
		t.Errorf("%d lines on disk (%d bytes, %d newlines) + %d dropped, want 5 in all, every line whole", len(es), len(b), bytes.Count(b, []byte{'\n'}), w.Dropped())
	}
	if w.Dropped() == 0 {
		t.Errorf("nothing dropped, but the limit (%d bytes) holds fewer than 5 lines of %d bytes", limit.Cur, line)
	}
}
