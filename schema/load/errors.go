package load

import (
	"github.com/mlflow-go/mlflow/schema"

	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // checkTimezone: the same zone names on every machine

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/token"
	"github.com/robfig/cron/v3"
)

// cueScope says where a CUE error came from, to rewrite its path and
// message in the user's terms.
type cueScope struct {
	base        []cue.Selector // prepended to the error's path (steps.NAME)
	def         cue.Value      // the schema the user's value was unified with
	workflow    bool           // the #Workflow pass: steps' insides are checked per kind
	constraints []string       // fields that may stay non-concrete
}

type cueEntry struct {
	sels []cue.Selector
	pos  schema.Pos
	msg  string
	disj bool
	subs []string
}

var (
	conflictRe         = regexp.MustCompile(`^conflicting values (.+) and (.+) \(mismatched types (\w+) and (\w+)\)$`)
	sameTypeConflictRe = regexp.MustCompile(`^conflicting values ("[^"]*"|[0-9.eE+-]+|true|false) and ("[^"]*"|[0-9.eE+-]+|true|false)$`)
	disjRe             = regexp.MustCompile(`^\d+ errors in empty disjunction:?$`)
	requiredRe         = regexp.MustCompile(`^required field missing: (\S+)$`)
	listLenRe          = regexp.MustCompile(`^incompatible list lengths \((\d+) and (\d+)\)$`)
)

// addCUE turns CUE errors into positioned user errors. CUE reports paths
// relative to the schema definition and may put positions in the
// embedded schema first; users see their own file and field paths.
func (l *loader) addCUE(err error, base []cue.Selector, def cue.Value, constraints ...string) {
	l.addCUEScoped(err, cueScope{base: base, def: def, workflow: def.Exists() && base == nil, constraints: constraints})
}

func (l *loader) addCUEScoped(err error, sc cueScope) {
	var order []string
	groups := map[string]*cueEntry{}
	for _, e := range cueerrors.Errors(err) {
		p := e.Path()
		switch {
		case len(p) >= 3 && p[0] == "#Kinds" && p[2] == "config":
			p = p[3:]
		case len(p) >= 1 && p[0] == "#Workflow":
			p = p[1:]
		}
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if sc.workflow && len(p) >= 3 && p[0] == "steps" {
			continue // the per-kind pass reports these, with the kind's schema
		}
		if len(p) >= 1 && contains(sc.constraints, p[0]) && isIncomplete(msg) {
			continue // a bound such as <5 in assert is meant to stay open
		}
		if m := requiredRe.FindStringSubmatch(msg); m != nil {
			// Reported on the struct; users look for the field.
			p = append(p[:len(p):len(p)], m[1])
			msg = "field is required but not present"
		}
		sels := append(append([]cue.Selector(nil), sc.base...), toSelectors(p)...)
		// The value at the error's path, when the user wrote one, beats
		// CUE's first position: that may be a param the value came from.
		pos := l.exactPos(sels)
		for _, tp := range append([]token.Pos{e.Position()}, e.InputPositions()...) {
			if pos.Line > 0 {
				break
			}
			pos = l.pos(tp)
		}
		if pos.Line == 0 && len(sels) > 0 && l.user.Exists() {
			pos = l.userPos(sels)
		}
		key := selPath(sels)
		g := groups[key]
		if g == nil {
			g = &cueEntry{sels: sels, pos: pos}
			groups[key] = g
			order = append(order, key)
		}
		if disjRe.MatchString(msg) {
			g.disj = true
			continue
		}
		if g.msg == "" {
			g.msg = msg
			if pos.Line > 0 {
				g.pos = pos
			}
		}
		if !contains(g.subs, msg) {
			g.subs = append(g.subs, msg)
		}
	}
	for _, key := range order {
		g := groups[key]
		var msgs []string
		if g.disj {
			msgs = []string{l.disjunctionMessage(g, sc)}
		} else {
			for _, m := range g.subs {
				msgs = append(msgs, l.rewrite(m, g, sc))
			}
		}
		for _, m := range msgs {
			l.errs = append(l.errs, &schema.Error{Pos: g.pos, Path: key, Msg: m})
		}
	}
}

