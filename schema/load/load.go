package load

import (
	"github.com/mlflow-go/mlflow/schema"

	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/ast/astutil"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	cuejson "cuelang.org/go/encoding/json"
	cueyaml "cuelang.org/go/encoding/yaml"
)

// Options tune File and Bytes.
type Options struct {
	// Params are -p name=value overrides, raw strings typed by the schema
	// (a param declared as a number gets a number).
	Params map[string]string
	// Target overrides the file's target (mlflow run --target azureml): the
	// checks a target adds (azureml.go) then apply to a file that does not
	// name it.
	Target string
}

// File reads a workflow (.cue, .yaml, .yml or .json), unifies it with the
// embedded schema, applies overrides, validates it (kinds, fields, types,
// references, output types, cycles, durations) and returns plain Go values.
// User errors are *Error or ErrorList, each with file:line:column.
func File(path string, opts Options) (*schema.Workflow, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &schema.Error{Pos: schema.Pos{File: path}, Msg: "no such file"}
		}
		return nil, &schema.Error{Pos: schema.Pos{File: path}, Msg: err.Error()}
	}
	return Bytes(path, src, opts)
}

// Bytes is File on a file's content; path names it in positions and
// decides its format by extension.
func Bytes(path string, src []byte, opts Options) (*schema.Workflow, error) {
	var wf *schema.Workflow
	err := withLoaded(path, src, opts, func(_ *loader, w *schema.Workflow) { wf = w })
	return wf, err
}

// withLoaded loads src and, when it is a valid workflow, hands it and its loader to use
// while the schema's lock is still held: the loader's CUE values are not safe for
// concurrent use.
func withLoaded(path string, src []byte, opts Options, use func(*loader, *schema.Workflow)) error {
	s := theSchema()
	s.mu.Lock()
	defer s.mu.Unlock()
	l := &loader{s: s, file: path, target: opts.Target}
	wf, err := l.load(src, opts)
	switch {
	case err != nil:
		return err
	case len(l.errs) > 0:
		return sorted(l.errs)
	case wf == nil:
		return &schema.Error{Pos: schema.Pos{File: path}, Msg: "invalid workflow"}
	}
	use(l, wf)
	return nil
}

type loader struct {
	s      *compiled
	file   string    // as the user gave it: positions print it
	target string    // Options.Target
	user   cue.Value // the user's file alone: the source of positions
	errs   schema.ErrorList
	src    []byte // the file as read: where params were written (azureml.go)
}

