package schema

import (
	"fmt"
	"sort"
	"time"
)

// Workflow is a loaded, validated workflow: plain Go values, no CUE.
// The engine and the steps only ever see this.
type Workflow struct {
	Name      string
	File      string // absolute path of the file it was loaded from
	Dir       string // directory of File; relative paths in step configs resolve here
	Target    string // "local" (default) or "azureml"
	TargetPos Pos    // where target is set (the file's start when it is not)
	// AzureML is the raw `azureml: {...}` block for target "azureml".
	AzureML map[string]any
	// Params are the final parameter values (defaults unified with -p overrides).
	Params map[string]any
	Steps  map[string]*Step
	// Order lists step names in a stable order (sorted by name) so that every
	// run of the same file plans identically.
	Order []string
}

// Step is one node of the workflow.
type Step struct {
	Name        string
	Kind        string
	Needs       []string // every dependency: explicit needs plus those implied by refs, sorted, unique
	Timeout     time.Duration
	Retry       Retry
	Cache       bool // false when the file says cache: false
	Description string
	// Config holds the kind-specific fields (everything except the common
	// fields above) as JSON-like values: map[string]any, []any, string,
	// float64/int64, bool, nil. A value that was exactly one
	// "${{ steps.S.outputs.O }}" reference is a Ref; a string that embeds
	// references among other text is a Template. The engine replaces both
	// with the upstream outputs before the step runs.
	Config map[string]any
	// Outputs are the outputs the kind declares (name -> type), copied from
	// the schema so that the engine checks a step's results without CUE.
	Outputs map[string]string
	Pos     Pos // position of the step's key in the file
}

// Retry is a step's retry policy. Attempts counts every try (1 = no retry).
type Retry struct {
	Attempts int
	Backoff  time.Duration
}

// Ref is a reference to another step's output.
type Ref struct {
	Step   string
	Output string
	Type   string // the output's declared type, e.g. "dataset", "model"
	Pos    Pos
}

func (r Ref) String() string { return fmt.Sprintf("${{ steps.%s.outputs.%s }}", r.Step, r.Output) }

// Template is a string with embedded references, e.g. "model-${{ steps.t.outputs.model }}".
// Parts alternate: string literals and Refs.
type Template struct {
	Parts []any // string or Ref
}

// Pos is a source position. Line and Column are 1-based; zero means unknown.
type Pos struct {
	File   string
	Line   int
	Column int
}

func (p Pos) String() string {
	switch {
	case p.File == "":
		return ""
	case p.Line == 0:
		return p.File
	case p.Column == 0:
		// Some parsers (YAML's) report the line only.
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
	}
}

// Error is a user error in a workflow file or a -p override. The CLI prints
// it as "pos: path: msg" and exits 2.
type Error struct {
	Pos  Pos
	Path string // field path, e.g. "steps.train.budget"; may be empty
	Msg  string
}

func (e *Error) Error() string {
	s := e.Msg
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	if p := e.Pos.String(); p != "" {
		s = p + ": " + s
	}
	return s
}

// ErrorList is several user errors reported together, in file order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	var b []byte
	for i, e := range l {
		if i > 0 {
			b = append(b, '\n')
		}
		b = append(b, e.Error()...)
	}
	return string(b)
}

// Closure is steps with every step they need, directly or not, sorted: what a published
// pipeline holds.
func (wf *Workflow) Closure(steps []string) ([]string, error) {
	seen := map[string]bool{}
	var visit func(n string) error
	visit = func(n string) error {
		if seen[n] {
			return nil
		}
		st := wf.Steps[n]
		if st == nil {
			return fmt.Errorf("no step named %q", n)
		}
		seen[n] = true
		for _, d := range st.Needs {
			if err := visit(d); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range steps {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}
