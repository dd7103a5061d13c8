// Package exec is the exec step kind: run a program (argv, no shell) for
// custom work, like an Azure ML command job.
package exec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/artifact"
	"github.com/mlflow-go/mlflow/internal/store"
)

// Config is the exec step's config (schema/load/cue/exec.cue).
type Config struct {
	Command []string          `json:"command"`
	Env     map[string]string `json:"env,omitempty"`
	Dir     string            `json:"dir,omitempty"`
	Inputs  []string          `json:"inputs,omitempty"`
	Outputs []string          `json:"outputs,omitempty"`
	// AllowFailure keeps a non-zero exit from failing the step; the code is
	// still reported in exit_code.
	AllowFailure bool `json:"allow_failure,omitempty"`
	// Environment is for target azureml (an Azure ML environment); a local
	// run uses the machine it runs on.
	Environment string `json:"environment,omitempty"`
}

// Step implements the exec kind.
type Step struct{}

// New returns the exec kind.
func New() *Step { return &Step{} }

func (*Step) Kind() string    { return "exec" }
func (*Step) Version() string { return "1" }

func decode(req *engine.Request) (*Config, error) {
	var c Config
	if err := req.Decode(&c); err != nil {
		return nil, err
	}
	if len(c.Command) == 0 || c.Command[0] == "" {
		return nil, fmt.Errorf("command is empty")
	}
	return &c, nil
}

// dir is where the command runs and where relative inputs and outputs
// resolve: the workflow's folder unless dir says otherwise.
func (c *Config) dir(req *engine.Request) string {
	switch {
	case c.Dir == "":
		return req.Workflow.Dir
	case filepath.IsAbs(c.Dir):
		return c.Dir
	default:
		return filepath.Join(req.Workflow.Dir, c.Dir)
	}
}

func resolve(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// Key adds the digest of every declared input file, so editing one re-runs
// the step even though the config did not change.
func (s *Step) Key(ctx context.Context, req *engine.Request, w io.Writer) error {
	c, err := decode(req)
	if err != nil {
		return err
	}
	dir := c.dir(req)
	for _, in := range c.Inputs {
		d, err := store.FileDigest(ctx, resolve(dir, in))
		if err != nil {
			return fmt.Errorf("input %s: %w", in, err)
		}
		fmt.Fprintf(w, "input %s %s\n", in, d)
	}
	return nil
}

// Run runs the command. Its stdout and stderr go to the step log; declared
// output files are stored as blobs and reported by digest.
func (s *Step) Run(ctx context.Context, req *engine.Request) (engine.Outputs, error) {
	c, err := decode(req)
	if err != nil {
		return nil, err
	}
	dir := c.dir(req)
	for _, in := range c.Inputs {
		if _, err := os.Stat(resolve(dir, in)); err != nil {
			return nil, fmt.Errorf("input %s: %w", in, err)
		}
	}
	cmd := osexec.Command(c.Command[0], c.Command[1:]...)
	cmd.Dir = dir
	cmd.Stdout = req.Log
	cmd.Stderr = req.Log
	cmd.Env = os.Environ()
	keys := make([]string, 0, len(c.Env))
	for k := range c.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+c.Env[k])
	}
	tmp, err := req.TempDir()
	if err != nil {
		return nil, err
	}
	cmd.Env = append(cmd.Env, "MLFLOW_RUN_ID="+req.RunID, "MLFLOW_STEP="+req.Step, "MLFLOW_STEP_TMP="+tmp)
	// Own process group, so a cancel stops the command's children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A run cancelled before the command starts must not start it: the command could write
	// its outputs before the cancellation below is noticed.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Command[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var waitErr error
	select {
	case waitErr = <-done:
	case <-ctx.Done():
		// SIGTERM first so the command can clean up; SIGKILL if it lingers.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		return nil, ctx.Err()
	}
	code := 0
	if waitErr != nil {
		var ee *osexec.ExitError
		if !errors.As(waitErr, &ee) {
			return nil, waitErr
		}
		code = ee.ExitCode()
		if !c.AllowFailure {
			return nil, fmt.Errorf("%s exited with status %d (see the step log: mlflow runs show %s --log %s)", c.Command[0], code, req.RunID, req.Step)
		}
	}
	files := artifact.Files{}
	for _, out := range c.Outputs {
		p := resolve(dir, out)
		f, err := store.OpenRegular(p)
		if errors.Is(err, store.ErrNotRegular) {
			return nil, fmt.Errorf("declared output %s: %w", out, errors.Unwrap(err))
		}
		if err != nil {
			return nil, fmt.Errorf("declared output %s was not written: %w", out, err)
		}
		d, size, err := req.Store.Put(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("store output %s: %w", out, err)
		}
		files[out] = artifact.File{Digest: d, Size: size}
	}
	return engine.Outputs{"exit_code": code, "files": files}, nil
}

// Restore puts cached output files back where the command would have
// written them, when they are missing or differ.
func (s *Step) Restore(ctx context.Context, req *engine.Request, outs engine.Outputs) error {
	c, err := decode(req)
	if err != nil {
		return err
	}
	files, err := artifact.As[artifact.Files](outs["files"])
	if err != nil {
		return fmt.Errorf("cached files output: %w", err)
	}
	dir := c.dir(req)
	for _, out := range c.Outputs {
		d := files[out].Digest
		if d == "" {
			return fmt.Errorf("cached outputs lack %s", out)
		}
		p := resolve(dir, out)
		if cur, err := store.FileDigest(ctx, p); err == nil && cur == d {
			continue
		}
		b, err := req.Store.Get(d)
		if err != nil {
			return err
		}
		if err := store.WriteFileAtomic(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