func (l *loader) errorf(pos schema.Pos, path, format string, args ...any) {
	if pos.File == "" {
		pos.File = l.file
	}
	l.errs = append(l.errs, &schema.Error{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) load(src []byte, opts Options) (*schema.Workflow, error) {
	ctx := l.s.ctx
	l.src = src
	// Each stage edits a freshly parsed tree, never one already built:
	// the compiler follows identifiers to the nodes the parser resolved
	// them to, so edits are followed by reresolve, and a built tree is
	// left as it was.
	fresh := func(overrides func() []ast.Decl) (*ast.File, error) {
		f, err := l.parse(src)
		if err != nil || f == nil {
			return nil, err
		}
		defaultParams(f)
		if overrides != nil {
			// Into the declaring field itself: a second top-level params
			// field would not be what references to params resolve to.
			pf := paramFields(f)
			if len(pf) == 0 {
				return nil, &schema.Error{Pos: schema.Pos{File: l.file, Line: 1, Column: 1}, Msg: "-p: params must be declared as a top-level params field to be overridden"}
			}
			pf[0].Value = &ast.BinaryExpr{Op: token.AND, X: pf[0].Value, Y: &ast.StructLit{Elts: overrides()}}
			reresolve(f)
		}
		return f, nil
	}
	f, err := fresh(nil)
	if err != nil || f == nil {
		return nil, err
	}
	var overrides func() []ast.Decl
	if len(opts.Params) > 0 {
		if overrides = l.typeOverrides(f, opts.Params); overrides == nil {
			return nil, nil
		}
		if f, err = fresh(overrides); err != nil {
			return nil, err
		}
	}
	l.user = ctx.BuildFile(f)
	// An override the param's own constraint rejects is the -p's fault:
	// say so before anything else.
	if len(opts.Params) > 0 && !l.checkOverrides(opts.Params) {
		return nil, nil
	}
	if err := l.user.Err(); err != nil {
		l.addCUE(err, nil, cue.Value{})
		return nil, nil
	}
	if bytes.Contains(src, []byte("${{")) {
		if f, err = fresh(overrides); err != nil {
			return nil, err
		}
		changed, ok := l.substituteParams(f)
		if !ok {
			return nil, nil
		}
		if changed {
			reresolve(f)
			l.user = ctx.BuildFile(f)
			if err := l.user.Err(); err != nil {
				l.addCUE(err, nil, cue.Value{})
				return nil, nil
			}
		}
	}
	return l.validate(), nil
}

// parse reads the file into CUE syntax, keeping positions in every format.
func (l *loader) parse(src []byte) (*ast.File, error) {
	switch ext := strings.ToLower(filepath.Ext(l.file)); ext {
	case ".cue":
		f, err := parser.ParseFile(l.file, src)
		if err != nil {
			l.addCUE(err, nil, cue.Value{})
			return nil, nil
		}
		return f, nil
	case ".yaml", ".yml":
		f, err := cueyaml.Extract(l.file, src)
		if err != nil {
			l.addYAMLError(err)
			return nil, nil
		}
		if err := l.topLevelObject(f); err != nil {
			return nil, err
		}
		return f, nil
	case ".json":
		x, err := cuejson.Extract(l.file, src)
		if err != nil {
			pos := schema.Pos{File: l.file}
			if ps := cueerrors.Positions(err); len(ps) > 0 {
				pos = l.pos(ps[0])
			}
			msg := err.Error()
			if u := errors.Unwrap(err); u != nil {
				msg = u.Error()
			}
			l.errorf(pos, "", "JSON syntax error: %s", msg)
			return nil, nil
		}
		f := &ast.File{Filename: l.file}
		if st, ok := x.(*ast.StructLit); ok {
			f.Decls = st.Elts
		} else {
			f.Decls = []ast.Decl{&ast.EmbedDecl{Expr: x}}
		}
		if err := l.topLevelObject(f); err != nil {
			return nil, err
		}
		return f, nil
	default:
		if ext == "" {
			ext = "no extension"
		}
		return nil, &schema.Error{Pos: schema.Pos{File: l.file}, Msg: fmt.Sprintf("unsupported file type (%s): want .cue, .yaml, .yml or .json", ext)}
	}
}

// topLevelObject rejects a YAML or JSON document that is not a mapping:
// CUE would report it against the schema's internals.
func (l *loader) topLevelObject(f *ast.File) error {
	if len(f.Decls) == 1 {
		if e, ok := f.Decls[0].(*ast.EmbedDecl); ok {
			// An empty YAML document is null, or *null | _ for an empty
			// stream: report what it lacks, not that it is no mapping.
			b, isLit := e.Expr.(*ast.BasicLit)
			_, isBin := e.Expr.(*ast.BinaryExpr)
			if isBin || isLit && b.Kind == token.NULL {
				f.Decls = nil
				return nil
			}
		}
	}
	for _, d := range f.Decls {
		if e, ok := d.(*ast.EmbedDecl); ok {
			pos := l.pos(e.Expr.Pos())
			if pos.Line == 0 {
				pos.Line, pos.Column = 1, 1 // a stream of several documents
			}
			return &schema.Error{Pos: pos, Msg: "a workflow must be one mapping (name, params, steps, ...)"}
		}
	}
	return nil
}

var yamlErrRe = regexp.MustCompile(`^(?:yaml: )?(.*?):(\d+):(?:(\d+):)? (.*)$`)

// addYAMLError turns a YAML syntax error, which carries its line only in
// the message, into a positioned Error.
func (l *loader) addYAMLError(err error) {
	msg := err.Error()
	m := yamlErrRe.FindStringSubmatch(msg)
	if m == nil || m[1] != l.file {
		l.addCUE(err, nil, cue.Value{})
		return
	}
	line, _ := strconv.Atoi(m[2])
	col, _ := strconv.Atoi(m[3])
	l.errorf(schema.Pos{File: l.file, Line: line, Column: col}, "", "YAML syntax error: %s", m[4])
}

// defaultParams turns every plain param value into a default of its type,
// so that `budget: "60s"` (the only way to declare one in YAML or JSON)
// can be overridden like `budget: *"60s" | string`.
func defaultParams(f *ast.File) {
	for _, st := range paramStructs(f) {
		for _, e := range st.Elts {
			fld, ok := e.(*ast.Field)
			if !ok {
				continue
			}
			if typ := literalType(fld.Value); typ != "" {
				fld.Value = &ast.BinaryExpr{
					Op: token.OR,
					X:  &ast.UnaryExpr{Op: token.MUL, X: fld.Value},
					Y:  ast.NewIdent(typ),
				}
			}
		}
	}
}

// reresolve redoes the parser's identifier resolution after the syntax
// was edited: the compiler follows each identifier to the node it was
// resolved to, and an edit can replace that node.
func reresolve(f *ast.File) {
	ast.Walk(f, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok {
			id.Node, id.Scope = nil, nil
		}
		return true
	}, nil)
	f.Unresolved = nil
	astutil.Resolve(f, func(token.Pos, string, ...any) {})
}

// paramFields finds the file's top-level params fields.
func paramFields(f *ast.File) []*ast.Field {
	var out []*ast.Field
	for _, d := range f.Decls {
		fld, ok := d.(*ast.Field)
		if !ok {
			continue
		}
		if name, _, err := ast.LabelName(fld.Label); err == nil && name == "params" {
			out = append(out, fld)
		}
	}
	return out
}

// paramStructs finds the file's top-level `params: {...}` structs.
func paramStructs(f *ast.File) []*ast.StructLit {
	var out []*ast.StructLit
	for _, fld := range paramFields(f) {
		if st, ok := fld.Value.(*ast.StructLit); ok {
			out = append(out, st)
		}
	}
	return out
}

// literalType is the CUE type of a literal, "" for anything else.
func literalType(x ast.Expr) string {
	if u, ok := x.(*ast.UnaryExpr); ok && (u.Op == token.SUB || u.Op == token.ADD) {
		x = u.X
	}
	b, ok := x.(*ast.BasicLit)
	if !ok {
		return ""
	}
	switch b.Kind {
	case token.STRING:
		return "string"
	case token.INT:
		return "int"
	case token.FLOAT:
		return "number"
	case token.TRUE, token.FALSE:
		return "bool"
	}
	return ""
}

// typeOverrides types each -p value by the param's declaration in f and
// returns a maker of the syntax that adds them to the file, so that they
// are unified into params before anything is evaluated and a CUE
// reference (params.budget) sees them. nil means errors were reported.
func (l *loader) typeOverrides(f *ast.File, params map[string]string) func() []ast.Decl {
	decl := l.s.ctx.BuildFile(f)
	if err := decl.Err(); err != nil {
		l.addCUE(err, nil, cue.Value{})
		return nil
	}
	declared := fieldNames(decl.LookupPath(cue.ParsePath("params")))
	kinds := map[string]cue.Kind{}
	for _, name := range sortedKeys(params) {
		raw := params[name]
		pv := decl.LookupPath(cue.MakePath(cue.Str("params"), cue.Str(name)))
		if !pv.Exists() {
			pos := l.pos(decl.LookupPath(cue.ParsePath("params")).Pos())
			if len(declared) == 0 {
				l.errorf(pos, "", "-p %s=%s: unknown param %q: the workflow declares no params", name, raw, name)
			} else {
				l.errorf(pos, "", "-p %s=%s: unknown param %q (params: %s)", name, raw, name, strings.Join(declared, ", "))
			}
			continue
		}
		k := pv.IncompleteKind()
		if _, ok := typedLiteral(k, raw); !ok {
			l.errorf(l.pos(pv.Pos()), "params."+name, "-p %s=%s: want %s", name, raw, kindName(k))
			continue
		}
		kinds[name] = k
	}
	if len(l.errs) > 0 {
		return nil
	}
	return func() []ast.Decl {
		var fields []ast.Decl
		for _, name := range sortedKeys(params) {
			lit, _ := typedLiteral(kinds[name], params[name])
			fields = append(fields, &ast.Field{Label: ast.NewString(name), Value: lit})
		}
		return fields
	}
}

// checkOverrides reports an override that the param's own constraints
// reject (say -p budget=10 when budget is a string matching =~"s$").
func (l *loader) checkOverrides(params map[string]string) bool {
	ok := true
	for _, name := range sortedKeys(params) {
		pv := l.user.LookupPath(cue.MakePath(cue.Str("params"), cue.Str(name)))
		if err := pv.Validate(cue.Concrete(true)); err != nil {
			msg := cueMessage(err)
			// "conflicting values "60s" and "10"" is the default losing,
			// which is what an override is for; the constraint is the news.
			if parts := strings.Split(msg, "; "); len(parts) > 1 {
				var keep []string
				for _, p := range parts {
					if !strings.HasPrefix(p, "conflicting values ") {
						keep = append(keep, p)
					}
				}
				if len(keep) > 0 {
					msg = strings.Join(keep, "; ")
				}
			}
			l.errorf(l.pos(pv.Pos()), "params."+name, "-p %s=%s: %s", name, params[name], msg)
			ok = false
		}
	}
	return ok
}

var numberRe = regexp.MustCompile(`^[-+]?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$`)

// typedLiteral turns a raw -p value into a literal of the param's type,
// trying the narrowest type the declaration allows first.
func typedLiteral(k cue.Kind, raw string) (ast.Expr, bool) {
	if k&cue.BoolKind != 0 {
		if b, err := strconv.ParseBool(raw); err == nil {
			return ast.NewBool(b), true
		}
	}
	if k&cue.IntKind != 0 {
		if _, err := strconv.ParseInt(raw, 10, 64); err == nil {
			return signedLit(token.INT, raw), true
		}
	}
	if k&cue.FloatKind != 0 && numberRe.MatchString(raw) {
		tok := token.FLOAT
		if !strings.ContainsAny(raw, ".eE") {
			tok = token.INT
		}
		return signedLit(tok, raw), true
	}
	if k&cue.StringKind != 0 {
		return ast.NewString(raw), true
	}
	return nil, false
}

func signedLit(tok token.Token, raw string) ast.Expr {
	switch {
	case strings.HasPrefix(raw, "-"):
		return &ast.UnaryExpr{Op: token.SUB, X: ast.NewLit(tok, raw[1:])}
	case strings.HasPrefix(raw, "+"):
		return ast.NewLit(tok, raw[1:])
	}
	return ast.NewLit(tok, raw)
}

func kindName(k cue.Kind) string {
	switch {
	case k == cue.BoolKind:
		return "a bool (true or false)"
	case k == cue.IntKind:
		return "an integer"
	case k&^cue.NumberKind == 0:
		return "a number"
	case k&cue.StructKind != 0 || k&cue.ListKind != 0:
		return "a plain value, but this param is a " + k.String() + " and cannot be set from the command line"
	}
	return k.String()
}

// Expressions in strings: ${{ steps.S.outputs.O }} and ${{ params.P }}.
var (
	exprRe   = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)
	stepRe   = regexp.MustCompile(`^steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)$`)
	paramRe  = regexp.MustCompile(`^params\.([A-Za-z0-9_-]+)$`)
	nameRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	exprHelp = "want ${{ steps.STEP.outputs.OUTPUT }} or ${{ params.NAME }}"
)

