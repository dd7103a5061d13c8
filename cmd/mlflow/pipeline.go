package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mlflow-go/mlflow/internal/endpoints"
	"github.com/mlflow-go/mlflow/internal/pipelines"
	"github.com/mlflow-go/mlflow/internal/server"
	"github.com/mlflow-go/mlflow/internal/store"
)

// pipelineArgs checks the command's NAME (and RUN) arguments; NAME becomes a path, so it is
// checked by the registry's rule first.
func pipelineArgs(cmd string, args []string, n int) ([]string, error) {
	if len(args) != n {
		if n == 2 {
			return nil, usagef("pipeline %s needs a pipeline NAME and a RUN id", cmd)
		}
		return nil, usagef("pipeline %s needs one pipeline NAME", cmd)
	}
	if err := pipelines.ValidName(args[0]); err != nil {
		return nil, invalidf("pipeline %s: %v", cmd, err)
	}
	return args, nil
}

// openPipeline checks a subcommand's n arguments, opens the workspace and finds the
// pipeline args[0] (a missing one is exit 2). The caller closes s.
func (c *cli) openPipeline(ctx context.Context, cmd string, args []string, n int) (s *store.Store, p *pipelines.Pipeline, a []string, err error) {
	if a, err = pipelineArgs(cmd, args, n); err != nil {
		return nil, nil, nil, err
	}
	if s, err = c.openStore(false); err != nil {
		return nil, nil, nil, err
	}
	p, err = pipelines.Get(ctx, s, a[0])
	if errors.Is(err, pipelines.ErrNotFound) {
		err = invalidf("%v", err)
	}
	if err != nil {
		s.Close()
		return nil, nil, nil, err
	}
	return s, p, a, nil
}