func (l *loader) rewrite(msg string, g *cueEntry, sc cueScope) string {
	rel := g.sels[len(sc.base):]
	switch {
	case msg == "field not allowed":
		if len(rel) == 0 {
			return "unknown field"
		}
		parent := schemaAt(sc.def, rel[:len(rel)-1])
		if names := fieldNames(parent); len(names) > 0 && len(names) <= 40 {
			return fmt.Sprintf("unknown field (allowed: %s)", strings.Join(names, ", "))
		}
		return "unknown field"
	case msg == "field is required but not present":
		return "missing required field"
	case strings.Contains(msg, "does not satisfy time.Duration"):
		return fmt.Sprintf("unparsable duration %s: want a Go duration such as \"90s\", \"5m\" or \"1h30m\"", l.userText(g.sels))
	case isIncomplete(msg) && len(g.sels) == 2 && g.sels[0].String() == "params":
		return fmt.Sprintf("param has no value: declare a default or pass -p %s=VALUE", g.sels[1].Unquoted())
	}
	if m := listLenRe.FindStringSubmatch(msg); m != nil && l.user.Exists() {
		if n, err := l.user.LookupPath(cue.MakePath(g.sels...)).Len().Int64(); err == nil {
			a, _ := strconv.Atoi(m[1])
			b, _ := strconv.Atoi(m[2])
			want := a
			if int64(a) == n {
				want = b
			}
			if n == 0 {
				return fmt.Sprintf("must not be empty (want at least %d element(s))", want)
			}
			return fmt.Sprintf("wrong number of elements: got %d, want %d", n, want)
		}
	}
	if len(g.sels) == 2 && g.sels[0].String() == "steps" && conflictRe.MatchString(msg) {
		return fmt.Sprintf("a step must be a mapping with a kind, got %s", l.userText(g.sels))
	}
	if m := conflictRe.FindStringSubmatch(msg); m != nil {
		user := l.userText(g.sels)
		switch user {
		case m[1]:
			return fmt.Sprintf("wrong type: got %s (%s), want %s", m[1], m[3], m[2])
		case m[2]:
			return fmt.Sprintf("wrong type: got %s (%s), want %s", m[2], m[4], m[1])
		}
	}
	return msg
}

// disjunctionMessage replaces CUE's "N errors in empty disjunction" and its
// sub-errors with what the value was and what the schema allows there.
func (l *loader) disjunctionMessage(g *cueEntry, sc cueScope) string {
	user := l.userText(g.sels)
	// Plain conflicts with the user's value name every allowed constant,
	// and only those the evaluation kept (automl's metrics for its task).
	var consts []string
	for _, m := range g.subs {
		cm := sameTypeConflictRe.FindStringSubmatch(m)
		switch {
		case cm == nil || user == "":
			consts = nil
		case cm[2] == user:
			consts = append(consts, cm[1])
			continue
		case cm[1] == user:
			consts = append(consts, cm[2])
			continue
		}
		break
	}
	if len(consts) == len(g.subs) && len(consts) > 0 {
		return fmt.Sprintf("invalid value %s: want one of %s", user, strings.Join(consts, ", "))
	}
	// Only some branches failing for reasons other than a plain conflict
	// (a default that lost to an override, say): those are the news.
	var other []string
	for _, m := range g.subs {
		if !strings.HasPrefix(m, "conflicting values ") {
			other = append(other, l.rewrite(m, g, sc))
		}
	}
	if len(other) > 0 && len(other) < len(g.subs) {
		return strings.Join(other, "; or ")
	}
	want := ""
	if rel := g.sels[len(sc.base):]; sc.def.Exists() {
		if v := schemaAt(sc.def, rel); v.Exists() {
			want = strings.Join(alternatives(v), " | ")
			if len(want) > 300 || strings.Contains(want, "\n") {
				want = ""
			}
		}
	}
	uv := l.user.LookupPath(cue.MakePath(g.sels...))
	sv := schemaAt(sc.def, g.sels[len(sc.base):])
	switch {
	case want != "" && user != "" && uv.IsConcrete() && sv.Exists() && sv.IncompleteKind()&uv.Kind() == 0:
		return fmt.Sprintf("wrong type: got %s (%s), want %s", user, uv.Kind(), want)
	case want != "" && user != "":
		return fmt.Sprintf("invalid value %s: want %s", user, want)
	case want != "":
		return "invalid value: want " + want
	}
	return strings.Join(g.subs, "; or ")
}

