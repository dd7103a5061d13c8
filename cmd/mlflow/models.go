package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"text/tabwriter"

	"github.com/mlflow-go/mlflow/internal/models"
	"github.com/mlflow-go/mlflow/internal/store"
)

func cmdModels() *command {
	return &command{
		name:  "models",
		usage: "list | show NAME[:VERSION]",
		short: "list registered models and show one's metrics and leaderboard",
		sub: []*command{
			{
				name:  "list",
				usage: "[--json]",
				short: "list every version of every model",
				run: func(ctx context.Context, c *cli, args []string) error {
					if len(args) != 0 {
						return usagef("models list takes no arguments")
					}
					s, err := c.openStore(false)
					if err != nil {
						return err
					}
					defer s.Close()
					all, err := models.List(ctx, s, "")
					if err != nil {
						return err
					}
					if c.json {
						if all == nil {
							all = []models.Record{}
						}
						for i := range all {
							all[i].Meta.Leaderboard = nil // show has it; keep the list short
						}
						return json.NewEncoder(c.stdout).Encode(all)
					}
					tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tVERSION\tTASK\tALGORITHM\tPRIMARY METRIC\tSCORE\tDIGEST\tCREATED")
					for _, r := range all {
						score := "-"
						if v, ok := r.Meta.Metrics[r.Meta.PrimaryMetric]; ok {
							score = fmt.Sprintf("%.4f", v)
						}
						fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", clean(r.Name), r.Version, r.Task, r.Algorithm,
							dash(r.Meta.PrimaryMetric), score, shortDigest(r.Digest), r.Created.Local().Format("2006-01-02 15:04:05"))
					}
					return tw.Flush()
				},
			},
			{
				name:  "show",
				usage: "NAME[:VERSION] [--json]",
				short: "show a model version (default the latest): metrics, leaderboard, feature importance, lineage",
				run: func(ctx context.Context, c *cli, args []string) error {
					if len(args) != 1 {
						return usagef("models show needs NAME or NAME:VERSION (see mlflow models list)")
					}
					name, version, err := models.ParseRef(args[0])
					if err != nil {
						return invalidf("%v", err)
					}
					s, err := c.openStore(false)
					if err != nil {
						return err
					}
					defer s.Close()
					r, err := models.Get(ctx, s, name, version)
					if errors.Is(err, store.ErrNotFound) {
						return invalidf("%s (see mlflow models list)", modelNotFound(ctx, s, name, version))
					}
					if err != nil {
						return err
					}
					if c.json {
						return json.NewEncoder(c.stdout).Encode(r)
					}
					printModel(c, r)
					return nil
				},
			},
		},
	}
}

// modelNotFound words a missing model, listing the versions the name has.
func modelNotFound(ctx context.Context, s *store.Store, name string, version int) string {
	all, _ := models.List(ctx, s, name)
	var have []int
	for _, r := range all {
		have = append(have, r.Version)
	}
	return store.NotFound("model", name, version, have)
}

func printModel(c *cli, r models.Record) {
	w := c.stdout
	m := r.Meta
	fmt.Fprintf(w, "model      %s:%d\n", r.Name, r.Version)
	fmt.Fprintf(w, "task       %s\n", r.Task)
	fmt.Fprintf(w, "algorithm  %s\n", r.Algorithm)
	fmt.Fprintf(w, "digest     %s\n", r.Digest)
	fmt.Fprintf(w, "path       %s\n", r.Path)
	fmt.Fprintf(w, "created    %s\n", r.Created.Local().Format("2006-01-02 15:04:05"))
	if d := m.Lineage.Dataset; d.Name != "" {
		fmt.Fprintf(w, "dataset    %s:%d (%s)\n", d.Name, d.Version, d.Digest)
	}
	fmt.Fprintf(w, "seed       %d\n", m.Lineage.Seed)
	if m.Run != "" {
		fmt.Fprintf(w, "run        %s\n", m.Run)
	}
	for _, warn := range m.Warnings {
		fmt.Fprintf(w, "warning    %s\n", warn)
	}
	if len(m.Metrics) > 0 {
		fmt.Fprintf(w, "\nmetrics (out of fold; primary %s)\n", m.PrimaryMetric)
		keys := make([]string, 0, len(m.Metrics))
		for k := range m.Metrics {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, k := range keys {
			mark := ""
			if k == m.PrimaryMetric {
				mark = "  *"
			}
			fmt.Fprintf(tw, "  %s\t%.4f%s\n", k, m.Metrics[k], mark)
		}
		tw.Flush()
	}
	if len(m.Leaderboard) > 0 {
		fmt.Fprintf(w, "\nleaderboard (%d trials)\n", len(m.Leaderboard))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "  TRIAL\tALGORITHM\t%s\tFOLDS\tSECONDS\tPARAMS\n", m.PrimaryMetric)
		for _, e := range m.Leaderboard {
			score := "-"
			if v, ok := e.Metrics[m.PrimaryMetric]; ok {
				score = fmt.Sprintf("%.4f", v)
			}
			params := ""
			keys := make([]string, 0, len(e.Params))
			for k := range e.Params {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for i, k := range keys {
				if i > 0 {
					params += " "
				}
				params += fmt.Sprintf("%s=%v", k, e.Params[k])
			}
			if params == "" {
				params = "defaults"
			}
			stopped := ""
			if e.Stopped {
				stopped = " (stopped)"
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%d\t%.1f\t%s%s\n", e.ID, e.Algorithm, score, e.Folds, e.Seconds, params, stopped)
		}
		tw.Flush()
	}
	if len(m.Importance) > 0 {
		fmt.Fprintln(w, "\nfeature importance (share of split gain)")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, im := range m.Importance {
			fmt.Fprintf(tw, "  %s\t%.4f\n", clean(im.Feature), im.Gain)
		}
		tw.Flush()
	}
}