// substituteParams replaces ${{ params.P }} in every string literal of
// the file: a string that is exactly one such expression becomes the
// param's value with its type (a number stays a number), otherwise the
// value is spliced into the text. It runs on syntax, before the schema
// sees the file, so a number field can take a number param.
func (l *loader) substituteParams(f *ast.File) (changed, ok bool) {
	ok = true
	astutil.Apply(f, func(c astutil.Cursor) bool {
		lit, isLit := c.Node().(*ast.BasicLit)
		if !isLit || lit.Kind != token.STRING || !strings.Contains(lit.Value, "${{") {
			return true
		}
		switch p := c.Parent().Node().(type) {
		case *ast.Field:
			if p.Label == ast.Label(lit) {
				return true
			}
		case *ast.Interpolation:
			return true
		}
		s, err := literal.Unquote(lit.Value)
		if err != nil {
			return true
		}
		ms := exprRe.FindAllStringSubmatchIndex(s, -1)
		var b strings.Builder
		last := 0
		replaced := false
		for _, m := range ms {
			pm := paramRe.FindStringSubmatch(s[m[2]:m[3]])
			if pm == nil {
				continue
			}
			val, text, good := l.paramValue(pm[1], lit.Pos())
			if !good {
				ok = false
				return true
			}
			if m[0] == 0 && m[1] == len(s) && len(ms) == 1 {
				ast.SetPos(val, lit.Pos())
				c.Replace(val)
				changed = true
				return true
			}
			b.WriteString(s[last:m[0]])
			b.WriteString(text)
			last = m[1]
			replaced = true
		}
		if replaced {
			b.WriteString(s[last:])
			n := ast.NewString(b.String())
			ast.SetPos(n, lit.Pos())
			c.Replace(n)
			changed = true
		}
		return true
	}, nil)
	return changed, ok
}

