package load

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
)

// The schema is CUE, one file per step kind, so that whoever owns a kind
// edits one self-contained file; Go reads every kind's typed interface
// from #Kinds instead of keeping a second copy.
//
//go:embed cue/*.cue
var cueFiles embed.FS

// KindInfo describes a step kind's typed interface.
type KindInfo struct {
	Kind string
	// Inputs maps config fields that consume another step's output to the
	// output type they need ("dataset", "model", "endpoint", ...). Nested
	// fields are dotted: "input.dataset".
	Inputs map[string]string
	// Outputs maps output names to their types.
	Outputs map[string]string
}

// kindDef is a kind as the loader uses it.
type kindDef struct {
	KindInfo
	config cue.Value // the closed config schema, #Common embedded
	// checks maps dotted config fields to loader checks ("steps", "params", "cron").
	checks map[string]string
	// constraints are fields whose values may stay non-concrete (assert).
	constraints []string
	// fields lists the config's field names, for "unknown field" hints.
	fields []string
}

// compiled is the schema compiled once per process: building the CUE
// runtime and evaluating the schema dominates a small workflow's load time.
type compiled struct {
	// mu serialises every use of ctx: a cue.Context is not safe for
	// concurrent evaluation, and Load may be called from several goroutines
	// (the server triggering pipelines, parallel tests).
	mu       sync.Mutex
	ctx      *cue.Context
	root     cue.Value // the whole schema package
	workflow cue.Value // #Workflow
	common   []string  // #Common's field names
	kinds    map[string]*kindDef
	names    []string // kind names, sorted
	files    []string // embedded file names, workflow.cue first
	source   string
}

var schemaOnce = sync.OnceValues(compileSchema)

// theSchema returns the compiled schema. The embedded files are part of
// the binary, so failing to compile them is a bug, not a user error.
func theSchema() *compiled {
	s, err := schemaOnce()
	if err != nil {
		panic("schema: embedded CUE does not compile: " + err.Error())
	}
	return s
}

func compileSchema() (*compiled, error) {
	s := &compiled{ctx: cuecontext.New(), kinds: map[string]*kindDef{}}
	names, err := fs.Glob(cueFiles, "cue/*.cue")
	if err != nil {
		return nil, err
	}
	sort.Slice(names, func(i, j int) bool {
		// workflow.cue first: it introduces the language.
		wi, wj := path.Base(names[i]) == "workflow.cue", path.Base(names[j]) == "workflow.cue"
		if wi != wj {
			return wi
		}
		return names[i] < names[j]
	})
	inst := build.NewContext().NewInstance("schema", nil)
	var src strings.Builder
	for _, name := range names {
		b, err := cueFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		// Positions in the embedded schema read as schema/cue/x.cue, so they
		// can never be mistaken for the user's file.
		f, err := parser.ParseFile("schema/"+name, b, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		if err := inst.AddSyntax(f); err != nil {
			return nil, err
		}
		s.files = append(s.files, path.Base(name))
		fmt.Fprintf(&src, "// ---- %s ----\n%s", path.Base(name), b)
		if !strings.HasSuffix(string(b), "\n") {
			src.WriteByte('\n')
		}
	}
	s.source = src.String()
	root := s.ctx.BuildInstance(inst)
	if err := root.Validate(); err != nil {
		return nil, fmt.Errorf("%s", errors.Details(err, nil))
	}
	s.root = root
	s.workflow = root.LookupPath(cue.MakePath(cue.Def("Workflow")))
	if !s.workflow.Exists() {
		return nil, fmt.Errorf("no #Workflow")
	}
	s.common = fieldNames(root.LookupPath(cue.MakePath(cue.Def("Common"))))
	kinds := root.LookupPath(cue.MakePath(cue.Def("Kinds")))
	it, err := kinds.Fields()
	if err != nil {
		return nil, err
	}
	for it.Next() {
		name := it.Selector().Unquoted()
		v := it.Value()
		k := &kindDef{
			KindInfo: KindInfo{Kind: name, Inputs: map[string]string{}, Outputs: map[string]string{}},
			config:   v.LookupPath(cue.ParsePath("config")),
			checks:   map[string]string{},
		}
		if err := decodeStrings(v.LookupPath(cue.ParsePath("inputs")), k.Inputs); err != nil {
			return nil, fmt.Errorf("#Kinds.%s.inputs: %v", name, err)
		}
		if err := decodeStrings(v.LookupPath(cue.ParsePath("outputs")), k.Outputs); err != nil {
			return nil, fmt.Errorf("#Kinds.%s.outputs: %v", name, err)
		}
		if err := decodeStrings(v.LookupPath(cue.ParsePath("checks")), k.checks); err != nil {
			return nil, fmt.Errorf("#Kinds.%s.checks: %v", name, err)
		}
		if err := v.LookupPath(cue.ParsePath("constraints")).Decode(&k.constraints); err != nil {
			return nil, fmt.Errorf("#Kinds.%s.constraints: %v", name, err)
		}
		if kv, err := k.config.LookupPath(cue.ParsePath("kind")).String(); err != nil || kv != name {
			return nil, fmt.Errorf("#Kinds.%s.config must set kind: %q", name, name)
		}
		k.fields = fieldNames(k.config)
		s.kinds[name] = k
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
	return s, nil
}

func decodeStrings(v cue.Value, into map[string]string) error {
	if !v.Exists() {
		return nil
	}
	return v.Decode(&into)
}

// fieldNames lists a schema struct's regular and optional fields, sorted.
func fieldNames(v cue.Value) []string {
	var out []string
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return nil
	}
	for it.Next() {
		out = append(out, it.Selector().Unquoted())
	}
	sort.Strings(out)
	return out
}

// Kinds lists every step kind the schema knows, sorted by name.
func Kinds() []KindInfo {
	s := theSchema()
	out := make([]KindInfo, 0, len(s.names))
	for _, n := range s.names {
		k := s.kinds[n].KindInfo
		// Copies, so callers cannot change the schema.
		k.Inputs = copyMap(k.Inputs)
		k.Outputs = copyMap(k.Outputs)
		out = append(out, k)
	}
	return out
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Source returns the embedded CUE schema text, every file in order, each
// under a "// ---- name ----" header.
func Source() string { return theSchema().source }