// pipelineCall sends one request to the server's pipeline API with the pipeline's key and
// decodes the answer into out. A 4xx answer is the caller's mistake (exit 2).
func pipelineCall(ctx context.Context, s *store.Store, in *server.Info, method, name, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, in.PipelineURL(name)+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if k, err := pipelines.ReadKeys(s, name); err == nil {
		req.Header.Set("Authorization", "Bearer "+k.Primary)
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return fmt.Errorf("server %s: %w", in.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Message string }
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		if resp.StatusCode < 500 {
			return invalidf("%s", clean(msg))
		}
		return fmt.Errorf("server %s: %s: %s", in.URL, resp.Status, clean(msg))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func cmdPipeline() *command {
	var regen string
	var wait bool
	params := paramFlags{}
	var limit int
	return &command{
		name:  "pipeline",
		usage: "list | show | keys | trigger | runs | cancel | disable | enable",
		short: "inspect, trigger and manage published pipelines",
		sub: []*command{
			{
				name: "list", short: "list published pipelines",
				run: func(ctx context.Context, c *cli, args []string) error {
					s, err := c.openStore(false)
					if err != nil {
						return err
					}
					defer s.Close()
					ps, err := pipelines.List(ctx, s)
					if err != nil {
						return err
					}
					if ps == nil {
						ps = []*pipelines.Pipeline{}
					}
					if c.json {
						return json.NewEncoder(c.stdout).Encode(ps)
					}
					if len(ps) == 0 {
						fmt.Fprintln(c.stdout, "no pipelines")
						return nil
					}
					tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tVERSION\tSTATE\tAUTH\tSTEPS\tSCHEDULE\tNEXT RUN")
					for _, p := range ps {
						fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", clean(p.Name), p.Version, enabled(p), clean(p.Auth),
							clean(strings.Join(p.Steps, ",")), clean(dash(p.Schedule.String())), nextRun(p))
					}
					return tw.Flush()
				},
			},
			{
				name: "show", usage: "NAME", short: "show one pipeline: steps, params, schedule",
				run: func(ctx context.Context, c *cli, args []string) error {
					s, p, _, err := c.openPipeline(ctx, "show", args, 1)
					if err != nil {
						return err
					}
					defer s.Close()
					uri := "(server not running)"
					if in, err := server.Find(ctx, s); err == nil {
						uri = in.PipelineURL(p.Name) + "/runs"
					}
					if c.json {
						return json.NewEncoder(c.stdout).Encode(server.PipelineInfo{Pipeline: p, TriggerURI: uri})
					}
					tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
					rows := [][2]string{
						{"name", p.Name}, {"version", fmt.Sprint(p.Version)}, {"state", enabled(p)},
						{"workflow", p.Workflow + " (" + p.File + ")"}, {"snapshot", shortDigest(p.Snapshot)},
						{"steps", strings.Join(p.Steps, ", ")}, {"auth", p.Auth}, {"concurrency", p.Concurrency},
						{"schedule", dash(p.Schedule.String())}, {"next run", nextRun(p)},
						{"description", dash(p.Description)}, {"trigger uri", uri},
					}
					for _, pr := range p.Params {
						rows = append(rows, [2]string{"param " + pr.Name, fmt.Sprintf("%s, default %v", pr.Type, pr.Default)})
					}
					// Names, steps and the description come from workflow files.
					for _, r := range rows {
						fmt.Fprintf(tw, "%s\t%s\n", clean(r[0]), clean(r[1]))
					}
					return tw.Flush()
				},
			},
			{
				name: "keys", usage: "NAME [--regenerate primary|secondary]", short: "print or rotate a pipeline's keys",
				long: `keys prints the pipeline's primary and secondary keys, which a trigger sends as
"Authorization: Bearer KEY". --regenerate replaces one of them; the server reads
the keys on every request, so the old key stops working at once.`,
				flags: func(fs *flag.FlagSet, c *cli) {
					fs.StringVar(&regen, "regenerate", "", "replace the `primary` or secondary key")
				},
				run: func(ctx context.Context, c *cli, args []string) error {
					if regen != "" && regen != "primary" && regen != "secondary" {
						return usagef("pipeline keys: --regenerate %q: want primary or secondary", regen)
					}
					s, p, _, err := c.openPipeline(ctx, "keys", args, 1)
					if err != nil {
						return err
					}
					defer s.Close()
					if p.Auth == "none" {
						return invalidf("pipeline %s has auth none: it has no keys", p.Name)
					}
					var k endpoints.Keys
					if regen != "" {
						k, err = pipelines.Regenerate(s, p.Name, regen)
					} else {
						k, err = pipelines.ReadKeys(s, p.Name)
					}
					if err != nil {
						return err
					}
					if c.json {
						return json.NewEncoder(c.stdout).Encode(k)
					}
					fmt.Fprintf(c.stdout, "primary:   %s\nsecondary: %s\n", k.Primary, k.Secondary)
					return nil
				},
			},
			{
				name: "trigger", usage: "NAME [-p name=value]... [--wait]", short: "start a run of a pipeline",
				long: `trigger starts a run of the pipeline's newest version on the workspace server
(started if it is not running), with -p values for the params the pipeline
exposes. It prints the run id; --wait follows the run to its end and exits 1
unless it completed.`,
				flags: func(fs *flag.FlagSet, c *cli) {
					fs.Var(params, "p", "set a pipeline param: `name=value` (repeatable)")
					fs.BoolVar(&wait, "wait", false, "wait for the run to end")
				},
				run: func(ctx context.Context, c *cli, args []string) error {
					s, _, a, err := c.openPipeline(ctx, "trigger", args, 1)
					if err != nil {
						return err
					}
					defer s.Close()
					in, err := server.Ensure(ctx, s)
					if err != nil {
						return err
					}
					values := map[string]any{}
					for k, v := range params {
						values[k] = v
					}
					var started struct{ Id, Status string }
					if err := pipelineCall(ctx, s, in, "POST", a[0], "/runs", map[string]any{"parameters": values}, &started); err != nil {
						return err
					}
					if !wait {
						if c.json {
							return json.NewEncoder(c.stdout).Encode(map[string]string{"Id": started.Id, "run_id": started.Id, "status": started.Status})
						}
						fmt.Fprintf(c.stdout, "run %s %s: %s/runs/%s\n", clean(started.Id), started.Status, in.PipelineURL(a[0]), clean(started.Id))
						return nil
					}
					if !c.json {
						fmt.Fprintf(c.stdout, "run %s started\n", clean(started.Id))
					}
					var run pipelines.Run
					for {
						if err := pipelineCall(ctx, s, in, "GET", a[0], "/runs/"+started.Id, nil, &run); err != nil {
							return err
						}
						if run.Status != "NotStarted" && run.Status != "Running" {
							break
						}
						select {
						case <-ctx.Done():
							return fmt.Errorf("stopped waiting for run %s (it goes on: mlflow pipeline cancel %s %s)", started.Id, a[0], started.Id)
						case <-time.After(200 * time.Millisecond):
						}
					}
					if c.json {
						if err := json.NewEncoder(c.stdout).Encode(run); err != nil {
							return err
						}
					} else {
						fmt.Fprintf(c.stdout, "run %s %s (%s)%s\n", clean(run.ID), run.Status, run.State, errSuffix(run.Error))
					}
					if run.Status != "Completed" {
						return &errPrinted{code: 1}
					}
					return nil
				},
			},
			{
				name: "runs", usage: "NAME [--limit N]", short: "list a pipeline's runs, newest first",
				flags: func(fs *flag.FlagSet, c *cli) {
					fs.IntVar(&limit, "limit", 20, "show at most `N` runs (0: all)")
				},
				run: func(ctx context.Context, c *cli, args []string) error {
					s, _, a, err := c.openPipeline(ctx, "runs", args, 1)
					if err != nil {
						return err
					}
					defer s.Close()
					runs, err := pipelines.ListRuns(ctx, s, a[0], limit)
					if err != nil {
						return err
					}
					if c.json {
						return json.NewEncoder(c.stdout).Encode(runs)
					}
					if len(runs) == 0 {
						fmt.Fprintln(c.stdout, "no runs")
						return nil
					}
					tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "RUN\tVERSION\tSTATUS\tTRIGGER\tCREATED\tDURATION\tERROR")
					for _, r := range runs {
						d := "-"
						if !r.Started.IsZero() && !r.Finished.IsZero() {
							d = r.Finished.Sub(r.Started).Round(time.Millisecond).String()
						}
						fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", clean(r.ID), r.Version, r.Status, r.Trigger,
							r.Created.Local().Format("2006-01-02 15:04:05"), d, clean(dash(firstLine(r.Error))))
					}
					return tw.Flush()
				},
			},
			{
				name: "cancel", usage: "NAME RUN", short: "cancel a queued or running run",
				run: func(ctx context.Context, c *cli, args []string) error {
					s, _, a, err := c.openPipeline(ctx, "cancel", args, 2)
					if err != nil {
						return err
					}
					defer s.Close()
					in, err := server.Find(ctx, s)
					if err != nil {
						return err
					}
					var run pipelines.Run
					if err := pipelineCall(ctx, s, in, "POST", a[0], "/runs/"+a[1]+"/cancel", nil, &run); err != nil {
						return err
					}
					if c.json {
						return json.NewEncoder(c.stdout).Encode(run)
					}
					fmt.Fprintf(c.stdout, "run %s %s\n", clean(run.ID), run.Status)
					return nil
				},
			},
			pipelineSwitch("disable", true), pipelineSwitch("enable", false),
		},
	}
}

