package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/mlflow-go/mlflow/engine"
)

func cmdPlan() *command {
	var (
		params  = paramFlags{}
		dot     bool
		noCache bool
		az      azureFlags
	)
	return &command{
		name:  "plan",
		usage: "FILE [-p name=value]... [--dot] [--json] [--target azureml]",
		short: "show the DAG and which steps the cache will skip",
		long: `Prints the steps in the order they can run, what each needs, and what a
run would do with it: "cached" (restored without running), "run",
"reconcile" (deploy/publish: compared with what exists) or "always"
(measurements). --dot prints a Graphviz digraph instead. On target azureml
it also lists the Azure resources each step creates or changes.`,
		flags: func(fs *flag.FlagSet, c *cli) {
			fs.Var(params, "p", "set a workflow parameter `name=value` (repeatable)")
			fs.BoolVar(&dot, "dot", false, "print the DAG as Graphviz dot")
			fs.BoolVar(&noCache, "no-cache", false, "plan as if the cache were empty")
			az.register(fs, false)
		},
		run: func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 1 {
				return usagef("plan needs exactly one workflow file")
			}
			p, err := c.loadTargetPlan(args[0], params, &az)
			if err != nil {
				return err
			}
			s, err := c.workflowStore(p.Workflow)
			if err != nil {
				return err
			}
			defer s.Close()
			entries, err := engine.Preview(ctx, p, s, engine.Options{NoCache: noCache})
			if err != nil {
				return err
			}
			switch {
			case az.settings != nil && !dot:
				return c.planAzure(ctx, p, entries, &az)
			case dot:
				writeDot(c, p, entries)
			case c.json:
				enc := json.NewEncoder(c.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"workflow": p.Workflow.Name, "steps": entries})
			default:
				tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "STEP\tKIND\tNEEDS\tACTION\tWHY")
				for _, e := range entries {
					needs := strings.Join(e.Needs, ",")
					if needs == "" {
						needs = "-"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Step, e.Kind, needs, e.Action, e.Reason)
				}
				tw.Flush()
			}
			return nil
		},
	}
}

func writeDot(c *cli, p *engine.Plan, entries []engine.PlanEntry) {
	style := map[string]string{
		engine.ActionCached:    `style=filled fillcolor="#d9ead3"`,
		engine.ActionRun:       `style=filled fillcolor="#fff2cc"`,
		engine.ActionReconcile: `style=filled fillcolor="#cfe2f3"`,
		engine.ActionAlways:    `style=filled fillcolor="#f4cccc"`,
	}
	fmt.Fprintf(c.stdout, "digraph %q {\n\trankdir=LR;\n\tnode [shape=box fontname=Helvetica];\n", p.Workflow.Name)
	for _, e := range entries {
		fmt.Fprintf(c.stdout, "\t%q [label=\"%s\\n%s: %s\" %s];\n", e.Step, e.Step, e.Kind, e.Action, style[e.Action])
	}
	for _, e := range entries {
		for _, d := range e.Needs {
			fmt.Fprintf(c.stdout, "\t%q -> %q;\n", d, e.Step)
		}
	}
	fmt.Fprintln(c.stdout, "}")
}