// paramValue returns a param's final value as syntax and as text.
func (l *loader) paramValue(name string, at token.Pos) (ast.Expr, string, bool) {
	pv := l.user.LookupPath(cue.MakePath(cue.Str("params"), cue.Str(name)))
	if !pv.Exists() {
		declared := fieldNames(l.user.LookupPath(cue.ParsePath("params")))
		msg := fmt.Sprintf("${{ params.%s }}: no such param", name)
		if len(declared) > 0 {
			msg += " (params: " + strings.Join(declared, ", ") + ")"
		} else {
			msg += " (the workflow declares no params)"
		}
		l.errorf(l.pos(at), "", "%s", msg)
		return nil, "", false
	}
	if d, ok := pv.Default(); ok {
		pv = d
	}
	if !pv.IsConcrete() {
		l.errorf(l.pos(at), "", "${{ params.%s }}: the param has no value: declare a default or pass -p %s=VALUE", name, name)
		return nil, "", false
	}
	if s, err := pv.String(); err == nil {
		return ast.NewString(s), s, true
	}
	b, err := format.Node(pv.Syntax(cue.Final()))
	if err != nil {
		l.errorf(l.pos(at), "", "${{ params.%s }}: %v", name, err)
		return nil, "", false
	}
	text := string(b)
	x, err := parser.ParseExpr("", b)
	if err != nil {
		l.errorf(l.pos(at), "", "${{ params.%s }}: %v", name, err)
		return nil, "", false
	}
	return x, text, true
}

// commonFields are the fields every kind has; they become Step fields, not
// Config entries.
var commonFields = map[string]bool{"kind": true, "needs": true, "timeout": true, "retry": true, "cache": true, "description": true}

