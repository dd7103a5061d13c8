package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/mlflow-go/mlflow/engine"
)

func cmdRuns() *command {
	var (
		limit int
		logOf string
	)
	return &command{
		name:  "runs",
		usage: "list | show RUN",
		short: "list runs and show one run's steps, outputs and logs",
		sub: []*command{
			{
				name:  "list",
				usage: "[--limit N] [--json]",
				short: "list runs, newest first",
				flags: func(fs *flag.FlagSet, c *cli) {
					fs.IntVar(&limit, "limit", 20, "show at most `N` runs (0 = all)")
				},
				run: func(ctx context.Context, c *cli, args []string) error {
					if len(args) != 0 {
						return usagef("runs list takes no arguments")
					}
					s, err := c.openStore(false)
					if err != nil {
						return err
					}
					defer s.Close()
					runs, err := engine.ListRuns(ctx, s, limit)
					if err != nil {
						return err
					}
					if c.json {
						if runs == nil {
							runs = []*engine.RunRecord{}
						}
						return json.NewEncoder(c.stdout).Encode(runs)
					}
					tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "RUN\tWORKFLOW\tSTATUS\tSTARTED\tDURATION\tSTEPS\tCACHED\tTRIGGER")
					for _, r := range runs {
						cached := 0
						for _, st := range r.Steps {
							if st.Cached {
								cached++
							}
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", r.RunID, clean(r.Workflow), r.Status,
							r.Started.Local().Format("2006-01-02 15:04:05"), fmtDuration(time.Duration(r.DurationMS)*time.Millisecond),
							len(r.Steps), cached, clean(r.Trigger))
					}
					return tw.Flush()
				},
			},
			{
				name:  "show",
				usage: "RUN [--log STEP] [--json]",
				short: "show a run: every step's state, timing, cache, outputs; or one step's log",
				flags: func(fs *flag.FlagSet, c *cli) {
					fs.StringVar(&logOf, "log", "", "print the log of `STEP`")
				},
				run: func(ctx context.Context, c *cli, args []string) error {
					if len(args) != 1 {
						return usagef("runs show needs a run id (see mlflow runs list)")
					}
					s, err := c.openStore(false)
					if err != nil {
						return err
					}
					defer s.Close()
					r, err := engine.GetRun(ctx, s, args[0])
					if errors.Is(err, engine.ErrRunNotFound) {
						return invalidf("no run %q in workspace %s", args[0], s.Root)
					}
					if errors.Is(err, engine.ErrRunAmbiguous) {
						return invalidf("%v: give more of it (see mlflow runs list)", err)
					}
					if err != nil {
						return err
					}
					if logOf != "" {
						st, ok := r.Steps[logOf]
						if !ok {
							return invalidf("run %s has no step %q (steps: %v)", r.RunID, logOf, sortedKeys(r.Steps))
						}
						if st.Log == "" {
							return invalidf("step %s of run %s has no log (state %s)", logOf, r.RunID, st.State)
						}
						b, err := s.Get(st.Log)
						if err != nil {
							return err
						}
						_, err = c.stdout.Write(b)
						return err
					}
					if c.json {
						return json.NewEncoder(c.stdout).Encode(r)
					}
					printRun(c.stdout, r)
					return nil
				},
			},
		},
	}
}

func printRun(w io.Writer, r *engine.RunRecord) {
	fmt.Fprintf(w, "run:      %s\nworkflow: %s (%s)\nstatus:   %s\nstarted:  %s\nduration: %s\ntrigger:  %s\n",
		r.RunID, r.Workflow, r.File, r.Status, r.Started.Local().Format(time.RFC3339),
		fmtDuration(time.Duration(r.DurationMS)*time.Millisecond), r.Trigger)
	if len(r.Params) > 0 {
		js, _ := json.Marshal(r.Params)
		fmt.Fprintf(w, "params:   %s\n", js)
	}
	names := sortedKeys(r.Steps)
	sort.SliceStable(names, func(i, j int) bool {
		a, b := r.Steps[names[i]], r.Steps[names[j]]
		if a.Started.IsZero() != b.Started.IsZero() {
			return !a.Started.IsZero()
		}
		return a.Started.Before(b.Started)
	})
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tKIND\tSTATE\tCACHED\tSTARTED\tDURATION\tERROR")
	for _, n := range names {
		st := r.Steps[n]
		started := "-"
		if !st.Started.IsZero() {
			started = st.Started.Local().Format("15:04:05.000")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\t%s\n", clean(n), st.Kind, st.State, st.Cached, started,
			fmtDuration(time.Duration(st.DurationMS)*time.Millisecond), clean(truncate(firstLine(st.Error), 60)))
	}
	tw.Flush()
	for _, n := range names {
		st := r.Steps[n]
		if len(st.Outputs) == 0 {
			continue
		}
		js, _ := json.Marshal(st.Outputs)
		fmt.Fprintf(w, "\n%s outputs: %s", n, js)
	}
	fmt.Fprintln(w)
}
