package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/mlflow-go/mlflow/engine"

	"github.com/mlflow-go/mlflow/schema"
	"github.com/mlflow-go/mlflow/schema/load"
)

func cmdValidate() *command {
	var params paramFlags
	var target string
	return &command{
		name:  "validate",
		usage: "FILE [-p name=value]... [--target local|azureml] [--json]",
		short: "check a workflow (schema, references, output types, cycles); runs nothing",
		long: `Loads a workflow (.cue, .yaml, .yml or .json) exactly as run does: unifies it
with the embedded schema (mlflow schema), applies -p overrides, resolves
${{ params.P }} and ${{ steps.S.outputs.O }}, and checks step kinds, fields,
types, references, output types, needs and cycles. Every error names
file:line:column and the field. Exit status 0 when valid, 2 when not.
On target azureml (the file's, or --target azureml as run and plan take it)
it also refuses what Azure cannot run as the file says (docs/azureml.md).
--json prints {"file", "valid", "steps"} or {"file", "valid": false, "errors": [...]}.`,
		flags: func(fs *flag.FlagSet, c *cli) {
			params = paramFlags{}
			fs.Var(params, "p", "set a workflow parameter `name=value` (repeatable)")
			fs.StringVar(&target, "target", "", "validate for `TARGET` (local or azureml) whatever the file says")
		},
		run: func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 1 {
				return usagef("validate needs exactly one workflow file")
			}
			switch target {
			case "", "local", "azureml":
			default:
				return usagef("--target %q: want local or azureml", target)
			}
			return c.validate(args[0], params, target)
		},
	}
}

// validationJSON is validate's --json output.
type validationJSON struct {
	File   string      `json:"file"`
	Valid  bool        `json:"valid"`
	Name   string      `json:"name,omitempty"`
	Steps  int         `json:"steps,omitempty"`
	Errors []errorJSON `json:"errors,omitempty"`
}

type errorJSON struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

func (c *cli) validate(file string, params paramFlags, target string) error {
	wf, err := load.File(file, load.Options{Params: params, Target: target})
	if err == nil {
		// A target the schema admits but this mlflow could not run would
		// be valid yet refused by run: say so now. (Every declared kind
		// and target is built; TestKindsMatchSchema keeps the kinds so.)
		if terr := engine.CheckTarget(wf); terr != nil {
			fmt.Fprintf(c.stderr, "mlflow: warning: %v; run will refuse it\n", terr)
		}
	}
	if !c.json {
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%s: ok, %s\n", file, plural(len(wf.Steps), "step"))
		return nil
	}
	out := validationJSON{File: file, Valid: err == nil}
	if err == nil {
		out.Name, out.Steps = wf.Name, len(wf.Steps)
	} else {
		var list schema.ErrorList
		var one *schema.Error
		switch {
		case errors.As(err, &list):
		case errors.As(err, &one):
			list = schema.ErrorList{one}
		default:
			// Not a user error in the file (an I/O failure, say).
			return err
		}
		for _, e := range list {
			out.Errors = append(out.Errors, errorJSON{File: e.Pos.File, Line: e.Pos.Line, Column: e.Pos.Column, Path: e.Path, Message: e.Msg})
		}
	}
	b, jerr := json.Marshal(out)
	if jerr != nil {
		return jerr
	}
	fmt.Fprintf(c.stdout, "%s\n", b)
	// The JSON is the report; stderr still gets the errors for humans,
	// and the exit status stays 2.
	return err
}

func plural(n int, what string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}