// stepInfo is what validation keeps about each step.
type stepInfo struct {
	step *schema.Step
	kind *kindDef // nil for an unknown kind
	refs []fieldRef
	// needPos is the position of each explicit needs entry.
	needs   []string
	needPos []schema.Pos
	ok      bool // decoded without errors
}

type fieldRef struct {
	field string // dotted config path without list indexes: "input.dataset"
	path  string // full path for messages: "steps.deploy.model"
	ref   schema.Ref
}

// validate unifies the file with the schema and decodes it. Errors are
// collected in l.errs.
func (l *loader) validate() *schema.Workflow {
	s := l.s
	w := s.workflow.Unify(l.user)
	if err := w.Validate(cue.Concrete(true), cue.All()); err != nil {
		l.addCUE(err, nil, s.workflow)
		l.validateFields(w, l.user, nil, s.workflow, nil, "steps")
	}
	wf := &schema.Workflow{File: l.file, Steps: map[string]*schema.Step{}, Params: map[string]any{}}
	if abs, err := filepath.Abs(l.file); err == nil {
		wf.File = abs
	}
	wf.Dir = filepath.Dir(wf.File)
	wf.Name, _ = w.LookupPath(cue.ParsePath("name")).String()
	if t, ok := w.LookupPath(cue.ParsePath("target")).Default(); ok {
		wf.Target, _ = t.String()
	} else {
		wf.Target, _ = w.LookupPath(cue.ParsePath("target")).String()
	}
	wf.TargetPos = l.userPos([]cue.Selector{cue.Str("target")})
	if l.target != "" {
		wf.Target = l.target
	}
	if v := w.LookupPath(cue.ParsePath("azureml")); v.Exists() {
		if m, err := l.toGo(v, nil, nil, false); err == nil {
			wf.AzureML, _ = m.(map[string]any)
		}
	}
	if v := w.LookupPath(cue.ParsePath("params")); v.Exists() {
		if m, err := l.toGo(v, nil, nil, false); err == nil {
			if mm, ok := m.(map[string]any); ok {
				wf.Params = mm
			}
		}
	}

	stepsV := l.user.LookupPath(cue.ParsePath("steps"))
	if !stepsV.Exists() {
		// #Workflow's steps! already reported it.
		return wf
	}
	infos := map[string]*stepInfo{}
	it, err := stepsV.Fields()
	if err != nil {
		// steps is not a struct: the workflow pass reported it.
		return wf
	}
	for it.Next() {
		name := it.Selector().Unquoted()
		info := l.step(name, it.Value())
		infos[name] = info
		wf.Steps[name] = info.step
		wf.Order = append(wf.Order, name)
	}
	if len(infos) == 0 {
		l.errorf(l.pos(stepsV.Pos()), "steps", "a workflow needs at least one step")
		return wf
	}
	sort.Strings(wf.Order)
	l.checkGraph(wf, infos)
	if wf.Target == "azureml" && len(l.errs) == 0 {
		// What Azure cannot do, once the file is otherwise valid.
		l.checkAzureML(wf, infos)
	}
	return wf
}

// step validates one step against its kind's schema and decodes it.
func (l *loader) step(name string, sv cue.Value) *stepInfo {
	s := l.s
	base := []cue.Selector{cue.Str("steps"), cue.Str(name)}
	path := "steps." + name
	st := &schema.Step{Name: name, Cache: true, Retry: schema.Retry{Attempts: 1}, Pos: l.pos(sv.Pos())}
	info := &stepInfo{step: st}
	if !nameRe.MatchString(name) {
		l.errorf(st.Pos, path, "invalid step name %q: use letters, digits, _ and - (starting with a letter or _)", name)
	}
	if sv.IncompleteKind()&cue.StructKind == 0 {
		return info // the workflow pass reported it: a step must be a mapping
	}
	kv := sv.LookupPath(cue.ParsePath("kind"))
	if !kv.Exists() {
		l.errorf(st.Pos, path+".kind", "missing required field (kinds: %s)", strings.Join(s.names, ", "))
		return info
	}
	kind, err := kv.String()
	if err != nil {
		return info // reported by the workflow pass (kind must be a string)
	}
	st.Kind = kind
	k := s.kinds[kind]
	if k == nil {
		l.errorf(l.pos(kv.Pos()), path+".kind", "unknown step kind %q (kinds: %s)", kind, strings.Join(s.names, ", "))
		return info
	}
	info.kind = k
	st.Outputs = k.Outputs
	u := k.config.Unify(sv)
	before := len(l.errs)
	if err := u.Validate(cue.Concrete(true), cue.All()); err != nil {
		l.addCUE(err, base, k.config, k.constraints...)
		l.validateFields(u, sv, base, k.config, k.constraints)
	}
	if len(l.errs) > before {
		return info
	}

	// Common fields.
	if v := u.LookupPath(cue.ParsePath("needs")); v.Exists() {
		list, _ := v.List()
		for i := 0; list.Next(); i++ {
			n, _ := list.Value().String()
			info.needs = append(info.needs, n)
			info.needPos = append(info.needPos, l.userPos(append(base, cue.Str("needs"), cue.Index(i))))
		}
	}
	st.Timeout = l.duration(u, base, "timeout")
	if v := u.LookupPath(cue.ParsePath("retry.attempts")); v.Exists() {
		if d, ok := v.Default(); ok {
			v = d
		}
		n, _ := v.Int64()
		st.Retry.Attempts = int(n)
	}
	st.Retry.Backoff = l.duration(u, base, "retry", "backoff")
	if v, ok := u.LookupPath(cue.ParsePath("cache")).Default(); ok {
		st.Cache, _ = v.Bool()
	} else if v := u.LookupPath(cue.ParsePath("cache")); v.Exists() {
		st.Cache, _ = v.Bool()
	}
	st.Description, _ = u.LookupPath(cue.ParsePath("description")).String()

	// Kind fields.
	st.Config = map[string]any{}
	fit, err := u.Fields()
	if err != nil {
		l.errorf(st.Pos, path, "%s", cueMessage(err))
		return info
	}
	for fit.Next() {
		f := fit.Selector().Unquoted()
		if commonFields[f] {
			continue
		}
		constraint := false
		for _, c := range k.constraints {
			if c == f {
				constraint = true
			}
		}
		x, err := l.toGo(fit.Value(), append(base, fit.Selector()), info, constraint)
		if err != nil {
			l.errorf(l.userPos(append(base, fit.Selector())), path+"."+f, "%v", err)
			continue
		}
		st.Config[f] = x
	}
	info.ok = len(l.errs) == before
	return info
}

