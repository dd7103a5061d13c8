package benchmark

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mlflow-go/mlflow/internal/artifact"
)

// Asserts are the step's assert constraints, by report key. The loader
// hands a CUE bound (p99_ms: <5) over as its text, "<5", the same string a
// YAML or JSON workflow writes; a bare number means equality.
type Asserts struct {
	list []constraint
}

// constraint is one report key and the bounds it must satisfy (all of
// them: ">=1 & <5").
type constraint struct {
	key    string // "p99_ms", or "status.503"
	text   string // as written, for messages
	bounds []bound
}

type bound struct {
	op string
	v  float64
}

// reportValues are the report's numeric keys an assert may constrain;
// status.NNN are added per code.
func reportValues(r artifact.Report) map[string]float64 {
	return map[string]float64{
		"requests": float64(r.Requests), "successes": float64(r.Successes), "failures": float64(r.Failures),
		"error_rate": r.ErrorRate, "rps": r.RPS, "min_ms": r.MinMS, "mean_ms": r.MeanMS, "p50_ms": r.P50MS,
		"p90_ms": r.P90MS, "p99_ms": r.P99MS, "p999_ms": r.P999MS, "max_ms": r.MaxMS,
		"bytes": float64(r.Bytes), "duration_ms": r.DurationMS,
	}
}

var (
	boundRe  = regexp.MustCompile(`^\s*(<=|>=|==|!=|<|>)?\s*(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)\s*$`)
	statusRe = regexp.MustCompile(`^[1-5][0-9][0-9]$`)
)

func (a *Asserts) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("assert: want a mapping of report keys to bounds: %w", err)
	}
	known := reportValues(artifact.Report{})
	a.list = nil
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		if k == "status" {
			var codes map[string]json.RawMessage
			if err := json.Unmarshal(raw[k], &codes); err != nil {
				return fmt.Errorf("assert.status: want a mapping of HTTP status codes to bounds")
			}
			for _, code := range slices.Sorted(maps.Keys(codes)) {
				if !statusRe.MatchString(code) {
					return fmt.Errorf("assert.status.%s: not an HTTP status code", code)
				}
				c, err := parseConstraint("status."+code, codes[code])
				if err != nil {
					return err
				}
				a.list = append(a.list, c)
			}
			continue
		}
		if _, ok := known[k]; !ok {
			return fmt.Errorf("assert.%s: not a report key (keys: %s, status)", k, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		}
		c, err := parseConstraint(k, raw[k])
		if err != nil {
			return err
		}
		a.list = append(a.list, c)
	}
	return nil
}

func (a Asserts) MarshalJSON() ([]byte, error) {
	out := map[string]any{}
	status := map[string]string{}
	for _, c := range a.list {
		if code, ok := strings.CutPrefix(c.key, "status."); ok {
			status[code] = c.text
		} else {
			out[c.key] = c.text
		}
	}
	if len(status) > 0 {
		out["status"] = status
	}
	return json.Marshal(out)
}

func parseConstraint(key string, raw json.RawMessage) (constraint, error) {
	c := constraint{key: key}
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		c.text = strconv.FormatFloat(f, 'g', -1, 64)
		c.bounds = []bound{{"==", f}}
		return c, nil
	}
	if err := json.Unmarshal(raw, &c.text); err != nil {
		return c, fmt.Errorf("assert.%s: want a number or a bound such as \"<5\", got %s", key, raw)
	}
	for part := range strings.SplitSeq(c.text, "&") {
		m := boundRe.FindStringSubmatch(part)
		if m == nil {
			return c, fmt.Errorf("assert.%s: %q is not a bound (want a number or <, <=, >, >=, ==, != and a number, joined by &)", key, c.text)
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return c, fmt.Errorf("assert.%s: %q: %w", key, c.text, err)
		}
		op := m[1]
		if op == "" {
			op = "=="
		}
		c.bounds = append(c.bounds, bound{op, v})
	}
	return c, nil
}

func (b bound) holds(x float64) bool {
	switch b.op {
	case "<":
		return x < b.v
	case "<=":
		return x <= b.v
	case ">":
		return x > b.v
	case ">=":
		return x >= b.v
	case "!=":
		return x != b.v
	}
	return x == b.v
}

// Check lists each constraint the report does not satisfy, with the
// measured value: "p99_ms = 7.31, want <5".
func (a *Asserts) Check(r artifact.Report) []string {
	if a == nil {
		return nil
	}
	values := reportValues(r)
	answered := 0
	for _, n := range r.Status {
		answered += n
	}
	var failed []string
	for _, c := range a.list {
		// With no answer there is no latency: the report's zeros must not
		// pass for a fast server.
		if answered == 0 && strings.HasSuffix(c.key, "_ms") && c.key != "duration_ms" {
			failed = append(failed, fmt.Sprintf("%s: no request was answered, want %s", c.key, strings.TrimSpace(c.text)))
			continue
		}
		var x float64
		if code, ok := strings.CutPrefix(c.key, "status."); ok {
			x = float64(r.Status[code])
		} else {
			x = values[c.key]
		}
		for _, b := range c.bounds {
			if !b.holds(x) {
				failed = append(failed, fmt.Sprintf("%s = %s, want %s", c.key, strconv.FormatFloat(x, 'g', 6, 64), strings.TrimSpace(c.text)))
				break
			}
		}
	}
	return failed
}
