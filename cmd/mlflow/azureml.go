package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mlflow-go/mlflow/engine"
	"github.com/mlflow-go/mlflow/internal/azure"
	"github.com/mlflow-go/mlflow/internal/azure/azureml"
	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema/load"
	"github.com/mlflow-go/mlflow/steps"
)

// azureFlags are run's and plan's flags for target azureml (docs/azureml.md).
type azureFlags struct {
	target string
	ws     azureml.WorkspaceFlags
	dryRun bool
	// settings are set by loadTargetPlan for a workflow on target azureml.
	settings *azureml.Settings
}

func (a *azureFlags) register(fs *flag.FlagSet, run bool) {
	fs.StringVar(&a.target, "target", "", "run on `TARGET` (local or azureml) whatever the file says")
	fs.StringVar(&a.ws.Subscription, "subscription", "", "target azureml: the workspace's subscription `ID`")
	fs.StringVar(&a.ws.ResourceGroup, "resource-group", "", "target azureml: the workspace's resource `GROUP`")
	fs.StringVar(&a.ws.Workspace, "workspace-name", "", "target azureml: the workspace's `NAME`")
	if run {
		fs.BoolVar(&a.dryRun, "dry-run", false, "target azureml: print the requests a run would send, as JSON lines, and send none")
	}
}

// azurePoll is how often jobs and long-running operations are polled.
// MLFLOW_AZUREML_POLL (a Go duration) shortens it for tests against the
// fake; azcore refuses under 1s outside a test binary.
func azurePoll() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("MLFLOW_AZUREML_POLL")); err == nil && d > 0 {
		return d
	}
	return 0
}

// loadTargetPlan is loadPlan for the workflow's target: the local kinds,
// or the azureml kinds bound to the workspace the file, config.json or the
// flags name.
func (c *cli) loadTargetPlan(file string, params paramFlags, a *azureFlags) (*engine.Plan, error) {
	switch a.target {
	case "", "local", "azureml":
	default:
		return nil, usagef("--target %q: want local or azureml", a.target)
	}
	wf, err := load.File(file, load.Options{Params: params, Target: a.target})
	if err != nil {
		return nil, err
	}
	if wf.Target != "azureml" {
		if a.dryRun {
			return nil, usagef("--dry-run is for target azureml (the file's target is %q; add --target azureml)", wf.Target)
		}
		return engine.NewPlan(wf, engine.NewRegistry(steps.All()...))
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	s, err := azureml.ResolveSettings(wf, a.ws, cwd)
	if err != nil {
		return nil, err
	}
	a.settings = &s
	poll := azurePoll()
	env := &azureml.Env{Settings: s, Poll: poll, NewDoer: func() (azure.Doer, error) {
		return azure.New(s.Workspace, &azure.Options{PollFrequency: poll})
	}}
	return engine.NewPlan(wf, engine.NewRegistry(azureml.Kinds(env)...))
}

// dryRun prints the requests of a run on target azureml as JSON lines.
func (c *cli) dryRun(ctx context.Context, p *engine.Plan, a *azureFlags) error {
	return azureml.WriteDryRun(ctx, p, *a.settings, c.stdout)
}

// planAzure prints plan's table with the Azure resources each step
// creates or changes (on a workspace where none exists yet).
func (c *cli) planAzure(ctx context.Context, p *engine.Plan, entries []engine.PlanEntry, a *azureFlags) error {
	changes, err := azureml.Changes(ctx, p, *a.settings)
	if err != nil {
		return err
	}
	if c.json {
		type entry struct {
			engine.PlanEntry
			Azure []azureml.Change `json:"azure"`
		}
		out := make([]entry, len(entries))
		for i, e := range entries {
			out[i] = entry{e, changes[e.Step]}
		}
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(map[string]any{"workflow": p.Workflow.Name, "target": "azureml", "workspace": a.settings.Workspace.ID(), "steps": out})
	}
	fmt.Fprintf(c.stdout, "target azureml: workspace %s (from %s)\n", a.settings.Workspace.ID(), a.settings.From)
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tKIND\tACTION\tAZURE RESOURCES")
	for _, e := range entries {
		var res []string
		for _, ch := range changes[e.Step] {
			res = append(res, ch.Method+" "+ch.Resource)
		}
		if len(res) == 0 {
			res = []string{"-"}
		}
		for i, r := range res {
			if i == 0 {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Step, e.Kind, e.Action, r)
			} else {
				fmt.Fprintf(tw, "\t\t\t%s\n", r)
			}
		}
	}
	tw.Flush()
	fmt.Fprintln(c.stdout, strings.TrimSpace(`
Resources are shown as a run would create them in a workspace that holds none
of them; mlflow run --target azureml --dry-run prints every request.`))
	return nil
}