// validateFields validates each field of v on its own. CUE stops at the
// first conflict in a struct, so a wrong name would hide an unknown field
// beside it; users fixing a file want every error at once. The duplicates
// this finds are dropped when the list is sorted.
func (l *loader) validateFields(v, user cue.Value, base []cue.Selector, def cue.Value, constraints []string, skip ...string) {
	it, err := user.Fields()
	if err != nil {
		return
	}
	for it.Next() {
		sel := it.Selector()
		name := sel.Unquoted()
		if contains(skip, name) {
			continue
		}
		at := append(append([]cue.Selector(nil), base...), sel)
		if !def.Allows(sel) {
			l.errorf(l.userPos(at), selPath(at), "%s", l.rewrite("field not allowed", &cueEntry{sels: at}, cueScope{base: base, def: def}))
			continue
		}
		if err := v.LookupPath(cue.MakePath(sel)).Validate(cue.Concrete(true), cue.All()); err != nil {
			l.addCUEScoped(err, cueScope{base: base, def: def, constraints: constraints})
		}
	}
}

// duration decodes a duration field the schema has already checked.
func (l *loader) duration(u cue.Value, base []cue.Selector, field ...string) time.Duration {
	sels := make([]cue.Selector, len(field))
	for i, f := range field {
		sels[i] = cue.Str(f)
	}
	v := u.LookupPath(cue.MakePath(sels...))
	if !v.Exists() {
		return 0
	}
	s, err := v.String()
	if err != nil {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		l.errorf(l.userPos(append(base, sels...)), selPath(append(base, sels...)), "unparsable duration %q: %v", s, err)
	}
	return d
}

