package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/schema/load"
	"github.com/mlflow-go/mlflow/steps"
)

type runFlags struct {
	params   paramFlags
	parallel int
	failFast bool
	noCache  bool
	azure    azureFlags
}

func (f *runFlags) register(fs *flag.FlagSet) {
	f.params = paramFlags{}
	fs.Var(f.params, "p", "set a workflow parameter `name=value` (repeatable)")
	fs.IntVar(&f.parallel, "parallel", runtime.NumCPU(), "run at most `N` steps at once")
	fs.BoolVar(&f.failFast, "fail-fast", false, "cancel the run on the first failed step")
	fs.BoolVar(&f.noCache, "no-cache", false, "run every step, ignoring the cache")
	f.azure.register(fs, true)
}

func cmdRun() *command {
	var f runFlags
	return &command{
		name:  "run",
		usage: "FILE [-p name=value]... [--parallel N] [--fail-fast] [--no-cache] [--json] [--target azureml [--dry-run]]",
		short: "validate, plan and run a workflow",
		long: `Runs a workflow (.cue, .yaml or .json). Steps whose inputs did not change
are restored from the cache. Exit status 1 when a step failed, 2 when the
workflow is invalid. --json prints one JSON event per line and, last, the
run record. MLFLOW_DEBUG=cachehash prints what every cache key hashes.
--target azureml runs the steps on Azure Machine Learning (docs/azureml.md);
with --dry-run it prints the requests it would send and sends none.`,
		flags: func(fs *flag.FlagSet, c *cli) { f.register(fs) },
		run: func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 1 {
				return usagef("run needs exactly one workflow file")
			}
			if f.parallel < 1 {
				return usagef("--parallel must be at least 1")
			}
			return c.runWorkflow(ctx, args[0], &f)
		},
	}
}

func (c *cli) loadPlan(file string, params paramFlags) (*engine.Plan, error) {
	wf, err := load.File(file, load.Options{Params: params})
	if err != nil {
		return nil, err
	}
	return engine.NewPlan(wf, engine.NewRegistry(steps.All()...))
}

func (c *cli) runWorkflow(ctx context.Context, file string, f *runFlags) error {
	p, err := c.loadTargetPlan(file, f.params, &f.azure)
	if err != nil {
		return err
	}
	if f.azure.dryRun {
		return c.dryRun(ctx, p, &f.azure)
	}
	s, err := c.workflowStore(p.Workflow)
	if err != nil {
		return err
	}
	defer s.Close()
	out := newRunOutput(c, p)
	opts := engine.Options{
		Parallel: f.parallel,
		FailFast: f.failFast,
		NoCache:  f.noCache,
		OnEvent:  out.event,
	}
	if os.Getenv("MLFLOW_DEBUG") == "cachehash" {
		opts.KeyDebug = c.stderr
	}
	rec, err := engine.Run(ctx, p, s, opts)
	out.finish(rec)
	if rec != nil && !c.json {
		printSummary(c.stdout, p, rec, s.Root)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, engine.ErrCancelled):
		return &errPrinted{code: 1}
	case errors.Is(err, engine.ErrStepFailed):
		if c.json {
			return &errPrinted{code: 1}
		}
		var failed []string
		for _, name := range p.Order {
			if st := rec.Steps[name]; st.State == engine.StateFailed {
				failed = append(failed, fmt.Sprintf("  step %s: %s", name, st.Error))
			}
		}
		fmt.Fprintf(c.stderr, "mlflow: run %s failed:\n", rec.RunID)
		for _, l := range failed {
			fmt.Fprintln(c.stderr, l)
		}
		fmt.Fprintf(c.stderr, "logs: mlflow runs show %s --log STEP\n", rec.RunID)
		return &errPrinted{code: 1}
	default:
		return err
	}
}
