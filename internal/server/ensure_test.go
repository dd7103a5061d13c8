package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mlflow-go/mlflow/internal/store"
)

// childEnv, when set, makes the test binary a workspace server on that workspace: the
// server Ensure starts in TestEnsureConcurrent.
const childEnv = "MLFLOW_SERVER_TEST_CHILD"

func TestMain(m *testing.M) {
	if ws := os.Getenv(childEnv); ws != "" {
		os.Exit(runChild(ws))
	}
	os.Exit(m.Run())
}

// runChild is what `mlflow server` does, without the CLI: a server that finds the
// workspace served exits 0.
func runChild(ws string) int {
	s, err := store.Open(ws)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	srv, err := New(s, Options{Addr: os.Getenv("MLFLOW_SERVER_ADDR"), FallbackAddr: "127.0.0.1:0"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err = srv.Run(ctx)
	if errors.Is(err, ErrServed) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestEnsureConcurrent: six deploys that find no server and call Ensure at once leave one
// server process, and all six get it.
func TestEnsureConcurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	ws := t.TempDir()
	s, err := store.Open(ws)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Setenv("MLFLOW_SERVER_ADDR", freeAddr(t))

	kids := startChildren(t)
	command := kids.command
	mu, started := &kids.mu, &kids.cmds
	const n = 6
	infos := make([]*Info, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	begin := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-begin
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			infos[i], errs[i] = ensure(ctx, s, command)
		}()
	}
	close(begin)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("deploy %d: %v", i, err)
		}
	}
	if t.Failed() {
		return
	}
	for i, in := range infos {
		if in.PID != infos[0].PID || in.URL != infos[0].URL {
			t.Errorf("deploy %d got server pid %d on %s, deploy 0 got pid %d on %s", i, in.PID, in.URL, infos[0].PID, infos[0].URL)
		}
	}
	// Count the servers still alive a moment later (a loser that exits is fine).
	time.Sleep(300 * time.Millisecond)
	alive := 0
	mu.Lock()
	for _, c := range *started {
		if syscall.Kill(c.Process.Pid, 0) == nil { // ensure reaps the ones that exit
			alive++
		}
	}
	total := len(*started)
	mu.Unlock()
	if alive != 1 {
		t.Errorf("%d server processes alive after %d concurrent deploys (%d started), want 1", alive, n, total)
	}
	if in, err := Find(context.Background(), s); err != nil || in.PID != infos[0].PID {
		t.Errorf("Find after the deploys: %v, %v; want pid %d", in, err, infos[0].PID)
	}
	t.Logf("%d deploys, %d server processes started, 1 alive (pid %d)", n, total, infos[0].PID)
}

// children starts workspace servers as Ensure does, as this test binary (see TestMain), and
// stops them when the test ends.
type children struct {
	mu   sync.Mutex
	cmds []*exec.Cmd
}

func startChildren(t *testing.T) *children {
	k := &children{}
	t.Cleanup(func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		for _, c := range k.cmds {
			if c.Process != nil {
				c.Process.Signal(syscall.SIGTERM)
			}
		}
		// ensure reaps its children in goroutines; wait for the pids to go.
		deadline := time.Now().Add(10 * time.Second)
		for _, c := range k.cmds {
			for c.Process != nil && syscall.Kill(c.Process.Pid, 0) == nil && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	return k
}

func (k *children) command(s *store.Store, addr string) (*exec.Cmd, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+s.Root, "MLFLOW_SERVER_ADDR="+addr)
	k.mu.Lock()
	k.cmds = append(k.cmds, cmd)
	k.mu.Unlock()
	return cmd, nil
}

// TestEnsureWhileOwnerStops: a deploy right after `mlflow server stop`, while the old server
// still holds the workspace for its last requests, gets a new server once the old one lets
// go (its first start defers to the old owner and exits).
func TestEnsureWhileOwnerStops(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Setenv("MLFLOW_SERVER_ADDR", freeAddr(t))
	old, err := flock(ownerLockPath(s))
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(500*time.Millisecond, func() { old.Close() })
	kids := startChildren(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	in, err := ensure(ctx, s, kids.command)
	if err != nil {
		t.Fatal(err)
	}
	kids.mu.Lock()
	n := len(kids.cmds)
	last := kids.cmds[n-1].Process.Pid
	kids.mu.Unlock()
	if n < 2 || in.PID != last {
		t.Errorf("ensure got pid %d after %d starts (last pid %d), want the second start's server", in.PID, n, last)
	}
}