// toGo converts an evaluated value into plain Go values. Strings holding
// ${{ steps.S.outputs.O }} become Ref or Template and are recorded in
// info. Under a constraints field a non-concrete value (a CUE bound such
// as <5) becomes its source text, the form YAML and JSON users write.
func (l *loader) toGo(v cue.Value, sels []cue.Selector, info *stepInfo, constraint bool) (any, error) {
	if d, ok := v.Default(); ok {
		v = d
	}
	switch v.Kind() {
	case cue.StructKind:
		out := map[string]any{}
		it, err := v.Fields()
		if err != nil {
			return nil, err
		}
		for it.Next() {
			x, err := l.toGo(it.Value(), append(sels[:len(sels):len(sels)], it.Selector()), info, constraint)
			if err != nil {
				return nil, err
			}
			out[it.Selector().Unquoted()] = x
		}
		return out, nil
	case cue.ListKind:
		out := []any{}
		it, err := v.List()
		if err != nil {
			return nil, err
		}
		for i := 0; it.Next(); i++ {
			x, err := l.toGo(it.Value(), append(sels[:len(sels):len(sels)], cue.Index(i)), info, constraint)
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		return out, nil
	case cue.StringKind:
		s, _ := v.String()
		if info == nil || !strings.Contains(s, "${{") {
			return s, nil
		}
		return l.parseRefs(s, sels, info), nil
	case cue.IntKind:
		n, err := v.Int64()
		if err != nil {
			return nil, fmt.Errorf("integer out of range: %v", err)
		}
		return n, nil
	case cue.FloatKind:
		f, err := v.Float64()
		if err != nil {
			return nil, err
		}
		return f, nil
	case cue.BoolKind:
		b, _ := v.Bool()
		return b, nil
	case cue.NullKind:
		return nil, nil
	}
	if constraint {
		b, err := format.Node(v.Syntax(cue.Final()))
		if err != nil {
			return nil, err
		}
		return string(b), nil
	}
	return nil, fmt.Errorf("incomplete value: a concrete value is needed")
}

// parseRefs turns a string with ${{ steps.S.outputs.O }} into a Ref (the
// whole string) or a Template.
func (l *loader) parseRefs(s string, sels []cue.Selector, info *stepInfo) any {
	pos := l.userPos(sels)
	path := selPath(sels)
	field := configField(sels)
	ms := exprRe.FindAllStringSubmatchIndex(s, -1)
	var parts []any
	last := 0
	for _, m := range ms {
		expr := s[m[2]:m[3]]
		sm := stepRe.FindStringSubmatch(expr)
		if sm == nil {
			if paramRe.MatchString(expr) {
				l.errorf(pos, path, "${{ %s }} cannot be used here: params are substituted in string values only", expr)
			} else {
				l.errorf(pos, path, "unknown expression ${{ %s }}: %s", expr, exprHelp)
			}
			continue
		}
		r := schema.Ref{Step: sm[1], Output: sm[2], Pos: pos}
		info.refs = append(info.refs, fieldRef{field: field, path: path, ref: r})
		if m[0] == 0 && m[1] == len(s) {
			return r
		}
		if m[0] > last {
			parts = append(parts, s[last:m[0]])
		}
		parts = append(parts, r)
		last = m[1]
	}
	if len(parts) == 0 {
		return s
	}
	if last < len(s) {
		parts = append(parts, s[last:])
	}
	return schema.Template{Parts: parts}
}

// configField is the dotted config path of a value below steps.NAME,
// without list indexes: the form #Kinds inputs use.
func configField(sels []cue.Selector) string {
	var parts []string
	for i, s := range sels {
		if i < 2 || s.Type() == cue.IndexLabel {
			continue
		}
		parts = append(parts, s.Unquoted())
	}
	return strings.Join(parts, ".")
}

func selPath(sels []cue.Selector) string {
	var b strings.Builder
	for _, s := range sels {
		if s.Type() == cue.IndexLabel {
			fmt.Fprintf(&b, "[%s]", s.String())
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.String())
	}
	return b.String()
}

// checkGraph checks references, needs and kind-specific cross-checks, and
// builds each step's Needs; then looks for cycles.
func (l *loader) checkGraph(wf *schema.Workflow, infos map[string]*stepInfo) {
	for _, name := range wf.Order {
		info := infos[name]
		deps := map[string]bool{}
		for i := range info.refs {
			fr := &info.refs[i]
			target, ok := infos[fr.ref.Step]
			if !ok {
				l.errorf(fr.ref.Pos, fr.path, "%s: no step named %q (steps: %s)", fr.ref, fr.ref.Step, strings.Join(wf.Order, ", "))
				continue
			}
			deps[fr.ref.Step] = true
			if target.kind == nil {
				continue // unknown kind, already reported
			}
			typ, ok := target.kind.Outputs[fr.ref.Output]
			if !ok {
				l.errorf(fr.ref.Pos, fr.path, "%s: step %s (kind %s) has no output %q (outputs: %s)",
					fr.ref, fr.ref.Step, target.kind.Kind, fr.ref.Output, strings.Join(sortedKeys(target.kind.Outputs), ", "))
				continue
			}
			fr.ref.Type = typ
			if want, ok := info.kind.Inputs[fr.field]; ok && want != typ {
				l.errorf(fr.ref.Pos, fr.path, "needs %s %s, steps.%s.outputs.%s is %s %s",
					article(want), want, fr.ref.Step, fr.ref.Output, article(typ), typ)
			}
			setRefType(info.step.Config, fr.ref)
		}
		for i, n := range info.needs {
			if _, ok := infos[n]; !ok {
				l.errorf(info.needPos[i], fmt.Sprintf("steps.%s.needs[%d]", name, i), "no step named %q (steps: %s)", n, strings.Join(wf.Order, ", "))
				continue
			}
			deps[n] = true
		}
		if info.kind != nil && info.ok {
			l.kindChecks(wf, name, info)
		}
		info.step.Needs = sortedKeys(deps)
	}
	l.checkCycles(wf)
}

// setRefType fills in the Type of every Ref equal to r (same step, output
// and position) inside a config.
func setRefType(v any, r schema.Ref) any {
	switch x := v.(type) {
	case schema.Ref:
		if x.Step == r.Step && x.Output == r.Output && x.Pos == r.Pos {
			x.Type = r.Type
		}
		return x
	case schema.Template:
		for i, p := range x.Parts {
			x.Parts[i] = setRefType(p, r)
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = setRefType(e, r)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = setRefType(e, r)
		}
		return x
	}
	return v
}

func article(s string) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "an"
	}
	return "a"
}

