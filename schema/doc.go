// Package schema holds a loaded workflow as plain Go values: the workflow,
// its steps, references between them, and the positioned user errors the
// loader reports. Package schema/load builds them from a workflow file
// through the embedded CUE schema; nothing here imports CUE, so the engine
// and the step kinds depend on Go types only.
package schema
