package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/mlflow-go/mlflow/internal/datasets"
	"github.com/mlflow-go/mlflow/internal/store"
)

func cmdDatasets() *command {
	return &command{
		name:  "datasets",
		usage: "list | show NAME[:VERSION]",
		short: "list registered datasets and show one's profile",
		sub: []*command{
			{
				name:  "list",
				usage: "[--json]",
				short: "list every version of every dataset",
				run: func(ctx context.Context, c *cli, args []string) error {
					if len(args) != 0 {
						return usagef("datasets list takes no arguments")
					}
					s, err := c.openStore(false)
					if err != nil {
						return err
					}
					defer s.Close()
					all, err := datasets.List(ctx, s)
					if err != nil {
						return err
					}
					if c.json {
						if all == nil {
							all = []*datasets.Dataset{}
						}
						return json.NewEncoder(c.stdout).Encode(all)
					}
					tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tVERSION\tROWS\tCOLUMNS\tTARGET\tSIZE\tDIGEST\tCREATED\tSOURCE")
					for _, d := range all {
						fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", clean(d.Name), d.Version, d.Rows, d.Columns,
							dash(clean(d.Target)), humanBytes(d.Size), shortDigest(d.Digest),
							d.Created.Local().Format("2006-01-02 15:04:05"), clean(d.Source))
					}
					return tw.Flush()
				},
			},
			{
				name:  "show",
				usage: "NAME[:VERSION] [--json]",
				short: "show a dataset version (default the latest) and its profile",
				run: func(ctx context.Context, c *cli, args []string) error {
					if len(args) != 1 {
						return usagef("datasets show needs NAME or NAME:VERSION (see mlflow datasets list)")
					}
					name, version, err := datasets.ParseRef(args[0])
					if err != nil {
						return invalidf("%v", err)
					}
					s, err := c.openStore(false)
					if err != nil {
						return err
					}
					defer s.Close()
					d, err := datasets.Get(ctx, s, name, version)
					if errors.Is(err, store.ErrNotFound) {
						return invalidf("%s (see mlflow datasets list)", dsNotFound(ctx, s, name, version))
					}
					if err != nil {
						return err
					}
					if c.json {
						return json.NewEncoder(c.stdout).Encode(d)
					}
					return printDataset(c, d)
				},
			},
		},
	}
}

// dsNotFound words a missing dataset, listing the versions the name has.
func dsNotFound(ctx context.Context, s *store.Store, name string, version int) string {
	all, _ := datasets.List(ctx, s)
	var have []int
	for _, d := range all {
		if d.Name == name {
			have = append(have, d.Version)
		}
	}
	return store.NotFound("dataset", name, version, have)
}

func printDataset(c *cli, d *datasets.Dataset) error {
	w := c.stdout
	fmt.Fprintf(w, "dataset   %s\n", d.Ref())
	fmt.Fprintf(w, "digest    %s (%s columnar)\n", d.Digest, humanBytes(d.Size))
	fmt.Fprintf(w, "source    %s (%s)\n", d.Source, d.SourceDigest)
	fmt.Fprintf(w, "rows      %d\n", d.Rows)
	fmt.Fprintf(w, "columns   %d\n", d.Columns)
	fmt.Fprintf(w, "target    %s\n", dash(d.Target))
	fmt.Fprintf(w, "created   %s\n", d.Created.Local().Format("2006-01-02 15:04:05"))
	if d.RunID != "" {
		fmt.Fprintf(w, "run       %s\n", d.RunID)
	}
	if d.Description != "" {
		fmt.Fprintf(w, "about     %s\n", d.Description)
	}
	p := d.Profile
	if p == nil {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COLUMN\tTYPE\tCOUNT\tMISSING\tDISTINCT\tMIN\tMAX\tMEAN\tSTD\t25%\t50%\t75%\tTOP")
	for _, col := range p.Columns {
		typ := col.Type
		if col.Integer {
			typ += " (int)"
		}
		var top []string
		for _, vc := range col.Top[:min(3, len(col.Top))] {
			top = append(top, fmt.Sprintf("%s %d", clean(vc.Value), vc.Count))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", clean(col.Name), typ, col.Count, col.Missing, col.Distinct,
			dsNum(col.Min), dsNum(col.Max), dsNum(col.Mean), dsNum(col.Std), dsNum(col.P25), dsNum(col.P50), dsNum(col.P75),
			dash(strings.Join(top, ", ")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(p.ClassBalance) > 0 {
		fmt.Fprintf(w, "\nclass balance of %s:\n", clean(p.Target))
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VALUE\tCOUNT\tSHARE")
		for _, vc := range p.ClassBalance {
			fmt.Fprintf(tw, "%s\t%d\t%.2f%%\n", clean(vc.Value), vc.Count, 100*vc.Fraction)
		}
		return tw.Flush()
	}
	return nil
}

func dsNum(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'g', 6, 64)
}