// kindChecks runs the #Kinds checks CUE cannot express.
func (l *loader) kindChecks(wf *schema.Workflow, name string, info *stepInfo) {
	for _, field := range sortedKeys(info.kind.checks) {
		check := info.kind.checks[field]
		sels := []cue.Selector{cue.Str("steps"), cue.Str(name)}
		var v any = info.step.Config
		for _, f := range strings.Split(field, ".") {
			sels = append(sels, cue.Str(f))
			m, _ := v.(map[string]any)
			v = m[f]
		}
		if v == nil {
			continue
		}
		path := selPath(sels)
		switch check {
		case "steps", "params":
			list, _ := v.([]any)
			for i, e := range list {
				s, _ := e.(string)
				at := l.userPos(append(sels, cue.Index(i)))
				if check == "steps" {
					if _, ok := wf.Steps[s]; !ok {
						l.errorf(at, fmt.Sprintf("%s[%d]", path, i), "no step named %q (steps: %s)", s, strings.Join(wf.Order, ", "))
					} else if s == name {
						l.errorf(at, fmt.Sprintf("%s[%d]", path, i), "a %s step cannot include itself", info.kind.Kind)
					}
				} else if _, ok := wf.Params[s]; !ok {
					l.errorf(at, fmt.Sprintf("%s[%d]", path, i), "no param named %q (params: %s)", s, strings.Join(sortedKeys(wf.Params), ", "))
				}
			}
		case "cron":
			s, _ := v.(string)
			if err := checkCron(s); err != nil {
				l.errorf(l.userPos(sels), path, "invalid cron expression %q: %v", s, err)
			}
		case "schedule":
			m, _ := v.(map[string]any)
			_, cron := m["cron"]
			every, isEvery := m["every"].(string)
			_, tz := m["timezone"]
			switch {
			case cron == isEvery:
				l.errorf(l.userPos(sels), path, "want cron or every, exactly one of them")
			case tz && !cron:
				l.errorf(l.userPos(append(sels, cue.Str("timezone"))), path+".timezone", "timezone goes with cron; every counts real time")
			case isEvery:
				if d, err := time.ParseDuration(every); err == nil && d < time.Second {
					l.errorf(l.userPos(append(sels, cue.Str("every"))), path+".every", "%s is shorter than the scheduler's 1s resolution", every)
				}
			}
		case "timezone":
			s, _ := v.(string)
			if err := checkTimezone(s); err != nil {
				l.errorf(l.userPos(sels), path, "%v", err)
			}
		}
	}
}

// checkCycles reports every dependency cycle, naming its steps in order.
func (l *loader) checkCycles(wf *schema.Workflow) {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	seen := map[string]bool{}
	var visit func(n string)
	visit = func(n string) {
		color[n] = grey
		stack = append(stack, n)
		for _, d := range wf.Steps[n].Needs {
			if _, ok := wf.Steps[d]; !ok {
				continue
			}
			switch color[d] {
			case white:
				visit(d)
			case grey:
				i := len(stack) - 1
				for stack[i] != d {
					i--
				}
				cyc := append([]string(nil), stack[i:]...)
				// Each cycle once, from its smallest name, each step
				// followed by one it needs.
				min := 0
				for j := range cyc {
					if cyc[j] < cyc[min] {
						min = j
					}
				}
				cyc = append(cyc[min:], cyc[:min]...)
				key := strings.Join(cyc, " ")
				if !seen[key] {
					seen[key] = true
					first := wf.Steps[cyc[0]]
					l.errorf(first.Pos, "steps."+cyc[0], "dependency cycle: %s -> %s (each step needs the next)", strings.Join(cyc, " -> "), cyc[0])
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
	}
	for _, n := range wf.Order {
		if color[n] == white {
			visit(n)
		}
	}
}

// pos converts a CUE position, keeping only the user's file.
func (l *loader) pos(p token.Pos) schema.Pos {
	if !p.IsValid() || p.Filename() != l.file {
		return schema.Pos{File: l.file}
	}
	return schema.Pos{File: l.file, Line: p.Line(), Column: p.Column()}
}

// userPos is the position of the value at sels in the user's file, or of
// its nearest enclosing value there (a missing field is reported where its
// struct is).
func (l *loader) userPos(sels []cue.Selector) schema.Pos {
	for i := len(sels); i > 0; i-- {
		v := l.user.LookupPath(cue.MakePath(sels[:i]...))
		if !v.Exists() {
			continue
		}
		if p := l.pos(v.Pos()); p.Line > 0 {
			return p
		}
	}
	return schema.Pos{File: l.file, Line: 1, Column: 1}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