// stopAzureEndpoint deletes an online endpoint a run on target azureml
// created and recorded in this workspace; ok is false when none is.
func (c *cli) stopAzureEndpoint(ctx context.Context, s *store.Store, name string) (ok bool, err error) {
	r, err := azureml.LiveEndpoint(s, name)
	if err != nil || r == nil {
		return false, err
	}
	ws, err := azureml.DeleteEndpoint(ctx, s, r, func(ws azure.Workspace) (azure.Doer, error) {
		return azure.New(ws, &azure.Options{PollFrequency: azurePoll()})
	})
	if err != nil {
		return true, err
	}
	fmt.Fprintf(c.stdout, "endpoint %s deleted from Azure ML workspace %s\n", name, ws.Name)
	return true, nil
}

// cmdAzureML lists and deletes what runs on target azureml created on Azure, from the
// workspace's records (.mlflow/azureml/resources.jsonl).
func cmdAzureML() *command {
	var all, yes bool
	return &command{
		name:  "azureml",
		usage: "resources | delete RESOURCE... | delete --all",
		short: "list and delete what runs created on Azure ML",
		sub: []*command{
			{
				name: "resources", short: "list the Azure resources runs created that mlflow has not deleted",
				run: func(ctx context.Context, c *cli, args []string) error {
					if len(args) != 0 {
						return usagef("azureml resources takes no arguments")
					}
					s, err := c.openStore(false)
					if err != nil {
						return err
					}
					defer s.Close()
					live, err := azureml.Live(s)
					if err != nil {
						return err
					}
					if c.json {
						if live == nil {
							live = []azureml.Resource{}
						}
						return json.NewEncoder(c.stdout).Encode(live)
					}
					if len(live) == 0 {
						fmt.Fprintln(c.stdout, "no Azure resources recorded")
						return nil
					}
					tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "RESOURCE\tSTEP\tRUN\tCREATED\tWORKSPACE")
					for _, r := range live {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", clean(r.Ref()), clean(r.Step), clean(r.RunID), r.Time.Format(time.RFC3339), clean(wsName(r.Workspace)))
					}
					return tw.Flush()
				},
			},
			{
				name: "delete", usage: "RESOURCE... | --all [--yes]",
				short: "delete recorded Azure resources (RESOURCE as resources lists it, or its ARM id)",
				flags: func(fs *flag.FlagSet, c *cli) {
					fs.BoolVar(&all, "all", false, "delete every resource azureml resources lists")
					fs.BoolVar(&yes, "yes", false, "do not ask for confirmation (for scripts)")
				},
				run: func(ctx context.Context, c *cli, args []string) error {
					if all == (len(args) > 0) {
						return usagef("azureml delete needs RESOURCE... or --all, not both")
					}
					s, err := c.openStore(false)
					if err != nil {
						return err
					}
					defer s.Close()
					live, err := azureml.Live(s)
					if err != nil {
						return err
					}
					todo := live
					if !all {
						if todo, err = pickResources(live, args); err != nil {
							return err
						}
					}
					if len(todo) == 0 {
						fmt.Fprintln(c.stdout, "no Azure resources recorded")
						return nil
					}
					azureml.SortForDelete(todo)
					if !yes && !c.confirm(todo) {
						return invalidf("not confirmed: nothing deleted (--yes deletes without asking)")
					}
					newDoer := func(ws azure.Workspace) (azure.Doer, error) {
						return azure.New(ws, &azure.Options{PollFrequency: azurePoll()})
					}
					var failed int
					for _, r := range todo {
						if err := azureml.Delete(ctx, s, r, newDoer); err != nil {
							fmt.Fprintf(c.stderr, "mlflow: %v\n", err)
							failed++
							continue
						}
						fmt.Fprintf(c.stdout, "deleted %s\n", r.Ref())
					}
					if failed > 0 {
						return fmt.Errorf("%d of %d not deleted", failed, len(todo))
					}
					return nil
				},
			},
		},
	}
}

// pickResources finds each argument among the live resources, by TYPE/NAME or ARM id.
func pickResources(live []azureml.Resource, args []string) ([]azureml.Resource, error) {
	var out []azureml.Resource
	for _, a := range args {
		var found []azureml.Resource
		for _, r := range live {
			if strings.EqualFold(a, r.Ref()) || strings.EqualFold(a, r.ID) {
				found = append(found, r)
			}
		}
		switch len(found) {
		case 0:
			return nil, invalidf("%s: no such Azure resource recorded (mlflow azureml resources lists them)", a)
		case 1:
			out = append(out, found[0])
		default:
			return nil, invalidf("%s: %d recorded resources in different workspaces have that name: give the ARM id", a, len(found))
		}
	}
	return out, nil
}

// confirm lists what will be deleted and asks on stdin; only y or yes goes on.
func (c *cli) confirm(rs []azureml.Resource) bool {
	for _, r := range rs {
		fmt.Fprintf(c.stderr, "  %s (%s)\n", r.Ref(), r.ID)
	}
	fmt.Fprintf(c.stderr, "delete %s from Azure? [y/N] ", plural(len(rs), "resource"))
	line, _ := bufio.NewReader(c.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

// wsName is a workspace's name from its ARM id.
func wsName(id string) string {
	return id[strings.LastIndex(id, "/")+1:]
}
