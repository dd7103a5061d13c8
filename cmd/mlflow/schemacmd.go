package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/mlflow-go/mlflow/schema/load"
)

func cmdSchema() *command {
	var jsonSchema bool
	return &command{
		name:  "schema",
		usage: "[--jsonschema]",
		short: "print the embedded workflow schema (CUE), or a JSON Schema for editors",
		long: `Prints the CUE schema every workflow is unified with: #Workflow, #Common
(the fields every step has) and one #Kinds entry per step kind with its
config, typed inputs and outputs. --jsonschema prints a JSON Schema
(draft 2020-12) generated from it, for YAML and JSON editors; it cannot
express references between steps, output types, cycles or durations,
which mlflow validate checks.`,
		flags: func(fs *flag.FlagSet, c *cli) {
			fs.BoolVar(&jsonSchema, "jsonschema", false, "print a JSON Schema instead of the CUE source")
		},
		run: func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 0 {
				return usagef("schema takes no arguments")
			}
			if !jsonSchema {
				fmt.Fprint(c.stdout, load.Source())
				return nil
			}
			b, err := load.JSONSchema()
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "%s\n", b)
			return nil
		},
	}
}
