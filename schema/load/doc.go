// Package load is the workflow language's loader: the embedded CUE schema
// (cue/*.cue, one file per step kind) and loading of .cue, .yaml/.yml and
// .json workflows into the plain Go values of package schema. It is the
// only package that imports CUE: the engine and the step kinds see Go types.
//
// File works in this order, all on CUE syntax so that every format gets
// the same checks and positions:
//
//  1. Parse: cue/parser, encoding/yaml.Extract or encoding/json.Extract,
//     which keep file:line:column on every node.
//  2. Params: a plain param value becomes a default of its type, so
//     `budget: "60s"` (YAML, JSON) is overridable like CUE's
//     `budget: *"60s" | string`. Each -p value is typed by the param's
//     declaration and unified into params before evaluation, so a native
//     CUE reference (params.budget) sees it. Then every
//     "${{ params.P }}" in a string is substituted: a string that is
//     exactly one such expression takes the param's value and type.
//  3. Unify the file with #Workflow, then each step with the config
//     schema of its kind (#Kinds[kind].config). CUE errors are rewritten
//     with the user's field paths and positions, never the schema's.
//  4. Decode to Go: common fields into Step, the rest into Config
//     (integers int64, other numbers float64); "${{ steps.S.outputs.O }}"
//     becomes a Ref (the whole string) or a Template (embedded in text).
//  5. Cross-checks CUE cannot express, declared per kind in #Kinds:
//     references (step exists, output exists, output type fits the input
//     field), needs, cycles, and the kind's checks (step names, param
//     names, cron expressions).
//
// The schema is compiled once per process; a workflow loads in about
// 3 ms. Loads are serialised on one mutex because a cue.Context is not
// safe for concurrent use.
package load
