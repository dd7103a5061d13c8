package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mlflow-go/mlflow/internal/store"
)

// ErrNotRunning means no server is running for the workspace.
var ErrNotRunning = errors.New("no mlflow server is running for this workspace")

func readInfo(s *store.Store) (*Info, error) {
	b, err := os.ReadFile(infoPath(s))
	if err != nil {
		return nil, err
	}
	var in Info
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, err
	}
	return &in, nil
}

var probe = &http.Client{Timeout: 2 * time.Second}

// Find returns the workspace's running server: its info file names a live
// process that answers /livez. A stale file (crashed server) is removed.
func Find(ctx context.Context, s *store.Store) (*Info, error) {
	in, err := readInfo(s)
	if err != nil {
		return nil, ErrNotRunning
	}
	if in.PID <= 0 || syscall.Kill(in.PID, 0) != nil {
		os.Remove(infoPath(s))
		return nil, ErrNotRunning
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", in.URL+"/livez", nil)
	resp, err := probe.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w (pid %d does not answer on %s: %v)", ErrNotRunning, in.PID, in.Addr, err)
	}
	resp.Body.Close()
	return in, nil
}

// DefaultAddr is where the server listens unless MLFLOW_SERVER_ADDR says otherwise.
const DefaultAddr = "127.0.0.1:5000"

// Addr is the address the workspace server listens on: MLFLOW_SERVER_ADDR, else
// DefaultAddr. Deploy's background start and `mlflow server` both use it, so a server
// started either way is where the other looks.
func Addr() string {
	if a := os.Getenv("MLFLOW_SERVER_ADDR"); a != "" {
		return a
	}
	return DefaultAddr
}

// serverLogMax is the size past which a starting server's log is rotated.
const serverLogMax = 8 << 20

// Ensure returns the running server, starting one in the background when
// there is none: this executable, detached in its own session so it
// outlives the command that started it, logging to server/server.log.
// Concurrent calls, in one process or many, start at most one server: the
// find-or-start runs under a lock in the workspace.
func Ensure(ctx context.Context, s *store.Store) (*Info, error) {
	return ensure(ctx, s, serverCommand)
}

// serverCommand is the command Ensure starts: `mlflow server` on the workspace.
func serverCommand(s *store.Store, addr string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return exec.Command(self, "--workspace", s.Root, "server", "--addr", addr, "--fallback-addr", "127.0.0.1:0"), nil
}

func ensure(ctx context.Context, s *store.Store, command func(*store.Store, string) (*exec.Cmd, error)) (*Info, error) {
	if in, err := Find(ctx, s); err == nil {
		return in, nil
	}
	release, err := lockStart(ctx, s)
	if err != nil {
		return nil, err
	}
	defer release()
	// Whoever held the lock before us may have started it.
	if in, err := Find(ctx, s); err == nil {
		return in, nil
	}
	logPath := filepath.Join(s.Root, "server", "server.log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	// The server logs starts, deploys and errors (requests go to each endpoint's own
	// rotated log), so rotating once per start bounds it: one old file is kept.
	if st, err := os.Stat(logPath); err == nil && st.Size() > serverLogMax {
		os.Rename(logPath, logPath+".1")
	}
	lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	spawn := func() (*exec.Cmd, chan error, error) {
		cmd, err := command(s, Addr())
		if err != nil {
			return nil, nil, fmt.Errorf("start server: %w", err)
		}
		cmd.Stdout, cmd.Stderr = lf, lf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			return nil, nil, fmt.Errorf("start server: %w", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		return cmd, exited, nil
	}
	cmd, exited, err := spawn()
	if err != nil {
		return nil, err
	}
	// A server that finds the workspace already served exits 0: one started by hand
	// (`mlflow server`) got there first and we wait for it, or one that was stopping still
	// held the workspace and we start ours again once it has let go.
	ours := true
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			if err != nil {
				return nil, fmt.Errorf("the server exited at start (%v); see %s", err, logPath)
			}
			ours, exited = false, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if in, err := Find(ctx, s); err == nil && (!ours || in.PID == cmd.Process.Pid) {
			return in, nil
		}
		if !ours && ownerFree(s) {
			if cmd, exited, err = spawn(); err != nil {
				return nil, err
			}
			ours = true
		}
	}
	return nil, fmt.Errorf("the server did not become ready in 20s; see %s", logPath)
}

// Admin calls an admin route of the running server and decodes its JSON
// answer into out (may be nil).
func Admin(ctx context.Context, s *store.Store, in *Info, method, path string, out any) error {
	tok, err := AdminToken(s)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, in.URL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	c := &http.Client{Timeout: 5 * time.Minute}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("server %s: %w", in.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("server %s%s: %s: %s", in.URL, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Reload tells the running server (if any) to re-read endpoint name.
// With no server running there is nothing to tell: the next start reads
// the database.
func Reload(ctx context.Context, s *store.Store, name string) error {
	in, err := Find(ctx, s)
	if err != nil {
		return nil
	}
	return Admin(ctx, s, in, "POST", "/admin/endpoints/"+name+"/reload", nil)
}

// Stop asks the running server to shut down and waits for it to go.
func Stop(ctx context.Context, s *store.Store) (*Info, error) {
	in, err := Find(ctx, s)
	if err != nil {
		return nil, err
	}
	if err := Admin(ctx, s, in, "POST", "/admin/shutdown", nil); err != nil {
		// The admin API is the polite way; a signal does the same.
		if kerr := syscall.Kill(in.PID, syscall.SIGTERM); kerr != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		// The server removes its info file as its last act; a parent that
		// has not reaped it yet may still see the pid.
		if syscall.Kill(in.PID, 0) != nil {
			return in, nil
		}
		if cur, err := readInfo(s); err != nil || cur.PID != in.PID {
			return in, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return in, fmt.Errorf("server pid %d did not stop in 15s", in.PID)
}

// EndpointURL is the base URL of endpoint name on the server.
func (in *Info) EndpointURL(name string) string { return in.URL + "/endpoints/" + name }