// alternatives lists a disjunction's branches as CUE text, references to
// other definitions expanded (#RegressionMetric means nothing to a YAML
// user).
func alternatives(v cue.Value) []string {
	op, args := v.Expr()
	if op == cue.SelectorOp {
		if r, p := v.ReferencePath(); r.Exists() && len(p.Selectors()) > 0 {
			return alternatives(r.LookupPath(p))
		}
	}
	if op == cue.OrOp {
		var out []string
		for _, a := range args {
			out = append(out, alternatives(a)...)
		}
		return out
	}
	b, err := format.Node(v.Syntax(cue.Raw()))
	if err != nil {
		return nil
	}
	return []string{string(b)}
}

// schemaAt looks up a field of a schema, optional fields included.
func schemaAt(def cue.Value, sels []cue.Selector) cue.Value {
	if !def.Exists() {
		return def
	}
	v := def
	for _, s := range sels {
		if s.Type() == cue.IndexLabel {
			v = v.LookupPath(cue.MakePath(cue.AnyIndex))
		} else {
			v = v.LookupPath(cue.MakePath(s.Optional()))
			if !v.Exists() {
				v = def.LookupPath(cue.MakePath(cue.AnyString))
			}
		}
		if !v.Exists() {
			return v
		}
	}
	return v
}

// exactPos is the position of the user's value at sels, if there is one.
func (l *loader) exactPos(sels []cue.Selector) schema.Pos {
	if !l.user.Exists() || len(sels) == 0 {
		return schema.Pos{File: l.file}
	}
	return l.pos(l.user.LookupPath(cue.MakePath(sels...)).Pos())
}

// userText is the user's value at sels as CUE text, "" if unknown.
func (l *loader) userText(sels []cue.Selector) string {
	if !l.user.Exists() {
		return ""
	}
	v := l.user.LookupPath(cue.MakePath(sels...))
	if !v.Exists() {
		return ""
	}
	b, err := format.Node(v.Syntax(cue.Final()))
	if err != nil || len(b) > 80 || strings.Contains(string(b), "\n") {
		return ""
	}
	return string(b)
}

func isIncomplete(msg string) bool {
	return strings.Contains(msg, "incomplete value") || strings.Contains(msg, "non-concrete value")
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// toSelectors converts a CUE error path back into selectors.
func toSelectors(p []string) []cue.Selector {
	out := make([]cue.Selector, 0, len(p))
	for _, s := range p {
		if n, err := strconv.Atoi(s); err == nil {
			out = append(out, cue.Index(n))
			continue
		}
		if strings.HasPrefix(s, "#") {
			out = append(out, cue.Def(s))
			continue
		}
		if u, err := strconv.Unquote(s); err == nil {
			s = u
		}
		out = append(out, cue.Str(s))
	}
	return out
}

// cueMessage is an error's messages without CUE's path prefix.
func cueMessage(err error) string {
	var msgs []string
	for _, e := range cueerrors.Errors(err) {
		format, args := e.Msg()
		m := fmt.Sprintf(format, args...)
		if !disjRe.MatchString(m) && !contains(msgs, m) {
			msgs = append(msgs, m)
		}
	}
	return strings.Join(msgs, "; ")
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func checkCron(s string) error {
	if strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=") {
		return fmt.Errorf("set the time zone in timezone, not in the expression")
	}
	_, err := cronParser.Parse(s)
	return err
}

// checkTimezone accepts IANA names only. The zone database is embedded
// (time/tzdata) so a name valid on one machine is valid on every one; "Local"
// is refused since it would mean the server's zone, not the file's.
func checkTimezone(s string) error {
	if s == "" || s == "Local" {
		return fmt.Errorf("unknown time zone %q: want an IANA name such as \"Europe/Paris\" or \"UTC\"", s)
	}
	if _, err := time.LoadLocation(s); err != nil {
		return fmt.Errorf("unknown time zone %q: want an IANA name such as \"Europe/Paris\" or \"UTC\"", s)
	}
	return nil
}

// sorted returns the errors in file order, each once, as the error to
// return: nil for none, the *Error itself for one.
func sorted(l schema.ErrorList) error {
	if len(l) == 0 {
		return nil
	}
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i].Pos, l[j].Pos
		if (a.Line == 0) != (b.Line == 0) {
			return a.Line == 0 // file-level errors (no line) first
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	out := l[:0]
	seen := map[string]bool{}
	for _, e := range l {
		if s := e.Error(); !seen[s] {
			seen[s] = true
			out = append(out, e)
		}
	}
	if len(out) == 1 {
		return out[0]
	}
	return out
}
