package main

// Placeholders replaced by the runner work; kept so the tree compiles.
func cmdRun() *command      { return &command{name: "run", short: "run a workflow"} }
func cmdValidate() *command { return &command{name: "validate", short: "validate a workflow"} }
func cmdPlan() *command     { return &command{name: "plan", short: "show the DAG"} }
func cmdRuns() *command     { return &command{name: "runs", short: "list runs"} }
func cmdSchema() *command   { return &command{name: "schema", short: "print the schema"} }
func cmdVersion() *command  { return &command{name: "version", short: "print the version"} }
