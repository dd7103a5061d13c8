package engine

import (
	"context"
	"os"
	"testing"
	"time"
)

// While a step runs and nothing else in the run happens, the stored record (what the web
// UI and `mlflow runs show` read, possibly from another process) shows it running since
// its start, and its log grows at LiveLogPath. The record used to say "pending" until some
// step finished.
func TestRunningStepIsRecorded(t *testing.T) {
	s := openStore(t)
	release, logged := make(chan struct{}), make(chan struct{})
	f := &fake{run: func(ctx context.Context, req *Request) (Outputs, error) {
		req.Logf("first line")
		close(logged)
		select {
		case <-release:
		case <-ctx.Done():
		}
		req.Logf("last line")
		return Outputs{"out": 1}, nil
	}}
	p, err := NewPlan(wf(map[string][]string{"slow": nil}), NewRegistry(f))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	type outcome struct {
		rec *RunRecord
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		rec, err := Run(ctx, p, s, Options{RunID: "live"})
		done <- outcome{rec, err}
	}()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	var got *RunRecord
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got, err = GetRun(ctx, s, "live")
		if err == nil && got.Steps["slow"].State == StateRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the running step is not recorded as running: %+v %v", got, err)
		}
	}
	if got.Status != StateRunning || got.Steps["slow"].Started.IsZero() {
		t.Errorf("record while running: status %s, step started %v", got.Status, got.Steps["slow"].Started)
	}
	<-logged
	live := LiveLogPath(s, "live", "slow")
	if b, err := os.ReadFile(live); err != nil || string(b) != "first line\n" {
		t.Errorf("live log %s: %q, %v", live, b, err)
	}

	close(release)
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	b, err := s.Get(o.rec.Steps["slow"].Log)
	if err != nil || string(b) != "first line\nlast line\n" {
		t.Errorf("log blob %q, %v", b, err)
	}
	if _, err := os.Stat(live); !os.IsNotExist(err) {
		t.Errorf("the live log is left behind after the step: %v", err)
	}
}

// Different runs and steps log to different files.
func TestLiveLogPathDistinct(t *testing.T) {
	s := openStore(t)
	seen := map[string]string{}
	for _, k := range [][2]string{{"r1", "a"}, {"r1", "b"}, {"r2", "a"}, {"r1a", ""}, {"r1", "a\x00"}} {
		p := LiveLogPath(s, k[0], k[1])
		if o, dup := seen[p]; dup {
			t.Errorf("%q and %q share %s", o, k, p)
		}
		seen[p] = k[0] + "/" + k[1]
	}
}
