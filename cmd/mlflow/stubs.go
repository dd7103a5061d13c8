package main

// Placeholders replaced by the runner work; kept so the tree compiles.
func cmdValidate() *command { return &command{name: "validate", short: "validate a workflow"} }
func cmdSchema() *command   { return &command{name: "schema", short: "print the schema"} }