// pipelineSwitch is disable or enable: triggers and the schedule stop, or start again
// (from now: fire times passed while disabled are not replayed).
func pipelineSwitch(name string, disabled bool) *command {
	short := "refuse triggers (409) and pause the schedule"
	if !disabled {
		short = "accept triggers again and resume the schedule from now"
	}
	return &command{
		name: name, usage: "NAME", short: short,
		run: func(ctx context.Context, c *cli, args []string) error {
			s, _, a, err := c.openPipeline(ctx, name, args, 1)
			if err != nil {
				return err
			}
			defer s.Close()
			p, err := pipelines.SetDisabled(ctx, s, a[0], disabled, time.Now())
			if err != nil {
				return err
			}
			if in, err := server.Find(ctx, s); err == nil {
				if err := server.Admin(ctx, s, in, "POST", "/admin/pipelines/reload", nil); err != nil {
					return err
				}
			}
			fmt.Fprintf(c.stdout, "pipeline %s %sd\n", p.Name, name)
			return nil
		},
	}
}

func enabled(p *pipelines.Pipeline) string {
	if p.Disabled {
		return "disabled"
	}
	return "enabled"
}

func nextRun(p *pipelines.Pipeline) string {
	if p.Disabled || p.NextFireAt.IsZero() {
		return "-"
	}
	return p.NextFireAt.Local().Format("2006-01-02 15:04:05")
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return ": " + clean(firstLine(e))
}
